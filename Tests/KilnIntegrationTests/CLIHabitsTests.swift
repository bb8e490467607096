import Foundation
import KilnTestSupport
import Testing

/// What users of make, ninja and cargo type without thinking (issue 17): long flags, a
/// bare `kiln`, a mistyped command, `-v`, `NAME=value`, `-n` with `--json` or `-q`,
/// completion of task names, `!pattern` exclusions, a hook kiln.yml does not list.
@Suite struct CLIHabitsTests {
  static let greeting: [String: String] = [
    "kiln.yml": """
      default: [greet]
      env:
        GREETING: hello
        WHO: world
      tasks:
        greet:
          outputs: out/greeting.txt
          run: echo x >> .runs/greet && echo $GREETING $WHO > {out}
        shout:
          env:
            WHO: everyone
          outputs: out/shout.txt
          run: echo x >> .runs/shout && echo $GREETING $WHO > {out}
        fail:
          outputs: out/never.txt
          run: exit 3
      """,
  ]

  @Test func aBareKilnBuildsTheDefaultAndHelpStaysOnHelp() throws {
    let p = try TempProject(Self.greeting)
    let bare = try p.kiln()
    #expect(bare.status == 0, "\(bare)")
    #expect(p.runs("greet") == 1 && p.runs("shout") == 0, "\(bare)")
    #expect(p.read("out/greeting.txt") == "hello world\n")
    let flags = try p.kiln("-j1")
    #expect(flags.status == 0 && flags.stdout.contains("1 up to date"), "\(flags)")
    let help = try p.kiln("--help")
    #expect(help.status == 0 && help.stdout.contains("SUBCOMMANDS"), "\(help)")
  }

  @Test func longFlagsMeanWhatTheShortOnesDo() throws {
    let p = try TempProject(Self.greeting)
    try p.write("sub/.keep", "")
    // --keep-going: greet still runs after fail fails; --jobs 1 runs them one at a time.
    let r = try p.kiln("--directory", p.root + "/sub", "build", "--jobs", "1", "--keep-going", "fail", "greet")
    #expect(r.status == 1, "\(r)")
    #expect(p.runs("greet") == 1, "\(r)")
    let dry = try p.kiln("--directory=\(p.root)", "build", "--dry-run", "shout")
    #expect(dry.status == 0 && dry.stdout.contains("would run: shout"), "\(dry)")
    try p.write("other.yml", "tasks:\n  other:\n    outputs: o.txt\n    run: echo other > {out}\n")
    let other = try p.kiln("--file", "other.yml", "build", "--jobs=2")
    #expect(other.status == 0 && p.read("o.txt") == "other\n", "\(other)")
  }

  @Test func aMistypedCommandIsToldTheOneMeant() throws {
    let p = try TempProject(Self.greeting)
    let r = try p.kiln("biuld")
    #expect(r.status == 2)
    #expect(r.stderrLines == ["kiln: unknown command 'biuld'; did you mean 'build'? (kiln --help lists the commands)"], "\(r)")
    #expect(p.runs("greet") == 0)
    let far = try p.kiln("greet")
    #expect(far.status == 2)
    #expect(far.stderr.contains("unknown command 'greet'") && far.stderr.contains("kiln build greet"), "\(far)")
  }

  @Test func verbosePrintsEachCommandWithItsValuesAndAFailureShowsThemToo() throws {
    let p = try TempProject(Self.greeting)
    let r = try p.kiln("build", "-v", "shout")
    #expect(r.status == 0, "\(r)")
    #expect(r.stdout.contains("echo x >> .runs/shout && echo hello everyone > out/shout.txt"), "\(r)")
    try p.write("kiln.yml", "env:\n  CODE: '4'\ntasks:\n  bad:\n    outputs: b\n    run: exit $CODE\n")
    let failed = try p.kiln("build")
    #expect(failed.status == 1)
    #expect(failed.stdout.contains("\nexit 4\n"), "\(failed)")
  }

