/// What a build of a `NinjaFuzzManifest` needs, as the test computes it from the
/// manifest's own lists (never from kiln's parse of the text).
extension NinjaFuzzManifest {
  /// A command-line target as ninja reads it (the test writes `./x` or `x`).
  static func canonical(_ target: String) -> String {
    target.hasPrefix("./") ? String(target.dropFirst(2)) : target
  }

  /// Indices of the edges a build of `targets` needs (the defaults when empty, else
  /// every edge): through explicit, implicit and order-only inputs and validations,
  /// phony edges walked through.
  func wanted(_ targets: [String]) -> Set<Int> {
    let producer = producers
    let phony = Dictionary(phonies.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
    var result: Set<Int> = []
    var seenPhonies: Set<String> = []
    func visit(_ path: String) {
      if let e = producer[path] {
        guard result.insert(e).inserted else { return }
        let edge = edges[e]
        for input in edge.inputs.all { visit(input) }
      } else if let p = phony[path], seenPhonies.insert(path).inserted {
        for input in p.inputs.all { visit(input) }
      }
    }
    let roots = !targets.isEmpty ? targets : !defaults.isEmpty ? defaults : edges.flatMap(\.allOutputs)
    for root in roots { visit(root) }
    return result
  }

  /// The files whose contents are in edge `e`'s key, in order: its explicit and
  /// implicit inputs, a phony standing for the inputs behind it but not its order-only ones (a phony with
  /// no inputs for its own file), then the files its depfile names.
  func keyFiles(_ e: Int) -> [String] {
    var result: [String] = []
    var seen: Set<String> = []
    func add(_ path: String) {
      if let p = phonies.first(where: { $0.name == path }), !aliasedSources.contains(path) {
        for input in p.inputs.keyed { add(input) }
      } else if seen.insert(path).inserted {
        result.append(path)
      }
    }
    for input in edges[e].inputs.keyed { add(input) }
    return result + edges[e].headers
  }

  /// The files that exist once what edge `e` waits for is built: its inputs of every
  /// kind, phony edges walked through (a phony with no inputs names its own file,
  /// when it is a source).
  func prerequisites(of e: Int) -> [String] {
    var result: [String] = []
    var seen: Set<String> = []
    func add(_ path: String) {
      guard seen.insert(path).inserted else { return }
      if let p = phonies.first(where: { $0.name == path }), !aliasedSources.contains(path) {
        for input in p.inputs.all { add(input) }
      } else {
        result.append(path)
      }
    }
    for input in edges[e].inputs.explicit + edges[e].inputs.implicit + edges[e].inputs.orderOnly { add(input) }
    return result
  }

  /// The edges whose command fails when `source` holds the line `BROKEN`.
  func checkers(reading source: String) -> [Int] {
    edges.indices.filter { edges[$0].rule.checksInputs && edges[$0].inputs.explicit.contains(source) }
  }

  /// Whether edge `e` depends on the `FORCE` phony, and so runs every time.
  func dependsOnForce(_ e: Int) -> Bool {
    guard let force else { return false }
    func behind(_ path: String) -> Bool {
      if path == force { return true }
      guard let p = phonies.first(where: { $0.name == path }) else { return false }
      return p.inputs.keyed.contains(where: behind)
    }
    return edges[e].inputs.keyed.contains(where: behind)
  }

  /// The edge that writes each output.
  var producers: [String: Int] {
    var result: [String: Int] = [:]
    for (e, edge) in edges.enumerated() {
      for output in edge.allOutputs { result[output] = e }
    }
    return result
  }

  /// Gives edge `e` (one with a `stamp`) another stamp in the manifest text, so that
  /// its command changes, and says which manifest file changed.
  mutating func restamp(_ e: Int, version: Int) -> String {
    let binding = "\(edges[e].stampVariable) = "
    let old = edges[e].stamp!
    edges[e].stamp = "s\(version)-e\(e)"
    // The line ends as its file's lines do (`\r\n` in a Windows-style file).
    for file in files.keys.sorted() {
      for end in ["\n", "\r\n"] where files[file]!.contains(binding + old + end) {
        files[file] = files[file]!.replacingOccurrences(of: binding + old + end, with: binding + edges[e].stamp! + end)
        return file
      }
    }
    preconditionFailure("no binding \(binding)\(old) in the manifest")
  }
}
