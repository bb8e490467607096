import KilnCore
import KilnHash

/// The preprocessor's output read for preprocessor mode: its digest with the
/// checkout's folders written out of the line markers (so another worktree's output
/// digests alike), and the files its line markers name: every header the source
/// included, for the direct-mode entry (ccache reads the same markers).
package struct PreprocessedText {
  package var digest: Digest
  /// The files named by `# N "FILE"` markers, in first-seen order, without
  /// `<built-in>`-style names, gcc's working-directory marker (`"DIR//"`) and the
  /// source itself.
  package var includes: [String]

  package init(_ bytes: [UInt8], source: String, roots: KeyRoots) {
    let hasher = Hasher()
    var includes: [String] = []
    var seen: Set<String> = [source]
    bytes.withUnsafeBufferPointer { buf in
      let n = buf.count
      var start = 0  // first byte not yet hashed
      var line = 0
      while line < n {
        var end = line
        while end < n, buf[end] != 0x0A { end += 1 }
        // `# 12 "path" 1 3` (gcc, clang) or `#line 12 "path"`.
        if buf[line] == UInt8(ascii: "#"), let (open, close, path) = Self.marker(buf, line, end) {
          hasher.update(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: buf[start..<open])))
          let normalized = roots.normalize(path)
          hasher.update(normalized)
          start = close
          // `# 1 "/build/dir//"`: gcc's working-directory marker (-g), a folder.
          if !path.hasPrefix("<"), !path.hasSuffix("//"), seen.insert(path).inserted { includes.append(path) }
        }
        line = end + 1
      }
      if start < n { hasher.update(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: buf[start..<n]))) }
    }
    digest = hasher.finalize()
    self.includes = includes
  }

  /// The quoted file name of a line marker on `buf[from..<to]`: where its bytes start
  /// and end (the quotes excluded) and its unescaped text; nil for any other line.
  static func marker(_ buf: UnsafeBufferPointer<UInt8>, _ from: Int, _ to: Int) -> (Int, Int, String)? {
    var i = from + 1
    if i + 4 <= to, buf[i] == UInt8(ascii: "l"), buf[i + 1] == UInt8(ascii: "i"), buf[i + 2] == UInt8(ascii: "n"),
       buf[i + 3] == UInt8(ascii: "e") {
      i += 4
    }
    guard i < to, buf[i] == 0x20 else { return nil }
    while i < to, buf[i] == 0x20 { i += 1 }
    let digits = i
    while i < to, buf[i] >= UInt8(ascii: "0"), buf[i] <= UInt8(ascii: "9") { i += 1 }
    guard i > digits, i + 1 < to, buf[i] == 0x20, buf[i + 1] == UInt8(ascii: "\"") else { return nil }
    let open = i + 2
    var j = open
    var text: [UInt8] = []
    while j < to, buf[j] != UInt8(ascii: "\"") {
      if buf[j] == UInt8(ascii: "\\"), j + 1 < to {
        j += 1
      }
      text.append(buf[j])
      j += 1
    }
    guard j < to else { return nil }
    return (open, j, String(decoding: text, as: UTF8.self))
  }
}
