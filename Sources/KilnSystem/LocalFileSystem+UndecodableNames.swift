#if canImport(Glibc)
import Glibc
#endif

extension LocalFileSystem {
  /// Reads the folder's entries as bytes: `contents(ofDirectory:)` turns a name that
  /// is not UTF-8 into text with U+FFFD in it, which names no file on disk.
  package func undecodableNames(inDirectory path: String) -> [UndecodableName] {
    guard let dir = opendir(path) else { return [] }
    defer { closedir(dir) }
    var result: [UndecodableName] = []
    while let entry = readdir(dir) {
      let name: [UInt8] = withUnsafePointer(to: entry.pointee.d_name) {
        $0.withMemoryRebound(to: UInt8.self, capacity: 256) { name in
          var count = 0
          while count < 256, name[count] != 0 { count += 1 }
          return Array(UnsafeBufferPointer(start: name, count: count))
        }
      }
      guard !UndecodableName.isValidUTF8(name) else { continue }
      var info = Glibc.stat()
      let full = Array(path.utf8) + [UInt8(ascii: "/")] + name + [0]
      let isDirectory = full.withUnsafeBufferPointer { buffer in
        buffer.withMemoryRebound(to: CChar.self) { Glibc.lstat($0.baseAddress!, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR }
      }
      result.append(UndecodableName(bytes: name, isDirectory: isDirectory))
    }
    return result
  }
}
