import KilnEngine
import KilnTestSupport
import Testing

/// A batch's output split among its items (`Job.attribute`): each line to the item whose
/// path it names, the longest when several do (of equal lengths, the first listed), a
/// line naming none to the first item. Past `directSearchLimit` items an automaton
/// answers (`LongestNeedle`); it must answer as the search of every item does.
@Suite struct BatchAttributionTests {
  /// The rule itself, written out plainly: the reference both ways are held to.
  static func reference(_ output: [UInt8], _ items: [String]) -> [[UInt8]] {
    var result = [[UInt8]](repeating: [], count: items.count)
    var start = 0
    while start < output.count {
      var end = start
      while end < output.count, output[end] != 10 { end += 1 }
      if end < output.count { end += 1 }
      let line = String(decoding: output[start..<end], as: UTF8.self)
      var owner = 0, longest = 0
      for (k, item) in items.enumerated() where item.utf8.count > longest && !item.isEmpty && line.contains(item) {
        owner = k
        longest = item.utf8.count
      }
      result[owner] += output[start..<end]
      start = end
    }
    return result
  }

  @Test func theLongestPathNamedWinsAndTiesGoToTheFirst() {
    let needles = ["a.py", "src/a.py", "src/a.py.bak", "src/a.py", "b.py"].map { Array($0.utf8) }
    let automaton = LongestNeedle(needles)
    func owner(_ text: String) -> Int? { automaton.longest(in: Array(text.utf8)[...]) }
    #expect(owner("error in src/a.py:3") == 1, "src/a.py over a.py, and its first listing")
    #expect(owner("see src/a.py.bak") == 2)
    #expect(owner("a.py and b.py") == 0, "equal lengths: the first listed")
    #expect(owner("nothing here") == nil)
    #expect(owner("xsrc/a.pyx") == 1)
    // A needle inside a longer one's beginning: found through the automaton's fallback.
    let nested = LongestNeedle([Array("b.py".utf8), Array("xb.pyz".utf8)])
    #expect(nested.longest(in: Array("see xb.py here".utf8)[...]) == 0)
    #expect(nested.longest(in: Array("see xb.pyz here".utf8)[...]) == 1)
  }

  @Test func manyItemsAreSplitAsTheSearchOfEachSplitsThem() {
    var rng = SplitMix64(seed: 20261202)
    for round in 0..<20 {
      let count = Job.directSearchLimit + 1 + Int(rng.next() % 300)
      var items: [String] = []
      for i in 0..<count {
        // Nested and repeated names: prefixes and suffixes of one another.
        let folder = ["src", "src/sub", "sub", "lib", "s"][Int(rng.next() % 5)]
        let name = ["a", "ab", "b", "a_b", "x\(i % 37)"][Int(rng.next() % 5)]
        items.append("\(folder)/\(name)\(rng.next() % 3 == 0 ? ".py.bak" : ".py")")
      }
      var text = ""
      for _ in 0..<(50 + Int(rng.next() % 200)) {
        switch rng.next() % 4 {
        case 0: text += "nothing to see\n"
        case 1: text += "\(items[Int(rng.next() % UInt64(count))]):1: error\n"
        case 2: text += "both \(items[Int(rng.next() % UInt64(count))]) and \(items[Int(rng.next() % UInt64(count))])\n"
        default: text += "File \"\(items[Int(rng.next() % UInt64(count))])\", line 2"
        }
      }
      let output = Array(text.utf8)
      let split = Job.attribute(output, to: items)
      #expect(split == Self.reference(output, items), "round \(round)")
      #expect(split.reduce(0) { $0 + $1.count } == output.count, "every byte once")
    }
  }

  /// Under the limit the same rule holds (the direct search).
  @Test func fewItemsToo() {
    let items = ["src/a.py", "src/b.py", "a.py"]
    let output = Array("src/b.py:1: bad\nwarning: a.py\nplain\nsrc/a.py src/b.py\n".utf8)
    #expect(Job.attribute(output, to: items) == Self.reference(output, items))
  }
}
