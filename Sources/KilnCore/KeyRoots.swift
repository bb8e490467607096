/// The absolute folders written out of action keys, so that the same step in another
/// checkout, or in a build folder at another path, has the same key (ccache's
/// `base_dir`, but found by kiln). The workspace root is always the first; `kiln ninja`
/// adds the checkout its build folder lies in (or CMake's or Meson's source folder), as
/// CMake writes absolute paths into commands (`-I/home/u/proj/include`) and depfiles.
///
/// `normalize` replaces each folder, where it stands as a whole path prefix, by a
/// token naming its role (the first folder, the second, ...), never by anything that
/// depends on where it is; `resolve` undoes it in this checkout. Two texts normalise
/// alike only when they differ in nothing but these folders: a literal `\u{1}` is
/// escaped first, so no text can pass for a token.
///
/// The guard that goes with it is the engine's: an output that holds one of these
/// folders' paths is restored only where they are the same (`identity`).
package struct KeyRoots: Sendable, Hashable {
  /// Absolute, normalised, no trailing slash, in role order (the workspace root first).
  package let folders: [String]
  /// Indexes into `folders`, longest first: a folder inside another is replaced first.
  private let order: [Int]
  /// `folders` as bytes, and `needles` as bytes (what an output is searched for).
  private let folderBytes: [[UInt8]]
  package let needleBytes: [[UInt8]]

  package init(_ folders: [String]) {
    var kept: [String] = []
    for folder in folders {
      var f = folder
      while f.count > 1, f.hasSuffix("/") { f.removeLast() }
      // "/" would stand for every absolute path; a folder twice is one role.
      guard f.hasPrefix("/"), f != "/", !kept.contains(f) else { continue }
      kept.append(f)
    }
    self.folders = kept
    order = kept.indices.sorted { kept[$0].utf8.count > kept[$1].utf8.count }
    folderBytes = kept.map { Array($0.utf8) }
    needleBytes = kept.filter { f in !kept.contains { $0 != f && f.hasPrefix($0 + "/") } }.map { Array($0.utf8) }
  }

  private static let mark: UInt8 = 0x01

  /// The token byte of the folder at `index` (`A`, `B`, ...).
  private static func tag(_ index: Int) -> UInt8 { 0x41 + UInt8(index) }

  /// Whether `byte` may continue a file name, so that `/a/b` in `/a/bc` is no prefix.
  private static func continuesName(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
         UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"),
         UInt8(ascii: "+"), UInt8(ascii: "~"), UInt8(ascii: "@"), UInt8(ascii: "%"), UInt8(ascii: ","), 0x80...0xFF:
      true
    default: false
    }
  }

  /// `text` with every whole-prefix occurrence of a folder replaced by its token.
  package func normalize(_ text: String) -> String {
    guard !folders.isEmpty, needsRewrite(text) else { return text }
    let bytes = Array(text.utf8)
    let needles = folderBytes
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count)
    var i = 0
    var changed = false
    scan: while i < bytes.count {
      let b = bytes[i]
      if b == Self.mark {
        out.append(Self.mark)
        out.append(Self.mark)
        i += 1
        changed = true
        continue
      }
      if b == UInt8(ascii: "/") {
        for f in order {
          let needle = needles[f]
          let end = i + needle.count
          guard end <= bytes.count, bytes[i..<end].elementsEqual(needle),
                end == bytes.count || !Self.continuesName(bytes[end]) else { continue }
          out.append(Self.mark)
          out.append(Self.tag(f))
          i = end
          changed = true
          continue scan
        }
      }
      out.append(b)
      i += 1
    }
    return changed ? String(decoding: out, as: UTF8.self) : text
  }

  /// Whether `normalize` changes `text`: a token mark, or a folder at a whole-path
  /// boundary. One pass without allocating: most paths and commands hold neither.
  private func needsRewrite(_ text: String) -> Bool {
    var copy = text
    return copy.withUTF8 { bytes in
      var i = 0
      while i < bytes.count {
        let b = bytes[i]
        if b == Self.mark { return true }
        if b == UInt8(ascii: "/") {
          for needle in folderBytes {
            let end = i + needle.count
            if end <= bytes.count, bytes[i..<end].elementsEqual(needle),
               end == bytes.count || !Self.continuesName(bytes[end]) { return true }
          }
        }
        i += 1
      }
      return false
    }
  }

  /// `text` as `normalize` wrote it, with this checkout's folders put back. A token for
  /// a role this checkout does not have stays as it is (it names no file here).
  package func resolve(_ text: String) -> String {
    let bytes = Array(text.utf8)
    guard bytes.contains(Self.mark) else { return text }
    var out: [UInt8] = []
    var i = 0
    while i < bytes.count {
      let b = bytes[i]
      if b == Self.mark, i + 1 < bytes.count {
        let next = bytes[i + 1]
        if next == Self.mark {
          out.append(Self.mark)
        } else if next >= Self.tag(0), Int(next - Self.tag(0)) < folders.count {
          out += folders[Int(next - Self.tag(0))].utf8
        } else {
          out += [b, next]
        }
        i += 2
        continue
      }
      out.append(b)
      i += 1
    }
    return String(decoding: out, as: UTF8.self)
  }

  /// The folders to search an output for: those not inside another (a path inside one
  /// holds it).
  package var needles: [String] { needleBytes.map { String(decoding: $0, as: UTF8.self) } }

  /// What a path-dependent cache entry records: restored only where this is the same.
  package var identity: String { folders.joined(separator: ", ") }
}
