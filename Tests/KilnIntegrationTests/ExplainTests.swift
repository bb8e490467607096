import KilnTestSupport
import Testing

/// `--explain` says why a task runs; `-n` says what would run and runs nothing.
@Suite struct ExplainTests {
  static let project: [String: String] = [
    "kiln.yml": """
      tasks:
        copy:
          inputs: [src/in.txt, src/other.txt]
          outputs: out.txt
          run: echo x >> .runs/copy && cat {in} > {out}
        count:
          inputs: out.txt
          outputs: count.txt
          run: echo x >> .runs/count && wc -l < {in} > {out}
      """,
    "src/in.txt": "one\n",
    "src/other.txt": "two\n",
  ]

  @Test func explainNamesTheReason() throws {
    let p = try TempProject(Self.project)
    let first = try p.kiln("build", "--explain")
    #expect(first.status == 0, "\(first)")
    #expect(first.output.contains("never built"), "\(first)")

    try p.write("src/in.txt", "one!\n")
    let edited = try p.kiln("build", "--explain")
    #expect(edited.status == 0, "\(edited)")
    #expect(edited.output.contains("src/in.txt"), "\(edited)")
    #expect(!edited.output.contains("src/other.txt"), "only the edited input is named: \(edited)")
    #expect(p.runs("copy") == 2)
    #expect(p.runs("count") == 2)

    try p.write("kiln.yml", Self.project["kiln.yml"]!.replacingOccurrences(of: "cat {in} > {out}", with: "cat {in} {in} > {out}"))
    let changed = try p.kiln("build", "--explain")
    #expect(changed.status == 0, "\(changed)")
    #expect(changed.output.contains("command changed"), "\(changed)")
    #expect(p.runs("copy") == 3)
    #expect(p.runs("count") == 3)
  }

  @Test func dryRunRunsNothingAndListsWhatWould() throws {
    let p = try TempProject(Self.project)
    let fresh = try p.kiln("build", "-n")
    #expect(fresh.status == 0, "\(fresh)")
    #expect(fresh.stdout.contains("copy"), "\(fresh)")
    #expect(fresh.stdout.contains("count"), "\(fresh)")
    #expect(p.runs("copy") == 0)
    #expect(p.runs("count") == 0)
    #expect(!p.exists("out.txt"))

    #expect(try p.kiln("build").status == 0)
    let null = try p.kiln("build", "--dry-run")
    #expect(null.status == 0, "\(null)")
    #expect(!null.stdout.contains("would run"), "\(null)")

    try p.write("src/other.txt", "three\n")
    let edited = try p.kiln("build", "-n")
    #expect(edited.status == 0, "\(edited)")
    #expect(edited.stdout.contains("would run: copy"), "\(edited)")
    #expect(edited.stdout.contains("src/other.txt"), "\(edited)")
    #expect(p.runs("copy") == 1)
    #expect(p.runs("count") == 1)
    #expect(p.read("out.txt") == "one\ntwo\n")

    // The dry run recorded nothing: the real build still runs the edited task.
    #expect(try p.kiln("build").status == 0)
    #expect(p.runs("copy") == 2)
  }
}
