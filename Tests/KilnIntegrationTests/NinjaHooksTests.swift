import Foundation
import KilnTestSupport
import Testing

/// Hooks for a ninja project: kiln.yml names a task that configures a build folder and
/// runs `kiln ninja` there. In the hook's snapshot of the index that task restores
/// what the working tree built (keys hold no checkout path), and a nested kiln runs its
/// first job on the slot its parent's task holds.
@Suite struct NinjaHooksTests {
  /// A configure script that writes build/build.ninja with absolute paths, as CMake
  /// does; the compile fails on a source that says BAD.
  static func project(log: String) -> [String: String] {
    [
      "configure.sh": """
        #!/bin/sh
        root=$(pwd)
        mkdir -p build
        {
          printf 'rule cc\\n  command = ! grep -q BAD $in && cat $in > $out && echo $out >> \(log)\\n'
          printf 'build a.o: cc %s/src/a.c\\n' "$root"
          printf 'build b.o: cc %s/src/b.c\\n' "$root"
        } > build/build.ninja

        """,
      "kiln.yml": """
        tasks:
          check:
            inputs: [configure.sh, "src/*.c"]
            always: true
            timeout: 60s
            run: sh configure.sh && '\(TempProject.kilnBinary)' ninja -C build
        hooks:
          pre-commit: [check]

        """,
      ".gitignore": ".kiln/\nbuild/\n",
      "src/a.c": "int a;\n",
      "src/b.c": "int b;\n",
    ]
  }

  @Test func aNestedKilnRunsOnItsParentsSlot() throws {
    let log = TempDirectory(prefix: "kiln-nested")
    // Kept to the end of the test: the task writes runs.log in it.
    try withExtendedLifetime(log) {
      let p = try TempProject(Self.project(log: log.path + "/runs.log"))
      // One slot on the machine, held by the task: without it the inner build would wait
      // for it until the task's time-out.
      let r = try p.kiln("build", "check", environment: ["KILN_MAX_JOBS": "1"])
      #expect(r.status == 0, "\(r)")
      #expect(p.read("build/b.o") == "int b;\n")
    }
  }

  @Test func theHookRestoresWhatTheWorkingTreeBuiltAndRefusesABadChange() throws {
    // The repository's own log path is known once it exists: the files are written again
    // with it before anything runs.
    let repo = try HooksTests.Repo(Self.project(log: "placeholder.log"))
    let log = repo.log
    for path in ["configure.sh", "kiln.yml"] {
      try repo.p.write(path, Self.project(log: log)[path]!)
    }
    #expect(try repo.git(["add", "-A"]).status == 0)
    #expect(try repo.git(["commit", "-q", "-m", "ninja project"]).status == 0)
    #expect(try repo.p.kiln("hooks", "install").status == 0)
    #expect(try repo.p.kiln("build", "check").status == 0)
    #expect(repo.runs.count == 2, "\(repo.runs)")

    // A good change: in the hook's snapshot, a.o comes from the cache, b.o compiles.
    try repo.p.write("src/b.c", "int b2;\n")
    #expect(try repo.git(["add", "src/b.c"]).status == 0)
    let good = try repo.git(["commit", "-q", "-m", "b2"])
    #expect(good.status == 0, "\(good)")
    #expect(repo.runs.count == 3, "only b.o compiled in the snapshot: \(repo.runs) \(good)")
    #expect(good.output.contains("1 restored"), "\(good)")

    // A bad one is refused, and the working tree keeps it.
    try repo.p.write("src/a.c", "BAD\n")
    #expect(try repo.git(["add", "src/a.c"]).status == 0)
    let bad = try repo.git(["commit", "-q", "-m", "bad"])
    #expect(bad.status != 0, "\(bad)")
    #expect(repo.p.read("src/a.c") == "BAD\n")
  }
}