  /// `kiln build NAME=value` overrides `env:` (the top level's and a task's own) for that
  /// build, in its keys too: each variant is cached apart and restored.
  @Test func nameEqualsValueOverridesEnvForThatBuild() throws {
    let p = try TempProject(Self.greeting)
    #expect(try p.kiln("build", "greet", "shout").status == 0)
    #expect(p.read("out/shout.txt") == "hello everyone\n")
    let over = try p.kiln("build", "GREETING=bye", "WHO=you", "greet", "shout")
    #expect(over.status == 0, "\(over)")
    #expect(p.read("out/greeting.txt") == "bye you\n")
    #expect(p.read("out/shout.txt") == "bye you\n", "the command line wins over a task's own env:")
    #expect(p.runs("greet") == 2 && p.runs("shout") == 2)
    // Back to kiln.yml's values, then the override again: both restored, nothing runs.
    let plain = try p.kiln("build", "greet", "shout")
    #expect(plain.status == 0 && plain.stdout.contains("2 restored"), "\(plain)")
    #expect(p.read("out/greeting.txt") == "hello world\n")
    let again = try p.kiln("build", "greet", "GREETING=bye", "shout", "WHO=you")
    #expect(again.status == 0 && again.stdout.contains("2 restored"), "\(again)")
    #expect(p.read("out/shout.txt") == "bye you\n")
    #expect(p.runs("greet") == 2 && p.runs("shout") == 2)
    // The next plain build is not answered by anything the override build left.
    let last = try p.kiln("build", "greet", "shout")
    #expect(last.stdout.contains("2 restored"), "\(last)")
    #expect(p.read("out/greeting.txt") == "hello world\n")
  }

  @Test func aDryRunHonoursJSONAndQuiet() throws {
    let p = try TempProject(Self.greeting)
    let quiet = try p.kiln("build", "-n", "-q", "greet", "shout")
    #expect(quiet.status == 0)
    #expect(quiet.stdout == "kiln: dry run: 2 of 2 would restore or run\n", "\(quiet)")
    let json = try p.kiln("build", "-n", "--json", "greet", "shout")
    #expect(json.status == 0, "\(json)")
    let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
    #expect(object["dry_run"] as? Bool == true)
    #expect(object["would_run"] as? Int == 2 && object["total"] as? Int == 2)
    let tasks = try #require(object["tasks"] as? [[String: Any]])
    #expect(Set(tasks.compactMap { $0["id"] as? String }) == ["greet", "shout"])
    #expect(tasks.allSatisfy { ($0["reasons"] as? [String]) == ["never built"] }, "\(tasks)")
    #expect(p.runs("greet") == 0)
  }

  @Test func completionOffersTaskNames() throws {
    let p = try TempProject(Self.greeting)
    let all = try p.kiln("---completion", "build", "--", "positional@0", "2", "0", "kiln", "build", "")
    #expect(all.stdout.split(separator: "\n") == ["fail", "greet", "shout"], "\(all)")
    let some = try p.kiln("---completion", "build", "--", "positional@0", "2", "1", "kiln", "build", "s")
    #expect(some.stdout.split(separator: "\n") == ["shout"], "\(some)")
  }

  @Test func exclusionsTakeMatchesOutOfAList() throws {
    let p = try TempProject([
      "kiln.yml": """
        tasks:
          copy:
            foreach: [src/*.txt, "!src/old.txt", "!src/test_*.txt"]
            outputs: out/{name}
            run: cp {in} {out}
          all:
            inputs: [src/*.txt, "!src/old.txt"]
            outputs: all.txt
            run: cat {in} > {out}
        """,
      "src/a.txt": "a\n", "src/b.txt": "b\n", "src/old.txt": "old\n", "src/test_one.txt": "t\n",
    ])
    let r = try p.kiln("build")
    #expect(r.status == 0, "\(r)")
    #expect(p.files(under: "out") == ["a.txt", "b.txt"], "\(p.files(under: "out"))")
    #expect(p.read("all.txt") == "a\nb\nt\n")
    try p.write("src/old.txt", "changed\n")
    let after = try p.kiln("build")
    #expect(after.stdout.contains("0 ran"), "an excluded file is no input: \(after)")
  }

  @Test func installingAHookNoTaskIsListedForSaysSo() throws {
    let p = try TempProject([
      "kiln.yml": "tasks:\n  lint:\n    outputs: l\n    run: touch {out}\nhooks:\n  pre-commit: [lint]\n",
    ])
    try Git.run("init", "-q", in: p.root)
    let r = try p.kiln("hooks", "install", "pre-push")
    #expect(r.status == 2)
    #expect(r.stderrLines == ["kiln: hooks: kiln.yml lists no task for 'pre-push' (add it under 'hooks:'); nothing installed (it lists pre-commit)"], "\(r)")
    #expect(!p.exists(".git/hooks/pre-push"))
    #expect(try p.kiln("hooks", "install", "pre-commit").status == 0)
    #expect(p.exists(".git/hooks/pre-commit"))
  }
}
