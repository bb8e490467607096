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
      let length = validSequenceLength(bytes, at: i)
      if length > 0, bytes[i] >= 0x20, bytes[i] != 0x7F {
        result += String(decoding: bytes[i..<(i + length)], as: UTF8.self)
        i += length
      } else {
        let hex = Array("0123456789abcdef")
        result += "\\x" + String(hex[Int(bytes[i] >> 4)]) + String(hex[Int(bytes[i] & 0xF)])
        i += 1
      }
    }
    return result
  }

  /// The length of the well-formed UTF-8 sequence at `i` (Unicode table 3-7), 0 if none.
  private static func validSequenceLength(_ b: [UInt8], at i: Int) -> Int {
    func continuation(_ k: Int, _ range: ClosedRange<UInt8> = 0x80...0xBF) -> Bool {
      i + k < b.count && range.contains(b[i + k])
    }
    switch b[i] {
    case 0x00...0x7F: return 1
    case 0xC2...0xDF: return continuation(1) ? 2 : 0
    case 0xE0: return continuation(1, 0xA0...0xBF) && continuation(2) ? 3 : 0
    case 0xE1...0xEC, 0xEE...0xEF: return continuation(1) && continuation(2) ? 3 : 0
    case 0xED: return continuation(1, 0x80...0x9F) && continuation(2) ? 3 : 0
    case 0xF0: return continuation(1, 0x90...0xBF) && continuation(2) && continuation(3) ? 4 : 0
    case 0xF1...0xF3: return continuation(1) && continuation(2) && continuation(3) ? 4 : 0
    case 0xF4: return continuation(1, 0x80...0x8F) && continuation(2) && continuation(3) ? 4 : 0
    default: return 0
    }
  }

  /// Whether the name is well-formed UTF-8.
  package static func isValidUTF8(_ bytes: [UInt8]) -> Bool {
    var i = 0
    while i < bytes.count {
      let length = validSequenceLength(bytes, at: i)
      if length == 0 { return false }
      i += length
    }
    return true
  }
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
