#if canImport(Glibc)
import Glibc
#endif

/// Pure functions on slash-separated paths (no I/O). Workspace paths are relative,
/// normalised (no `.`, no `..`, no double or trailing slash).
package enum Paths {
  /// By bytes, copied once into a string made at its size: the snapshot check joins
  /// the root with every path it stats, and `hasPrefix`, `hasSuffix` and two `+` cost
  /// some 1,100 instructions a join (`+=` into a reserved string, 1,500).
  package static func join(_ base: String, _ rel: String) -> String {
    let slash = UInt8(ascii: "/")
    guard let first = rel.utf8.first else { return base }
    if first == slash || base.isEmpty { return rel }
    var base = base, rel = rel
    return base.withUTF8 { b in
      rel.withUTF8 { r in
        let between = b.last == slash ? 0 : 1
        return String(unsafeUninitializedCapacity: b.count + between + r.count) { out in
          let raw = UnsafeMutableRawBufferPointer(out)
          raw.copyMemory(from: UnsafeRawBufferPointer(b))
          if between == 1 { out[b.count] = slash }
          UnsafeMutableRawBufferPointer(rebasing: raw[(b.count + between)...]).copyMemory(from: UnsafeRawBufferPointer(r))
          return b.count + between + r.count
        }
      }
    }
  }

  /// Whether every byte of `text` is ASCII: then each byte is a Character, and a scan
  /// of the bytes finds what a scan of the Characters finds, at a tenth of the cost
  /// (Character iteration checks grapheme breaks; `parent` of a 30-byte path cost
  /// 4,600 instructions, called for every output and input at expansion).
  @inline(__always)
  package static func isASCII(_ text: String) -> Bool { text.utf8.allSatisfy { $0 < 0x80 } }

  package static func parent(_ path: String) -> String {
    if isASCII(path) {
      guard let slash = path.utf8.lastIndex(of: UInt8(ascii: "/")) else { return "" }
      if slash == path.startIndex { return "/" }
      return String(path[..<slash])
    }
    guard let slash = path.lastIndex(of: "/") else { return "" }
    if slash == path.startIndex { return "/" }
    return String(path[..<slash])
  }

  package static func fileName(_ path: String) -> String {
    if isASCII(path) {
      guard let slash = path.utf8.lastIndex(of: UInt8(ascii: "/")) else { return path }
      return String(path[path.utf8.index(after: slash)...])
    }
    guard let slash = path.lastIndex(of: "/") else { return path }
    return String(path[path.index(after: slash)...])
  }

  /// File name without its last extension (`a.tar.gz` -> `a.tar`).
  package static func stem(_ path: String) -> String {
    let name = fileName(path)
    if isASCII(name) {
      guard let dot = name.utf8.lastIndex(of: UInt8(ascii: ".")), dot != name.startIndex else { return name }
      return String(name[..<dot])
    }
    guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return name }
    return String(name[..<dot])
  }

  /// Resolves `.` and `..`; nil when `..` climbs above the start of a relative path.
  package static func normalize(_ path: String) -> String? {
    // Most paths are normal already (every header a depfile names, thousands per cold
    // build): one pass over the bytes instead of splitting into characters.
    if isNormal(path) { return path }
    let absolute = path.hasPrefix("/")
    var parts: [Substring] = []
    for part in path.split(separator: "/", omittingEmptySubsequences: true) {
      if part == "." { continue }
      if part == ".." {
        if parts.isEmpty { if absolute { continue } else { return nil } }
        parts.removeLast()
        continue
      }
      parts.append(part)
    }
    let joined = parts.joined(separator: "/")
    return absolute ? "/" + joined : joined
  }

  /// Whether `normalize` would return `path` as it is: no empty, `.` or `..`
  /// component, and no `/` at the end (but the root's).
  private static func isNormal(_ path: String) -> Bool {
    var bytes = path.utf8[...]
    if bytes.first == UInt8(ascii: "/") {
      bytes = bytes.dropFirst()
      if bytes.isEmpty { return true }
    }
    if bytes.isEmpty { return true }
    var length = 0
    var dots = 0
    for byte in bytes {
      if byte == UInt8(ascii: "/") {
        if length == 0 || (dots == length && length <= 2) { return false }
        length = 0
        dots = 0
      } else {
        length += 1
        if byte == UInt8(ascii: ".") { dots += 1 }
      }
    }
    return length != 0 && !(dots == length && length <= 2)
  }

  /// `path` relative to `root` when it lies inside it, else nil.
  package static func relative(_ path: String, to root: String) -> String? {
    if path == root { return "" }
    // Compared as bytes, with no `root + "/"` made: this runs for every path a graph
    // cache or an expansion looked at.
    let p = path.utf8, r = root.utf8
    let rootCount = r.last == UInt8(ascii: "/") ? r.count - 1 : r.count
    guard p.count > rootCount else { return nil }
    // Both contiguous (native strings): one memcmp, and the rest copied once.
    var contiguous = false
    var found: String?
    _ = p.withContiguousStorageIfAvailable { pb in
      r.withContiguousStorageIfAvailable { rb in
        contiguous = true
        guard pb[rootCount] == UInt8(ascii: "/"),
              rootCount == 0 || memcmp(pb.baseAddress!, rb.baseAddress!, rootCount) == 0
        else { return }
        found = String(decoding: UnsafeBufferPointer(rebasing: pb[(rootCount + 1)...]), as: UTF8.self)
      }
    }
    if contiguous { return found }
    guard p.starts(with: r.prefix(rootCount)) else { return nil }
    let slash = p.index(p.startIndex, offsetBy: rootCount)
    guard p[slash] == UInt8(ascii: "/") else { return nil }
    return String(path[p.index(after: slash)...])
  }

  /// Whether `path` is a plain workspace-relative path: not empty, not absolute, no
  /// empty, `.` or `..` component, no NUL. Anything read from the cache, a record or a
  /// remote names a file only if it passes this (and then only inside the checkout).
  package static func isPlainRelative(_ path: String) -> Bool {
    guard !path.isEmpty, !path.hasPrefix("/"), !path.utf8.contains(0) else { return false }
    if isASCII(path) {
      for part in path.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false) {
        if part.isEmpty || part.elementsEqual(".".utf8) || part.elementsEqual("..".utf8) { return false }
      }
      return true
    }
    for part in path.split(separator: "/", omittingEmptySubsequences: false) {
      if part.isEmpty || part == "." || part == ".." { return false }
    }
    return true
  }

  /// Where a symlink at workspace path `link` with target text `target` points,
  /// as a workspace path; nil when the target is absolute or climbs out of the
  /// workspace (such a link is never stored nor restored).
  package static func symlinkTarget(_ target: String, of link: String) -> String? {
    guard !target.isEmpty, !target.hasPrefix("/"), !target.utf8.contains(0) else { return nil }
    guard let resolved = normalize(join(parent(link), target)) else { return nil }
    return resolved
  }

  /// What kiln's temporary files carry in their names (`out.o.kiln-tmp-PID-N`): written
  /// beside their destination and renamed over it.
  package static let temporaryMarker = ".kiln-tmp-"

  /// Whether a file name is one of kiln's temporary files: never matched by a glob (a
  /// build killed between write and rename may leave one; the next build removes it).
  package static func isTemporary(_ name: String) -> Bool {
    // Every Character of the marker is one ASCII byte with no other canonically
    // equivalent spelling, so a name that holds it as Characters holds its bytes: most
    // names are answered by the byte search (the Character search cost 21,000
    // instructions a file listed).
    guard name.utf8.count >= temporaryMarker.utf8.count else { return false }
    let bytes = Array(name.utf8), marker = Array(temporaryMarker.utf8)
    var found = false
    var i = 0
    while i + marker.count <= bytes.count {
      if bytes[i] == marker[0], Array(bytes[i..<i + marker.count]) == marker {
        found = true
        break
      }
      i += 1
    }
    return found && name.contains(temporaryMarker)
  }

  /// `.kiln/` and `.git/` belong to kiln and git: never matched by globs nor written as outputs.
  package static func isReserved(_ path: String) -> Bool {
    path == ".kiln" || path == ".git" || path.hasPrefix(".kiln/") || path.hasPrefix(".git/")
  }

  /// Shell-quotes a word when it needs it (POSIX single quotes).
  package static func shellQuote(_ word: String) -> String {
    if word.isEmpty { return "''" }
    let safe = word.utf8.allSatisfy { c in
      (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
        || c == UInt8(ascii: "/") || c == UInt8(ascii: ".") || c == UInt8(ascii: "_")
        || c == UInt8(ascii: "-") || c == UInt8(ascii: "+") || c == UInt8(ascii: ",")
        || c == UInt8(ascii: ":") || c == UInt8(ascii: "@") || c == UInt8(ascii: "%")
    }
    if safe { return word }
    return "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
  }
}

extension String {
  /// Plain substring replacement without Foundation.
  package func replacingOccurrences(of target: String, with replacement: String) -> String {
    guard !target.isEmpty, self.contains(target) else { return self }
    var result = ""
    var rest = self[...]
    while let range = rest.firstRange(of: target) {
      result += rest[..<range.lowerBound]
      result += replacement
      rest = rest[range.upperBound...]
    }
    result += rest
    return result
  }
}
