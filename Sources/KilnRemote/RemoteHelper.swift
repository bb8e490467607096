#if canImport(Glibc)
import Glibc
#endif

/// Where kiln finds its network helper, kiln-remote, in this order:
///
/// 1. `KILN_REMOTE_HELPER`, when set (used as given, even if it is not there);
/// 2. `kiln-remote` in the folder of the running executable (`/proc/self/exe`): the
///    build folder, or `$PREFIX/bin` after `make install`;
/// 3. `../libexec/kiln/kiln-remote` from that folder, for packagers who keep helpers
///    out of PATH.
package enum RemoteHelper {
  /// The helper's path, or `RemoteError.helperMissing` naming the places looked at.
  package static func locate(environment: [String: String], executable: String? = runningExecutable())
    -> Result<String, RemoteError> {
    if let given = environment["KILN_REMOTE_HELPER"], !given.isEmpty { return .success(given) }
    guard let executable, let slash = executable.lastIndex(of: "/") else {
      return .failure(.helperMissing(["KILN_REMOTE_HELPER (unset)", "the folder of kiln (/proc/self/exe unreadable)"]))
    }
    let folder = String(executable[..<slash])
    let candidates = [folder + "/kiln-remote", folder + "/../libexec/kiln/kiln-remote"]
    for candidate in candidates where access(candidate, X_OK) == 0 { return .success(candidate) }
    return .failure(.helperMissing(candidates))
  }

  /// The running executable's path, through /proc/self/exe.
  package static func runningExecutable() -> String? {
    var buffer = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    guard n > 0 else { return nil }
    return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }

  /// This process's environment, read when the helper is first needed.
  static func processEnvironment() -> [String: String] {
    var result: [String: String] = [:]
    var entry = environ
    while let pointer = entry.pointee {
      let text = String(cString: pointer)
      if let equals = text.firstIndex(of: "=") { result[String(text[..<equals])] = String(text[text.index(after: equals)...]) }
      entry += 1
    }
    return result
  }
}
