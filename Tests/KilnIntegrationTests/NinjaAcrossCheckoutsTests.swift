import Foundation
import KilnTestSupport
import Testing

/// Two checkouts of one project at different paths, each with a build folder whose
/// build.ninja names the checkout's absolute paths in commands and depfiles (as CMake
/// writes them), sharing one cache: a step restores in the second checkout, its
/// depfile inputs are checked there (not in the first), and an output that holds the
/// first checkout's path is never restored into the second.
@Suite struct NinjaAcrossCheckoutsTests {
  static func manifest(_ root: String) -> String {
    """
    rule cc
      command = cat $in \(root)/include/a.h > $out && printf '%s: %s %s\\n' $out $in \(root)/include/a.h > $out.d && echo x >> \(root)/.runs/cc
      depfile = $out.d
      deps = gcc
    rule where
      command = echo built in \(root) > $out && echo x >> \(root)/.runs/where
    build obj/a.o: cc \(root)/src/a.c
    build where.txt: where \(root)/src/a.c
    build all: phony obj/a.o where.txt
    default all

    """
  }

  static func checkout(sharingCacheWith other: TempProject? = nil) throws -> TempProject {
    let p = try TempProject(["src/a.c": "int a;\n", "include/a.h": "#define A 1\n", ".git/HEAD": "ref: refs/heads/main\n"],
                            sharingCacheWith: other)
    try p.write("build/build.ninja", manifest(p.root))
    return p
  }

  @Test func aSecondCheckoutRestoresWhatTheFirstBuilt() throws {
    let first = try Self.checkout()
    let second = try Self.checkout(sharingCacheWith: first)
    #expect(first.root != second.root)
    #expect(try first.kiln("ninja", "-C", "build").status == 0)
    #expect([first.runs("cc"), first.runs("where")] == [1, 1] as [Int])

    let r = try second.kiln("ninja", "-C", "build", "--explain")
    #expect(r.status == 0, "\(r)")
    // The compile restores; the step whose output holds the first checkout's path runs.
    #expect([second.runs("cc"), second.runs("where")] == [0, 1] as [Int], "\(r)")
    #expect(second.read("build/obj/a.o") == "int a;\n#define A 1\n")
    #expect(second.read("build/where.txt") == "built in \(second.root)\n")
    #expect(r.stderr.contains("holds the absolute path"), "\(r)")
  }

  @Test func anOutputNamedAfterTheCheckoutsPathIsRestoredUnderThisCheckoutsName() throws {
    // CMake names the object of `../src/x.c` after its absolute path:
    // `CMakeFiles/app.dir/<checkout>/src/x.c.o`.
    func checkout(sharingCacheWith other: TempProject? = nil) throws -> TempProject {
      let p = try TempProject(["src/x.c": "int x;\n", ".git/HEAD": "ref: refs/heads/main\n"], sharingCacheWith: other)
      let object = "CMakeFiles/app.dir\(p.root)/src/x.c.o"
      try p.write("build/build.ninja", """
        rule cc
          command = cat $in > $out && echo x >> \(p.root)/.runs/cc
        build \(object): cc \(p.root)/src/x.c
        rule link
          command = cat $in > $out && echo x >> \(p.root)/.runs/link
        build app: link \(object)

        """)
      return p
    }
    let first = try checkout()
    let second = try checkout(sharingCacheWith: first)
    #expect(try first.kiln("ninja", "-C", "build").status == 0)
    let r = try second.kiln("ninja", "-C", "build")
    #expect(r.status == 0, "\(r)")
    #expect([second.runs("cc"), second.runs("link")] == [0, 0] as [Int], "\(r)")
    #expect(second.read("build/CMakeFiles/app.dir\(second.root)/src/x.c.o") == "int x;\n")
    #expect(second.read("build/app") == "int x;\n")
    // Nothing was written under the first checkout's name in the second.
    #expect(!second.exists("build/CMakeFiles/app.dir\(first.root)"))
  }

  @Test func aHeaderChangedInOneCheckoutIsCheckedThereNotInTheOther() throws {
    let first = try Self.checkout()
    let second = try Self.checkout(sharingCacheWith: first)
    #expect(try first.kiln("ninja", "-C", "build").status == 0)
    // Only the second checkout's header differs: the first's entry must not serve it.
    try second.write("include/a.h", "#define A 2\n")
    #expect(try second.kiln("ninja", "-C", "build").status == 0)
    #expect(second.runs("cc") == 1)
    #expect(second.read("build/obj/a.o") == "int a;\n#define A 2\n")
    // The first checkout, given the same header, restores what the second stored.
    try first.write("include/a.h", "#define A 2\n")
    let r = try first.kiln("ninja", "-C", "build")
    #expect(r.status == 0, "\(r)")
    #expect(first.runs("cc") == 1, "\(r)")
    #expect(first.read("build/obj/a.o") == "int a;\n#define A 2\n")
  }
}
