/// The files a sandboxed command looked for and did not find, read from the log of
/// `strace -f -qq -y -e trace=%file -e status=failed -o LOG` (strace 5.2 or later), which
/// kiln takes only when an isolated task failed (`Job`): a second run of the command in
/// the same sandbox, so a build that succeeds pays nothing for it.
///
/// Log lines look like (the pid first, from `-f` with `-o`; `-y` names the folder a
/// descriptor stands for, the process's working folder for `AT_FDCWD`):
///   `123   openat(AT_FDCWD</ws/src>, "../inc/b.h", O_RDONLY) = -1 ENOENT (No such file or directory)`
///   `123   access("/etc/ld.so.preload", R_OK) = -1 ENOENT (No such file or directory)`
/// Only `ENOENT` answers are kept: the path each names is the first string argument,
/// resolved against the folder of the descriptor before it (else `workingDirectory`).
package enum SandboxTrace {
  /// Absolute, normalised paths the log's failed lookups named, each once, in order.
  package static func missingPaths(in log: [UInt8], workingDirectory: String) -> [String] {
    var seen = Set<String>()
    var result: [String] = []
    for line in log.split(separator: UInt8(ascii: "\n")) where contains(line, " = -1 ENOENT") {
      guard let path = path(in: line, workingDirectory: workingDirectory), seen.insert(path).inserted else { continue }
      result.append(path)
    }
    return result
  }

  /// The absolute path one log line names, or nil when it names none.
  static func path(in line: ArraySlice<UInt8>, workingDirectory: String) -> String? {
    guard let open = line.firstIndex(of: UInt8(ascii: "(")),
          let quote = line[open...].firstIndex(of: UInt8(ascii: "\""))
    else { return nil }
    // `AT_FDCWD</folder>, "name"` or `3</folder>, "name"`: the folder between < and >.
    var base = workingDirectory
    let before = line[line.index(after: open)..<quote]
    if let lt = before.firstIndex(of: UInt8(ascii: "<")), let gt = before.lastIndex(of: UInt8(ascii: ">")), lt < gt {
      base = String(decoding: before[before.index(after: lt)..<gt], as: UTF8.self)
    }
    guard let name = unescaped(line[line.index(after: quote)...]), !name.isEmpty else { return nil }
    return Paths.normalize(name.hasPrefix("/") ? name : base + "/" + name)
  }

  /// A C string as strace prints it, up to its closing quote, without the escapes
  /// (`\"`, `\\`, `\n`, octal `\NNN`, hex `\xHH`).
  static func unescaped(_ text: ArraySlice<UInt8>) -> String? {
    var bytes: [UInt8] = []
    var i = text.startIndex
    while i < text.endIndex {
      let c = text[i]
      if c == UInt8(ascii: "\"") { return String(decoding: bytes, as: UTF8.self) }
      guard c == UInt8(ascii: "\\") else {
        bytes.append(c)
        i += 1
        continue
      }
      i += 1
      guard i < text.endIndex else { return nil }
      let e = text[i]
      switch e {
      case UInt8(ascii: "n"): bytes.append(10); i += 1
      case UInt8(ascii: "t"): bytes.append(9); i += 1
      case UInt8(ascii: "r"): bytes.append(13); i += 1
      case UInt8(ascii: "v"): bytes.append(11); i += 1
      case UInt8(ascii: "f"): bytes.append(12); i += 1
      case UInt8(ascii: "x"):
        var value = 0, digits = 0
        i += 1
        while digits < 2, i < text.endIndex, let d = hexValue(text[i]) { value = value * 16 + d; digits += 1; i += 1 }
        bytes.append(UInt8(value & 0xFF))
      case UInt8(ascii: "0")...UInt8(ascii: "7"):
        var value = 0, digits = 0
        while digits < 3, i < text.endIndex, text[i] >= UInt8(ascii: "0"), text[i] <= UInt8(ascii: "7") {
          value = value * 8 + Int(text[i] - UInt8(ascii: "0"))
          digits += 1
          i += 1
        }
        bytes.append(UInt8(value & 0xFF))
      default: bytes.append(e); i += 1
      }
    }
    return nil
  }

  private static func hexValue(_ c: UInt8) -> Int? {
    switch c {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): Int(c - UInt8(ascii: "0"))
    case UInt8(ascii: "a")...UInt8(ascii: "f"): Int(c - UInt8(ascii: "a")) + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): Int(c - UInt8(ascii: "A")) + 10
    default: nil
    }
  }

  private static func contains(_ line: ArraySlice<UInt8>, _ needle: String) -> Bool {
    let n = Array(needle.utf8)
    guard line.count >= n.count else { return false }
    var i = line.startIndex
    while i + n.count <= line.endIndex {
      if line[i..<i + n.count].elementsEqual(n) { return true }
      i += 1
    }
    return false
  }

  /// What the missing paths say about the task: the ones a declared input would have
  /// provided (inside the workspace `root`, relative, there on the host, neither
  /// declared nor kiln's) and the ones outside the workspace that the host has but the
  /// sandbox's policy left out. Paths the host lacks too were probes (the loader's
  /// search, PATH lookups) and say nothing.
  package static func undeclared(_ missing: [String], root: String, declared: Set<String>,
                                 exists: (String) -> Bool) -> (inside: [String], outside: [String]) {
    var inside: [String] = [], outside: [String] = []
    for path in missing {
      if let rel = Paths.relative(path, to: root) {
        guard !rel.isEmpty, !Paths.isReserved(rel), !declared.contains(rel), exists(path) else { continue }
        inside.append(rel)
      } else {
        let provided = Sandbox.isSystem(path) || ["/tmp", "/dev", "/proc"].contains { path == $0 || path.hasPrefix($0 + "/") }
        guard !provided, !declared.contains(path), exists(path) else { continue }
        outside.append(path)
      }
    }
    return (inside, outside)
  }
}
