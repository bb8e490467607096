import KilnNinja
import Testing

/// ninja's path canonicalisation, and its fast path for paths already canonical.
@Suite struct NinjaPathTests {
  @Test func knownPaths() {
    let cases = ["a/b": "a/b", "./a": "a", "a/./b": "a/b", "a//b": "a/b", "a/": "a", "a/../b": "b",
                 "../a": "../a", "../../a": "../../a", "a/../../b": "../b", "/x/../y": "/y", ".": ".", "": ".",
                 "/": "/", "/a/b": "/a/b", "..": "..", "a/..": "."]
    for (path, expected) in cases {
      #expect(NinjaPath.canonical(path) == expected, "\(path)")
      #expect(NinjaPath.collapsed(path) == expected, "\(path)")
    }
  }

  @Test func theFastPathAgreesWithTheSlowOneOnRandomPaths() {
    var rng = SystemRandomNumberGenerator()
    let pieces = ["a", "bc", ".", "..", "", "/", "x.y", "...", ".h"]
    for _ in 0..<5_000 {
      let path = (0..<Int.random(in: 0...6, using: &rng)).map { _ in pieces.randomElement(using: &rng)! }.joined()
      if NinjaPath.isCanonical(path) {
        #expect(NinjaPath.collapsed(path) == path, "\(path.debugDescription) is said canonical")
      }
      #expect(NinjaPath.canonical(path) == NinjaPath.collapsed(path), "\(path.debugDescription)")
    }
  }
}
