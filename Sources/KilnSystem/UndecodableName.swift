/// A directory entry whose name is not valid UTF-8 (`x-\xff.txt`). kiln's paths are
/// text, so such a file can be neither opened nor hashed by its path; a glob that would
/// match it refuses the build instead of silently leaving the file out (a stale output
/// that never rebuilds). Only names are checked this way: path text in a build file is
/// UTF-8 by construction.
package struct UndecodableName: Sendable, Hashable {
  /// The raw name; in a `FileListing`, the raw path relative to the folder listed.
  package var bytes: [UInt8]
  package var isDirectory: Bool

  package init(bytes: [UInt8], isDirectory: Bool) {
    self.bytes = bytes
    self.isDirectory = isDirectory
  }

  /// The name for a message: valid UTF-8 as it is; any other byte, and control
  /// characters (a name may hold a line break), as `\xHH`.
  package var escaped: String { Self.escape(bytes) }

  package static func escape(_ bytes: [UInt8]) -> String {
    var result = ""
    var i = 0
    while i < bytes.count {
      // The shortest run from here the standard library accepts as one scalar.
      let scalar = (1...4).lazy.filter { i + $0 <= bytes.count }.compactMap { length in
        String(validating: bytes[i..<(i + length)], as: UTF8.self).map { (length, $0) }
      }.first
      if let (length, text) = scalar, let value = text.unicodeScalars.first?.value, value >= 0x20, value != 0x7F {
        result += text
        i += length
      } else {
        let hex = Array("0123456789abcdef")
        result += "\\x" + String(hex[Int(bytes[i] >> 4)]) + String(hex[Int(bytes[i] & 0xF)])
        i += 1
      }
    }
    return result
  }

  package static func isValidUTF8(_ bytes: [UInt8]) -> Bool { String(validating: bytes, as: UTF8.self) != nil }
}

/// A folder walk: the files (and symlinks) found, and the entries whose names are not
/// UTF-8, which the walk could neither list as text nor enter.
package struct FileListing: Sendable {
  /// Relative to the folder walked, sorted.
  package var files: [String]
  /// Relative to the folder walked, as bytes.
  package var undecodable: [UndecodableName]

  package init(files: [String] = [], undecodable: [UndecodableName] = []) {
    self.files = files
    self.undecodable = undecodable
  }
}

extension FileListing {
  /// The first entry whose name is not UTF-8 that `glob` matches (a file) or could
  /// match inside (a folder): what a glob must refuse rather than silently leave out.
  package func firstUndecodable(matching glob: Glob) -> UndecodableName? {
    undecodable.first { $0.isDirectory ? glob.mayMatchInside(bytes: $0.bytes) : glob.matches(bytes: $0.bytes) }
  }
}
