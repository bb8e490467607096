import Foundation
import KilnTestSupport
import Testing

/// The action entries' database (`<cache>/actions.db`) under many kiln processes at
/// once (issue 16): every process stores its entry, none corrupts another's, and what
/// they stored restores.
@Suite struct ActionDatabaseProcessTests {
  @Test func manyKilnProcessesStoringAtOnceLoseNothing() throws {
    let count = 12
    var files: [String: String] = ["kiln.yml": "tasks:\n  t:\n    run: 'true'\n"]
    for i in 0..<count { files["in\(i).txt"] = "input \(i)\n" }
    let p = try TempProject(files)
    func step(_ i: Int) -> [String] {
      ["exec", "--in", "in\(i).txt", "--out", "out\(i).txt", "--",
       "sh", "-c", "echo x >> .runs/e\(i); cat in\(i).txt > out\(i).txt; echo printed \(i)"]
    }
    // Half of them also store under one shared key at the same moment.
    let started = try (0..<count).map { try p.start(step($0)) }
    let shared = try (0..<count).map { _ in try p.start(step(0)) }
    for (i, r) in (started + shared).map({ $0.wait() }).enumerated() {
      #expect(r.status == 0, "process \(i): \(r)")
    }
    // The database is made whole beside its name and linked into place: nothing of
    // that is left behind.
    let leftovers = (try FileManager.default.contentsOfDirectory(atPath: p.cache.path)).filter { $0.contains(".new-") }
    #expect(leftovers.isEmpty, "\(leftovers)")
    let entries = CacheEntries.all(in: p.cache.path)
    #expect(entries.count == count, "one entry per step: \(entries.count)")
    let verify = try p.kiln("cache", "verify")
    #expect(verify.status == 0 && verify.output.contains("0 corrupt"), "\(verify)")
    // Each restores in a checkout that never ran it.
    let clone = try p.clone()
    for i in 0..<count {
      let r = try clone.kiln(step(i))
      #expect(r.status == 0 && r.stdout.contains("printed \(i)"), "\(i): \(r)")
      #expect(clone.read("out\(i).txt") == "input \(i)\n", "\(i)")
      #expect(clone.runs("e\(i)") == 0, "\(i) was restored, not run")
    }
  }
}
