/// Where each line of a text starts, as byte offsets in ascending order (the first line
/// after a byte-order mark, if any): the one place a parser turns an offset into a
/// line for its messages (YAML, build.ninja). An offset before the first start counts
/// as the first line.
package struct LineStarts: Sendable {
  package let offsets: [Int]

  package init(_ offsets: [Int]) {
    precondition(!offsets.isEmpty, "a text has a first line")
    self.offsets = offsets
  }

  /// The 0-based line holding byte `offset` (binary search).
  package func line(containing offset: Int) -> Int {
    var low = 0
    var high = offsets.count - 1
    while low < high {
      let middle = (low + high + 1) / 2
      if offsets[middle] <= offset { low = middle } else { high = middle - 1 }
    }
    return low
  }
}
