import KilnConfig
import KilnCore
import Testing

/// `foreach`: one task instance per matching file.
@Suite struct ForeachExpansionTests {
  @Test func oneInstancePerMatchSortedByPath() throws {
    let graph = try expand("""
      tasks:
        compile:
          foreach: src/*.c
          outputs: build/{stem}.o
          run: cc -c {in} -o {out}
      """, files: ["src/c.c", "src/a.c", "src/b.c", "src/notes.txt", "other/d.c"])
    #expect(graph.ids == ["compile src/a.c", "compile src/b.c", "compile src/c.c"])
    #expect(graph.instance("compile src/b.c")?.outputs == ["build/b.o"])
    #expect(graph.instance("compile src/b.c")?.command == "cc -c src/b.c -o build/b.o")
  }

  @Test func theItemIsTheFirstInputFollowedByListedInputs() throws {
    let graph = try expand("""
      tasks:
        gen:
          foreach: templates/*.tmpl
          inputs: [tools/render.sh]
          outputs: gen/{stem}.c
          run: sh tools/render.sh {in} > {out}
      """, files: ["templates/a.tmpl", "tools/render.sh"])
    let gen = try #require(graph.instance("gen templates/a.tmpl"))
    #expect(gen.inputs == ["templates/a.tmpl", "tools/render.sh"])
    // In a foreach task {in} is the item alone, not the listed inputs.
    #expect(gen.command == "sh tools/render.sh templates/a.tmpl > gen/a.c")
  }

  @Test func aFileMatchedByTwoPatternsGivesOneInstance() throws {
    let graph = try expand("""
      tasks:
        lint:
          foreach: [src/*.c, src/a.*]
          run: lint {in}
      """, files: ["src/a.c", "src/b.c", "src/a.h"])
    #expect(graph.ids.sorted() == ["lint src/a.c", "lint src/a.h", "lint src/b.c"])
  }

  @Test func noMatchMeansNoInstanceAndNoError() throws {
    let graph = try expand("""
      tasks:
        compile:
          foreach: src/*.c
          outputs: build/{stem}.o
          run: cc -c {in} -o {out}
        other:
          run: "true"
      """)
    #expect(graph.ids == ["other"])
  }

  @Test func aTaskWithoutForeachHasOneInstanceWithoutItem() throws {
    let graph = try expand("""
      tasks:
        app:
          run: echo app
      """)
    #expect(graph.count == 1)
    #expect(graph[0].id == TaskID(task: "app", item: nil))
  }

  @Test func instancesKeepTheTaskLocation() throws {
    let graph = try expand("""
      tasks:
        first:
          run: echo 1
        second:
          foreach: "*.txt"
          run: cat {in}
      """, files: ["a.txt"])
    #expect(graph.instance("second a.txt")?.location == SourceLocation(file: "kiln.yml", line: 4, column: 3))
  }
}
