import Foundation
import KilnTestSupport
import Testing

/// Small shared pieces of the integration fixtures.
enum Fixture {
  /// upper (foreach over src/*.txt) -> all: two levels of generated files.
  static let pipeline: [String: String] = [
    "kiln.yml": """
      tasks:
        upper:
          foreach: src/*.txt
          outputs: out/{stem}.txt
          run: echo {stem} >> .runs/upper && tr a-z A-Z < {in} > {out}
        all:
          inputs: out/*.txt
          outputs: all.txt
          run: echo x >> .runs/all && cat {in} > {out}
      """,
    "src/a.txt": "alpha\n",
    "src/b.txt": "beta\n",
  ]

  /// One task copying in.txt to out.txt, counting its runs in `.runs/copy`.
  static let copyTask = """
    tasks:
      copy:
        inputs: [in.txt]
        outputs: out.txt
        run: echo x >> .runs/copy && cat in.txt > out.txt
    """

  /// A C project whose headers are found through depfiles: common.h is included by
  /// every unit, a.h by a.c only.
  static let cProject: [String: String] = [
    "kiln.yml": """
      tasks:
        compile:
          foreach: src/*.c
          outputs: build/{stem}.o
          depfile: build/{stem}.d
          run: echo {stem} >> .runs/compile && cc -MD -MF build/{stem}.d -c {in} -o {out}
        link:
          inputs: build/*.o
          outputs: app
          run: echo x >> .runs/link && cc -o {out} {in}
      """,
    "src/common.h": "#define COMMON 1\nint a(void);\nint b(void);\n",
    "src/a.h": "#define A_VALUE 1\n",
    "src/main.c": "#include \"common.h\"\nint main(void) { return a() + b() - 2 * COMMON; }\n",
    "src/a.c": "#include \"a.h\"\n#include \"common.h\"\nint a(void) { return A_VALUE; }\n",
    "src/b.c": "#include \"common.h\"\nint b(void) { return COMMON; }\n",
  ]

  /// A YAML single-quoted scalar: the text verbatim, `'` doubled. Commands full of
  /// `'`, `|`, `>`, `{...}` and `#` stay exactly what the shell will see.
  /// Every file of fixtures/demo, by its path in the demo.
  static func demoFiles() throws -> [String: String] {
    let demo = HermeticTests.packageRoot + "/fixtures/demo"
    var files: [String: String] = [:]
    let walker = FileManager.default.enumerator(atPath: demo)
    while let rel = walker?.nextObject() as? String {
      var isFolder: ObjCBool = false
      if FileManager.default.fileExists(atPath: demo + "/" + rel, isDirectory: &isFolder), !isFolder.boolValue {
        files[rel] = try String(contentsOfFile: demo + "/" + rel, encoding: .utf8)
      }
    }
    return files
  }

  static func quoted(_ text: String) -> String {
    "'" + text.replacingOccurrences(of: "'", with: "''") + "'"
  }

  /// A marker no other process on the machine has in its command line: a fractional
  /// `sleep` argument such as `30.482913`, unique to one test run.
  static func uniqueFraction() -> String {
    String(Int.random(in: 100_000...999_999))
  }
}

extension KilnResult {
  /// "kiln: 2 ran, ..." -> 2: what kiln itself says ran (a cross-check of `.runs`).
  var ranCount: Int? {
    guard let line = stdout.split(separator: "\n").last(where: { $0.hasPrefix("kiln: ") && $0.contains(" ran, ") }) else {
      return nil
    }
    return Int(line.dropFirst("kiln: ".count).prefix { $0.isNumber })
  }
}
