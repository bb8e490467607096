import KilnTestSupport
import Testing

/// How failures end a build: exit 1, what is skipped, what -k still builds, and what
/// a broken build file says (exit 2, one line).
@Suite struct FailureTests {
  static let keepGoing: [String: String] = [
    "kiln.yml": """
      tasks:
        broken:
          outputs: broken.txt
          run: echo x >> .runs/broken && echo partial > {out} && exit 1
        after:
          deps: [broken]
          outputs: after.txt
          run: echo x >> .runs/after && cat broken.txt > {out}
        fine:
          outputs: fine.txt
          run: echo x >> .runs/fine && echo fine > {out}
      """
  ]

  @Test func withoutKeepGoingTheBuildStops() throws {
    let p = try TempProject(Self.keepGoing)
    // One job, so the order is the scheduler's: `broken` heads the longest path and
    // starts first; once it fails nothing else starts.
    let r = try p.kiln("build", "-j1")
    #expect(r.status == 1, "\(r)")
    #expect(p.runs("broken") == 1)
    #expect(p.runs("after") == 0)
    #expect(p.runs("fine") == 0)
    #expect(r.output.contains("broken"), "\(r)")
  }

  @Test func keepGoingBuildsWhatDoesNotDependOnTheFailure() throws {
    let p = try TempProject(Self.keepGoing)
    let r = try p.kiln("build", "-k", "-j1")
    #expect(r.status == 1, "\(r)")
    #expect(p.runs("broken") == 1)
    #expect(p.runs("fine") == 1)
    #expect(p.runs("after") == 0)
    #expect(p.read("fine.txt") == "fine\n")
    #expect(r.output.contains("skipped"), "\(r)")

    // The task that succeeded was recorded; the failed one runs again.
    let again = try p.kiln("build", "-k")
    #expect(again.status == 1, "\(again)")
    #expect(p.runs("fine") == 1)
    #expect(p.runs("broken") == 2)
    #expect(p.runs("after") == 0)
  }

  @Test func missingDeclaredOutputFails() throws {
    let p = try TempProject([
      "kiln.yml": """
        tasks:
          forgetful:
            outputs: [out.txt, other.txt]
            run: echo x >> .runs/forgetful && echo here > other.txt
        """
    ])
    let r = try p.kiln("build")
    #expect(r.status == 1, "\(r)")
    #expect(r.output.contains("out.txt"), "\(r)")
    #expect(p.runs("forgetful") == 1)
    let again = try p.kiln("build")
    #expect(again.status == 1, "\(again)")
    #expect(p.runs("forgetful") == 2)
  }

  struct BadBuildFile: Sendable, CustomTestStringConvertible {
    var name: String
    var yaml: String
    init(_ name: String, _ yaml: String) {
      self.name = name
      self.yaml = yaml
    }
    var testDescription: String { name }
  }

  static let badBuildFiles: [BadBuildFile] = [
    BadBuildFile("unknown field", """
      tasks:
        t:
          run: echo hi
          outptus: x.txt
      """),
    BadBuildFile("unknown dependency", """
      tasks:
        t:
          deps: [nowhere]
          run: echo hi
      """),
    BadBuildFile("cycle", """
      tasks:
        a:
          deps: [b]
          run: echo a
        b:
          deps: [a]
          run: echo b
      """),
    BadBuildFile("duplicate output", """
      tasks:
        a:
          outputs: same.txt
          run: echo a > same.txt
        b:
          outputs: same.txt
          run: echo b > same.txt
      """),
    BadBuildFile("empty run", """
      tasks:
        a:
          run: ""
      """),
    BadBuildFile("output outside", """
      tasks:
        a:
          outputs: ../escape.txt
          run: echo a > ../escape.txt
      """),
    BadBuildFile("not yaml", """
      tasks:
        a: [unclosed
      """),
  ]

  @Test(arguments: badBuildFiles)
  func badBuildFileIsOneLineAndExitTwo(_ bad: BadBuildFile) throws {
    let p = try TempProject(["kiln.yml": bad.yaml + "\n"])
    let r = try p.kiln("build")
    #expect(r.status == 2, "\(bad.name): \(r)")
    #expect(r.stderrLines.count == 1, "\(bad.name): \(r)")
    #expect(r.stderrLines.first?.hasPrefix("kiln.yml:") == true, "\(bad.name): \(r)")
    #expect(!p.exists(".kiln"), "\(bad.name): a bad build file leaves no state behind")
  }
}
