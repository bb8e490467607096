import Foundation
import KilnTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Every derived file under `.kiln/` besides SQLite's own (the graph cache, the
/// snapshot, the pending history) is self-verifying (issue 12, item 7): random bytes
/// flipped, or the file cut short, must make a build slower, never wrong. One flipped
/// byte in `.kiln/state.graph` used to make kiln run `yes pacK` where kiln.yml says
/// `yes pack`. Randomised and bounded; the seed is in every failure.
///
/// Each command logs its own text (`.runs/<task>`), so a command that is not kiln.yml's
/// shows as a line kiln.yml cannot produce; every output must equal what kiln.yml's
/// commands compute from the sources.
@Suite struct DerivedStateDamageTests {
  static let seeds: [UInt64] = [7, 8, 9]
  static let rounds = 12
  static let buildFile = """
    tasks:
      upper:
        foreach: "src/*.txt"
        outputs: out/{stem}.txt
        run: echo "upper {in} {out}" >> .runs/upper && tr a-z A-Z < {in} > {out}
      all:
        inputs: "out/*.txt"
        outputs: all.txt
        run: echo "all {in}" >> .runs/all && cat {in} > {out}
    """
  static let names = ["a", "b", "c", "d"]
  /// Derived files kiln keeps in `.kiln/`, other than the SQLite database and its WAL
  /// and index (item 17 covers those).
  static let derived = ["state.graph", "state.snapshot", "state.db-pending"]

  /// The lines kiln.yml's commands can log, given the sources now.
  func validLines(_ sources: [String: String]) -> (upper: Set<String>, all: Set<String>) {
    let stems = sources.keys.sorted()
    let upper = Set(stems.map { "upper src/\($0).txt out/\($0).txt" })
    return (upper, ["all " + stems.map { "out/\($0).txt" }.joined(separator: " ")])
  }

  @Test(arguments: seeds)
  func damagedDerivedFilesNeverMakeAWrongBuild(seed: UInt64) throws {
    var random = SplitMix64(seed: seed)
    var sources = Dictionary(uniqueKeysWithValues: Self.names.map { ($0, "text \($0)\n") })
    let p = try TempProject(["kiln.yml": Self.buildFile])
    for (stem, text) in sources { try p.write("src/\(stem).txt", text) }
    #expect(try p.kiln("build").status == 0)

    for round in 0..<Self.rounds {
      // Settle the folders, so the next build keeps a graph cache; a null build then
      // writes the pending history.
      usleep(120_000)
      _ = try p.kiln("build", "--json")
      _ = try p.kiln("build")
      var damage: [String] = []
      for name in Self.derived {
        let path = ".kiln/" + name
        guard var bytes = p.bytes(path), !bytes.isEmpty, Bool.random(using: &random) || name == "state.graph" else {
          continue
        }
        if Int.random(in: 0..<4, using: &random) == 0 {
          let keep = Int.random(in: 0..<bytes.count, using: &random)
          bytes.removeLast(bytes.count - keep)
          damage.append("\(name) cut to \(keep) bytes")
        } else {
          for _ in 0..<Int.random(in: 1...3, using: &random) {
            let at = Int.random(in: 0..<bytes.count, using: &random)
            let bit = UInt8(1) << UInt8.random(in: 0...7, using: &random)
            bytes[at] ^= bit
            damage.append("\(name) byte \(at) ^ \(bit)")
          }
        }
        try p.write(path, bytes: bytes)
      }
      // Sometimes an edit as well, so the damaged files are asked about something.
      if Bool.random(using: &random) {
        let stem = Self.names.randomElement(using: &random)!
        sources[stem] = "text \(stem) \(round)\n"
        try p.write("src/\(stem).txt", sources[stem]!)
        damage.append("edited \(stem)")
      }
      if Int.random(in: 0..<3, using: &random) == 0 {
        p.remove("out/a.txt")
        damage.append("deleted out/a.txt")
      }
      let context = "seed \(seed), round \(round): \(damage.joined(separator: "; "))"
      let r = try p.kiln("build")
      #expect(r.status == 0, "\(context): \(r)")
      for (stem, text) in sources {
        #expect(p.read("out/\(stem).txt") == text.uppercased(), "\(context): out/\(stem).txt")
      }
      #expect(p.read("all.txt") == sources.keys.sorted().map { sources[$0]!.uppercased() }.joined(), "\(context): all.txt")
      let valid = validLines(sources)
      let ran = Set(p.runLines("upper")).subtracting(valid.upper).union(Set(p.runLines("all")).subtracting(valid.all))
      #expect(ran.isEmpty, "\(context): commands kiln.yml does not say: \(ran.sorted())")
      if r.status != 0 || !ran.isEmpty { return }
    }
  }
}
