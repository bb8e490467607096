import KilnConfig
import KilnCore
import Testing

/// `{in}`, `{out}`, `{stem}`, `{name}`, `{dir}` in `run`, `outputs` and `depfile`.
@Suite struct PlaceholderTests {
  @Test func everyPlaceholderOfAForeachItem() throws {
    let graph = try expand("""
      tasks:
        t:
          foreach: src/x/*.c
          outputs: ["build/{dir}/{stem}.o", "lists/{name}.txt"]
          run: "tool {in} {out} {stem} {name} {dir}"
      """, files: ["src/x/main.c"])
    let t = try #require(graph.instance("t src/x/main.c"))
    #expect(t.outputs == ["build/src/x/main.o", "lists/main.c.txt"])
    #expect(t.command == "tool src/x/main.c build/src/x/main.o lists/main.c.txt main main.c src/x")
  }

  @Test func aPathWithASpaceIsShellQuotedInRunOnly() throws {
    let graph = try expand("""
      tasks:
        compile:
          foreach: "src/*.c"
          outputs: build/{stem}.o
          depfile: build/{stem}.d
          run: cc -MF build/{stem}.d -c {in} -o {out}; echo {name} {dir}
      """, files: ["src/my file.c"])
    let compile = try #require(graph.instance("compile src/my file.c"))
    #expect(compile.outputs == ["build/my file.o"])
    #expect(compile.depfile == "build/my file.d")
    #expect(compile.command == "cc -MF build/'my file'.d -c 'src/my file.c' -o 'build/my file.o'; echo 'my file.c' src")
  }

  @Test func aQuoteInAPathIsEscaped() throws {
    let graph = try expand("""
      tasks:
        t:
          foreach: "*.txt"
          run: cat {in}
      """, files: ["it's.txt"])
    #expect(graph[0].command == #"cat 'it'\''s.txt'"#)
  }

  @Test func dirOfAnItemAtTheRootIsDot() throws {
    let graph = try expand("""
      tasks:
        t:
          foreach: "*.txt"
          outputs: "{dir}/{stem}.out"
          run: cd {dir} && cat {name}
      """, files: ["a.txt"])
    #expect(graph[0].command == "cd . && cat a.txt")
    #expect(graph[0].outputs == ["a.out"])
  }

  @Test func inWithoutForeachIsEveryListedInputAndOutIsEveryOutput() throws {
    let graph = try expand("""
      tasks:
        pack:
          inputs: [b.txt, "docs/*.md"]
          outputs: [out/pack.tar, "out/pack list.txt"]
          run: tar cf {out} {in}
      """, files: ["b.txt", "docs/z.md", "docs/a b.md"])
    #expect(graph[0].command == "tar cf out/pack.tar 'out/pack list.txt' b.txt 'docs/a b.md' docs/z.md")
  }

  @Test func shellVariablesAndBraceExpansionAreLeftAlone() throws {
    let graph = try expand("""
      tasks:
        t:
          foreach: "*.txt"
          run: echo ${HOME} ${in} {a,b} {unknown} {in} {} {
      """, files: ["a.txt"])
    #expect(graph[0].command == "echo ${HOME} ${in} {a,b} {unknown} a.txt {} {")
  }

  /// Issue 12 item 8: a `{` that opens no placeholder is one character of shell text, so
  /// a placeholder after it (inside a brace group, before a later `}`) is still replaced.
  @Test func aPlaceholderInsideAShellBraceGroupIsReplaced() throws {
    let graph = try expand("""
      tasks:
        t:
          foreach: "*.txt"
          outputs: "{stem}.sum"
          run: "{ echo v1; sha256sum < {in}; } > {out}"
      """, files: ["a b.txt"])
    #expect(graph[0].command == "{ echo v1; sha256sum < 'a b.txt'; } > 'a b.sum'")
  }

  @Test func placeholdersInsideNestedBracesAndAfterShellBracesAreReplaced() throws {
    let graph = try expand("""
      tasks:
        t:
          foreach: "src/*.c"
          outputs: "out/{stem}.o"
          run: "x={{in}} ${CC:-cc} {a,{stem}} ${V}{name} {{{dir}}} {in{out}} {{ {a,b} {out}"
      """, files: ["src/m.c"])
    #expect(graph[0].command == "x={src/m.c} ${CC:-cc} {a,m} ${V}m.c {{src}} {inout/m.o} {{ {a,b} out/m.o")
  }

  @Test func aShellBraceBeforeAPlaceholderInOutputsAndDepfile() throws {
    let graph = try expand("""
      tasks:
        t:
          foreach: "*.txt"
          outputs: "b{x/{stem}.o"
          depfile: "d}/{x{stem}.d"
          run: "true"
      """, files: ["a.txt"])
    #expect(graph[0].outputs == ["b{x/a.o"])
    #expect(graph[0].depfile == "d}/{xa.d")
  }

  @Test func aPlaceholderNeedingForeachInsideABraceGroupIsStillReported() {
    let error = expansionError("""
      tasks:
        t:
          inputs: a.c
          run: "{ cc -c {in} -o {stem}.o; }"
      """, files: ["a.c"])
    #expect(error?.description == "kiln.yml:4:10: placeholder {stem} needs 'foreach' (task 't' has none)")
  }

  @Test func stemDropsOnlyTheLastExtension() throws {
    let graph = try expand("""
      tasks:
        t:
          foreach: "*.gz"
          outputs: "{stem}"
          run: gunzip -k {in}
      """, files: ["data.tar.gz"])
    #expect(graph[0].outputs == ["data.tar"])
  }

  @Test func placeholdersOtherThanInAndOutNeedForeachInRun() {
    let error = expansionError("""
      tasks:
        t:
          inputs: a.c
          run: cc -c {in} -o {stem}.o
      """, files: ["a.c"])
    #expect(error?.description == "kiln.yml:4:10: placeholder {stem} needs 'foreach' (task 't' has none)")
  }

  @Test func outputsAreNormalised() throws {
    let graph = try expand("""
      tasks:
        t:
          outputs: [./build//x.o, build/sub/../y.o]
          run: touch {out}
      """)
    #expect(graph[0].outputs == ["build/x.o", "build/y.o"])
  }
}
