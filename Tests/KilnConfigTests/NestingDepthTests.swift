import KilnConfig
import Testing

/// Lists and mappings nest at most `YAMLParser.maxDepth` (256) levels; one more is
/// `nesting too deep` at the opening that crosses the limit, however deep the file goes
/// (issue 12: 30,000 `[` or 100,000 `{a: ` or `- ` used to end in SIGSEGV).
@Suite struct NestingDepthTests {
  static let limit = YAMLParser.maxDepth

  /// `levels` nested flow lists: `[[[...]]]`.
  static func flowLists(_ levels: Int) -> String {
    String(repeating: "[", count: levels) + String(repeating: "]", count: levels) + "\n"
  }

  /// `levels` nested flow mappings: `{a: {a: ... b}}`.
  static func flowMappings(_ levels: Int) -> String {
    String(repeating: "{a: ", count: levels) + "b" + String(repeating: "}", count: levels) + "\n"
  }

  /// `levels` nested block lists on one line: `- - - x`.
  static func blockLists(_ levels: Int) -> String {
    String(repeating: "- ", count: levels) + "x\n"
  }

  /// `levels` nested block mappings by indentation: `a:\n a:\n  a: x`.
  static func blockMappings(_ levels: Int) -> String {
    (0..<levels).map { String(repeating: " ", count: $0) + ($0 == levels - 1 ? "a: x" : "a:") }.joined(separator: "\n") + "\n"
  }

  /// How many collections the parsed tree nests (counted without recursion).
  static func depth(_ node: YAMLNode) -> Int {
    var deepest = 0
    var pending: [(YAMLNode, Int)] = [(node, 0)]
    while let (next, level) = pending.popLast() {
      switch next {
      case .scalar: break
      case .sequence(let items, _):
        deepest = max(deepest, level + 1)
        pending += items.map { ($0, level + 1) }
      case .mapping(let pairs, _):
        deepest = max(deepest, level + 1)
        pending += pairs.map { ($0.value, level + 1) }
      }
    }
    return deepest
  }

  static func message(_ yaml: String) -> String? {
    do {
      _ = try YAMLParser.parse(yaml)
      return nil
    } catch {
      return "\(error.mark.line):\(error.mark.column): \(error.message)"
    }
  }

  @Test func exactlyTheLimitParses() throws {
    for yaml in [Self.flowLists(Self.limit), Self.flowMappings(Self.limit), Self.blockLists(Self.limit), Self.blockMappings(Self.limit)] {
      let node = try #require(try YAMLParser.parse(yaml))
      #expect(Self.depth(node) == Self.limit, "\(yaml.prefix(20))...")
    }
  }

  @Test func oneLevelMoreIsNestingTooDeepWhereThatLevelOpens() {
    let n = Self.limit + 1
    // The (limit + 1)th opening: column 257 for `[`, 4 * 256 + 1 for `{a: `, 2 * 256 + 1 for `- `.
    #expect(Self.message(Self.flowLists(n)) == "1:\(n): nesting too deep")
    #expect(Self.message(Self.flowMappings(n)) == "1:\(4 * Self.limit + 1): nesting too deep")
    #expect(Self.message(Self.blockLists(n)) == "1:\(2 * Self.limit + 1): nesting too deep")
    #expect(Self.message(Self.blockMappings(n)) == "\(n):\(n): nesting too deep")
  }

  @Test func hostileDepthsFailWithOneLineInsteadOfCrashing() {
    #expect(Self.message(String(repeating: "[", count: 30_000)) == "1:\(Self.limit + 1): nesting too deep")
    #expect(Self.message(Self.flowMappings(100_000)) == "1:\(4 * Self.limit + 1): nesting too deep")
    #expect(Self.message(Self.blockLists(100_000)) == "1:\(2 * Self.limit + 1): nesting too deep")
    #expect(Self.message(String(repeating: "[{a: ", count: 50_000)) == "1:\(5 * (Self.limit / 2) + 1): nesting too deep")
    #expect(Self.message("tasks:\n  t:\n    run: x\n    inputs: " + String(repeating: "[", count: 30_000) + "\n")
      == "4:\(13 + Self.limit - 3): nesting too deep")
  }
}
