import KilnConfig
import KilnCore
import Testing

/// What each field of `kiln.yml` becomes in the parsed file and the expanded instances.
@Suite struct BuildFileFieldTests {
  @Test func aSingleStringWorksWhereAListIsExpected() throws {
    let file = try parse("""
      default: app
      tasks:
        gen:
          foreach: "*.t"
          run: render {in}
        app:
          inputs: main.c
          outputs: app
          deps: gen
          hash_env: HOME
          run: cc -o {out} {in}
      hooks:
        pre-commit: app
      """)
    let app = try #require(file.task(named: "app"))
    #expect(file.defaultTasks == ["app"])
    #expect(app.inputs.map(\.value) == ["main.c"])
    #expect(app.outputs.map(\.value) == ["app"])
    #expect(app.deps.map(\.value) == ["gen"])
    #expect(app.hashEnv == ["HOME"])
    #expect(file.task(named: "gen")?.foreach?.map(\.value) == ["*.t"])
    #expect(file.hooks == ["pre-commit": ["app"]])
  }

  @Test func listValuesKeepTheirPositions() throws {
    let file = try parse("""
      tasks:
        app:
          inputs: [a.c, b.c]
          run: cc {in}
      """)
    let inputs = try #require(file.task(named: "app")).inputs
    #expect(inputs.map(\.location.description) == ["kiln.yml:3:14", "kiln.yml:3:19"])
  }

  @Test func defaultNamesTheTasksABareBuildBuilds() throws {
    let graph = try expand("""
      default: [b]
      tasks:
        a:
          run: echo a
        b:
          run: echo b
      """)
    #expect(graph.defaultTasks == ["b"])
  }

  @Test func withoutDefaultEveryTaskIsBuilt() throws {
    let graph = try expand("""
      tasks:
        a:
          run: echo a
      """)
    #expect(graph.defaultTasks == nil)
  }

  @Test func taskEnvIsMergedOverTopLevelEnvAndSorted() throws {
    let graph = try expand("""
      env:
        ZED: z
        CC: cc
        CFLAGS: -O2
      tasks:
        app:
          env:
            CFLAGS: -O0 -g
            AAA: "1"
          run: $CC $CFLAGS
        other:
          run: $CC
      """)
    #expect(graph.instance("app")?.environment == [
      EnvironmentVariable("AAA", "1"), EnvironmentVariable("CC", "cc"),
      EnvironmentVariable("CFLAGS", "-O0 -g"), EnvironmentVariable("ZED", "z"),
    ])
    #expect(graph.instance("other")?.environment == [
      EnvironmentVariable("CC", "cc"), EnvironmentVariable("CFLAGS", "-O2"), EnvironmentVariable("ZED", "z"),
    ])
  }

  @Test func hashEnvNamesReachTheInstance() throws {
    let graph = try expand("""
      tasks:
        app:
          hash_env: [PATH, HOME]
          run: cc
      """)
    #expect(graph[0].hashEnvironment == ["PATH", "HOME"])
  }

  @Test func dirIsNormalisedAndDefaultsToTheRoot() throws {
    let graph = try expand("""
      tasks:
        sub:
          dir: ./web//client/
          run: npm run build
        top:
          run: make
      """)
    #expect(graph.instance("sub")?.directory == "web/client")
    #expect(graph.instance("top")?.directory == "")
  }

  @Test func timeoutAndSlaAcceptEveryDurationForm() throws {
    let file = try parse("""
      tasks:
        a: {run: x, timeout: 30s, sla: 5m}
        b: {run: x, timeout: 1h, sla: 250ms}
        c: {run: x, timeout: 1m30s, sla: 90}
      """)
    #expect(file.task(named: "a")?.timeout == .seconds(30))
    #expect(file.task(named: "a")?.sla == .seconds(300))
    #expect(file.task(named: "b")?.timeout == .seconds(3600))
    #expect(file.task(named: "b")?.sla == .milliseconds(250))
    #expect(file.task(named: "c")?.timeout == .seconds(90))
    #expect(file.task(named: "c")?.sla == .seconds(90))
  }

  @Test func timeoutReachesTheInstance() throws {
    let graph = try expand("""
      tasks:
        test:
          timeout: 2m
          sla: 45s
          run: ./run-tests
      """)
    #expect(graph[0].timeout == .seconds(120))
    #expect(graph[0].sla == .seconds(45))
  }

  @Test func flagsDefaultToCachedNotAlwaysNotIsolated() throws {
    let graph = try expand("""
      tasks:
        plain:
          run: x
        special:
          cache: false
          always: true
          isolate: true
          run: x
      """)
    let plain = try #require(graph.instance("plain"))
    let special = try #require(graph.instance("special"))
    #expect((plain.cache, plain.always, plain.isolate) == (true, false, false))
    #expect((special.cache, special.always, special.isolate) == (false, true, true))
  }

  @Test func remoteIsKept() throws {
    let file = try parse("""
      remote: grpc://cache.example:9092
      tasks:
        a:
          run: x
      """)
    #expect(file.remote == "grpc://cache.example:9092")
  }

  @Test func tasksKeepTheirOrderAndNameLocation() throws {
    let file = try parse("""
      tasks:
        zeta:
          run: z
        alpha.1_x-y:
          run: a
      """)
    #expect(file.tasks.map(\.name) == ["zeta", "alpha.1_x-y"])
    #expect(file.tasks[1].location == SourceLocation(file: "kiln.yml", line: 4, column: 3))
  }

  @Test func theDisplayPathIsUsedInLocations() {
    #expect(throws: ConfigError(SourceLocation(file: "../kiln.yml", line: 1, column: 1), "missing field 'tasks'")) {
      try BuildFileParser(displayPath: "../kiln.yml").parse("env: {A: b}\n")
    }
  }
}

/// `Duration.parse`: the forms `timeout` and `sla` take.
@Suite struct DurationParseTests {
  @Test(arguments: [
    ("30s", Duration.seconds(30)), ("5m", .seconds(300)), ("1h", .seconds(3600)),
    ("250ms", .milliseconds(250)), ("1m30s", .seconds(90)), ("1h2m3s", .seconds(3723)),
    ("1.5s", .milliseconds(1500)), ("90", .seconds(90)), (" 10s ", .seconds(10)),
  ])
  func parses(_ text: String, _ expected: Duration) {
    #expect(Duration.parse(text) == expected)
  }

  @Test(arguments: ["", "s", "5x", "5 m", "m5", "1m30", "-5s", "5s-", "nan"])
  func rejects(_ text: String) {
    #expect(Duration.parse(text) == nil)
  }

  @Test func anOutOfRangeNumberIsRejectedNotATrap() async {
    // `timeout: inf` or `timeout: 1e30` used to trap in Int64(Double).
    await #expect(processExitsWith: .success) {
      _ = Duration.parse("inf")
      _ = Duration.parse("1e30")
      _ = Duration.parse("99999999999999999h")
    }
    #expect(Duration.parse("inf") == nil)
    #expect(Duration.parse("1e30") == nil)
  }
}
