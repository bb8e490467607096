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

  /// A foreach that gains items in a later round of expansion (files another task
  /// declares) keeps the instances of its first items (made once, reused) and makes the
  /// new ones alike: each with its own item, outputs and command; a task whose listed
  /// inputs grew is made again whole.
  @Test func itemsDeclaredInALaterRoundAreInstancesLikeTheFirst() throws {
    let graph = try expand("""
      tasks:
        gen:
          foreach: templates/*.tmpl
          outputs: gen/{stem}.c
          run: render {in} > {out}
        compile:
          foreach: [src/*.c, gen/*.c]
          inputs: [include/common.h]
          outputs: build/{name}.o
          run: cc -c {in} -o {out}
        link:
          inputs: build/*.o
          outputs: app
          run: cc -o {out} {in}
      """, files: ["templates/t.tmpl", "src/a.c", "src/b.c", "include/common.h"])
    #expect(graph.ids.sorted() == ["compile gen/t.c", "compile src/a.c", "compile src/b.c", "gen templates/t.tmpl", "link"])
    for (item, object) in [("src/a.c", "build/a.c.o"), ("src/b.c", "build/b.c.o"), ("gen/t.c", "build/t.c.o")] {
      let compile = try #require(graph.instance("compile \(item)"))
      #expect(compile.inputs == [item, "include/common.h"])
      #expect(compile.outputs == [object])
      #expect(compile.command == "cc -c \(item) -o \(object)")
    }
    #expect(graph.instance("link")?.command == "cc -o app build/a.c.o build/b.c.o build/t.c.o")
    #expect(graph.instance("link")?.inputs == ["build/a.c.o", "build/b.c.o", "build/t.c.o"])
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
