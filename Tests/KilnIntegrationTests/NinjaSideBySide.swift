import Foundation
import KilnTestSupport
import Testing

/// One generator fixture configured twice, built by the real ninja in one copy and by
/// `kiln ninja` in the other, step by step; after each step every product of the build
/// must be the same in both, byte for byte. The scenarios that `NinjaCMakeTests` and
/// `NinjaMesonTests` run on their own fixture live here.
///
/// Why the bytes can be compared although the copies sit in different folders: with
/// `-g` an object names its source file and the compiler's working directory (the build
/// folder) in its debug info, and `__FILE__` names the source, so two copies at two
/// paths differ under ninja alone. Both fixtures map the source and build folders to
/// fixed names with `-ffile-prefix-map`, as projects that want reproducible builds do;
/// CMake's build RPATH is made `$ORIGIN`-relative (Meson's always is), and `ar` is
/// deterministic on Debian. Then a product is the same bytes wherever its copy lies,
/// and a difference is one between the tools. (Building both copies in turn at one
/// path would also do for the byte comparison, but it could not show what kiln does
/// for a checkout at another path, which is the point of the fresh-worktree step.)
/// `pathsStayInTheirCheckout` builds without the mapping, on purpose.
final class SideBySide {
  let tools: BuildTools
  let ninja: GeneratedProject
  let kiln: GeneratedProject

  init(_ generator: Generator) throws {
    tools = try BuildTools()
    ninja = try GeneratedProject(generator, builtBy: .ninja, tools: tools)
    kiln = try GeneratedProject(generator, builtBy: .kiln, tools: tools)
  }

  /// Applies `change` to the sources of both copies, builds both (with the
  /// generator's own build command when `throughGenerator`) and compares them.
  @discardableResult
  func step(_ name: String, throughGenerator: Bool = false, comparingFileNames: Bool = true,
            _ change: (TempProject) throws -> Void = { _ in }) throws -> (ninja: BuildRun, kiln: BuildRun) {
    try change(ninja.project)
    try change(kiln.project)
    let byNinja = try throughGenerator ? ninja.runBuildThroughGenerator() : ninja.runBuild()
    let byKiln = try throughGenerator ? kiln.runBuildThroughGenerator() : kiln.runBuild()
    // A failed build leaves nothing for the later steps to check.
    try #require(byNinja.result.status == 0, "\(name): ninja: \(byNinja)")
    try #require(byKiln.result.status == 0, "\(name): kiln: \(byKiln)")
    let differences = try Self.differences(ninja, kiln, comparingFileNames: comparingFileNames)
    #expect(differences.isEmpty, "\(name): kiln's build differs from ninja's:\n\(differences.joined(separator: "\n"))")
    return (byNinja, byKiln)
  }

  /// Where `actual` differs from `expected`: every product that `expected`'s manifest
  /// declares (missing in both is no difference), and with `comparingFileNames` the
  /// names of all the files each build folder holds (`GeneratedProject.fileNames`).
  static func differences(_ expected: GeneratedProject, _ actual: GeneratedProject,
                          comparingFileNames: Bool = true) throws -> [String] {
    var differences: [String] = []
    for path in expected.generator.essentialProducts where expected.entry(path) == .missing {
      differences.append("\(path) is missing from the reference build: the comparison would prove nothing")
    }
    for path in try expected.products() {
      let want = expected.entry(path), got = actual.entry(path)
      if want != got { differences.append("\(path): \(got.difference(from: want))") }
    }
    if comparingFileNames {
      let want = Set(expected.fileNames()), got = Set(actual.fileNames())
      for path in got.subtracting(want).sorted() { differences.append("\(path): only in kiln's build folder") }
      for path in want.subtracting(got).sorted() { differences.append("\(path): only in ninja's build folder") }
    }
    return differences
  }
}

/// A change to a fixture's source: `old` (which must be there) replaced by `new`.
struct SourceEdit: Sendable {
  var path: String
  var old: String
  var new: String

  func apply(to project: TempProject) throws {
    guard let text = project.read(path), text.contains(old) else {
      throw TempProjectError("\(path) does not contain \(old.debugDescription): the fixture changed, so must the test")
    }
    try project.write(path, text.replacingOccurrences(of: old, with: new))
  }
}

/// What the scenarios change in one fixture's sources.
struct FixtureEdits: Sendable {
  /// A source file compiled once: touched (its modification time changes, nothing
  /// else), then edited.
  var source: SourceEdit
  /// A header that more than one source file includes, edited.
  var header: SourceEdit
  /// The generator's build file, edited: the version, which configure_file writes into
  /// `build/config.h`, and which the shared library's file name carries.
  var buildFile: SourceEdit
}

extension SideBySide {
  /// What `NinjaCMakeTests` and `NinjaMesonTests` check on their fixture, one test
  /// case each.
  enum Scenario: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case stepByStep, testTarget, regeneration, freshWorktree, pathsStayInTheirCheckout

    var testDescription: String { rawValue }

    /// Runs this scenario on `generator`'s fixture. `regeneration` needs kiln ninja to
    /// rerun the generator edge and reload the manifest; `freshWorktree` needs it to
    /// normalise the checkout's paths out of keys (CMake writes absolute paths into
    /// every command; the fixtures' `-ffile-prefix-map` options name them too).
    func run(_ generator: Generator) throws {
      switch self {
      case .stepByStep: try SideBySide.stepByStep(generator)
      case .testTarget: try SideBySide.testTarget(generator)
      case .regeneration: try SideBySide.regeneration(generator, generator.edits.buildFile)
      case .freshWorktree: try SideBySide.freshWorktree(generator)
      case .pathsStayInTheirCheckout: try SideBySide.pathsStayInTheirCheckout(generator)
      }
    }
  }

  /// Cold, null, touch, edit a source (through the generator's build command), edit a
  /// header, delete products: the same bytes as ninja each time, and kiln compiles
  /// what ninja compiles, or nothing where content did not change.
  static func stepByStep(_ generator: Generator) throws {
    let edits = generator.edits
    let both = try SideBySide(generator)
    let cold = try both.step("cold")
    let objects = try both.ninja.products().filter { $0.hasSuffix(".o") }.count
    #expect(cold.ninja.compiles == objects && cold.kiln.compiles == objects, "cold: \(cold)")
    #expect(cold.kiln.ran != nil && cold.kiln.restored == 0, "cold: \(cold.kiln)")

    let null = try both.step("null")
    #expect(null.ninja.result.stdout.contains("ninja: no work to do."), "null: \(null.ninja)")
    #expect(null.kiln.ran == 0 && null.kiln.restored == 0 && null.kiln.compiles == 0, "null: \(null.kiln)")

    let touched = try both.step("touch \(edits.source.path)") { try $0.touch(edits.source.path, secondsFromNow: 0) }
    #expect(touched.ninja.compiles == 1, "touch: ninja recompiles the touched file: \(touched.ninja)")
    #expect(touched.kiln.ran == 0 && touched.kiln.compiles == 0, "touch: the content is the same: \(touched.kiln)")

    let source = try both.step("edit \(edits.source.path)", throughGenerator: true) { try edits.source.apply(to: $0) }
    #expect(source.ninja.compiles == 1 && source.kiln.compiles == 1, "edit a source: \(source)")
    #expect(source.kiln.ran != nil, "edit a source: kiln's summary through \(generator.rawValue): \(source.kiln)")

    let header = try both.step("edit \(edits.header.path)") { try edits.header.apply(to: $0) }
    #expect(header.ninja.compiles > 1 && header.kiln.compiles == header.ninja.compiles, "edit a header: \(header)")

    let deleted = try both.step("delete \(generator.deletedProducts.joined(separator: ", "))") { project in
      for path in generator.deletedProducts { project.remove("build/" + path) }
    }
    #expect(deleted.ninja.compiles > 0, "delete: ninja rebuilds: \(deleted.ninja)")
    #expect(deleted.kiln.ran == 0 && deleted.kiln.compiles == 0 && (deleted.kiln.restored ?? 0) > 0,
            "delete: kiln restores from its cache: \(deleted.kiln)")
  }

  /// The `test` target (a console-pool edge that runs ctest or `meson test`, whose
  /// output no command ever creates) runs the tests each time it is asked for, as
  /// under ninja, and succeeds.
  static func testTarget(_ generator: Generator) throws {
    let both = try SideBySide(generator)
    try both.step("cold")
    for round in 1...2 {
      for copy in [both.ninja, both.kiln] {
        let tested = try copy.runBuild(["test"])
        #expect(tested.result.status == 0, "test, round \(round), \(copy.builder.rawValue): \(tested)")
        #expect(generator.testsPassed(tested.result.output), "test, round \(round), \(copy.builder.rawValue): the tests did not run: \(tested)")
      }
    }
  }

  /// An edited build file: the build tool reruns the generator, reads the new
  /// manifest and goes on, which gives ninja's bytes, and the next build does nothing.
  /// Only products are compared: the edges the generator dropped leave their outputs
  /// behind under ninja (unless the generator runs `ninja -t cleandead`, as Meson does
  /// and CMake does not), and kiln deletes the ones it wrote (SPEC section 2).
  static func regeneration(_ generator: Generator, _ edit: SourceEdit) throws {
    let both = try SideBySide(generator)
    try both.step("cold")
    let regenerated = try both.step("edit \(edit.path)", comparingFileNames: false) { try edit.apply(to: $0) }
    let config = both.kiln.project.read("build/config.h") ?? ""
    #expect(both.ninja.project.read("build/config.h") == config && !config.isEmpty,
            "edit \(edit.path): kiln did not rerun \(generator.rawValue), config.h:\n\(config)")
    #expect(regenerated.kiln.compiles == regenerated.ninja.compiles, "edit \(edit.path): \(regenerated)")
    let null = try both.step("null after regenerating", comparingFileNames: false)
    #expect(null.ninja.result.stdout.contains("ninja: no work to do."), "null: \(null.ninja)")
    #expect(null.kiln.ran == 0 && null.kiln.compiles == 0, "null after regenerating: \(null.kiln)")
  }

  /// A fresh worktree: the same sources at another path, configured, built with the
  /// same cache. Its commands name its own folder, and its debug info does not
  /// (`-ffile-prefix-map`), so kiln restores what the first checkout built instead of
  /// compiling it again, and the products are ninja's bytes.
  static func freshWorktree(_ generator: Generator) throws {
    let both = try SideBySide(generator)
    try both.step("cold")
    let fresh = try GeneratedProject(checkoutOf: both.kiln)
    let built = try fresh.runBuild()
    try #require(built.result.status == 0, "fresh worktree: \(built)")
    let differences = try differences(both.ninja, fresh)
    #expect(differences.isEmpty, "fresh worktree: kiln's build differs from ninja's:\n\(differences.joined(separator: "\n"))")
    let objects = try both.ninja.products().filter { $0.hasSuffix(".o") }.count
    #expect(built.compiles < objects && (built.restored ?? 0) > 0,
            "fresh worktree: \(built.compiles) of \(objects) compiles ran; kiln: \(built.ran ?? -1) ran, \(built.restored ?? -1) restored")
  }

  /// Without `-ffile-prefix-map` every object names its checkout's folders: a second
  /// checkout sharing the cache must get products that name its own folder, never the
  /// first's (SPEC: an output embedding its checkout's path is restored only there).
  static func pathsStayInTheirCheckout(_ generator: Generator) throws {
    let tools = try BuildTools()
    let first = try GeneratedProject(generator, builtBy: .kiln, tools: tools, options: [generator.keepPathsOption])
    let built = try first.runBuild()
    try #require(built.result.status == 0, "first checkout: \(built)")
    let products = try first.products()
    let naming = products.filter { first.entry($0).contains(first.root) }
    try #require(naming.contains { $0.hasSuffix(".o") }, "without -ffile-prefix-map objects should name \(first.root)")
    let second = try GeneratedProject(checkoutOf: first)
    let again = try second.runBuild()
    try #require(again.result.status == 0, "second checkout: \(again)")
    for path in products {
      #expect(!second.entry(path).contains(first.root), "\(path) in the second checkout names the first checkout's folder")
    }
    #expect(second.entry(generator.essentialProducts[0]) != .missing, "second checkout: \(again)")
  }
}

extension BuildEntry {
  /// How this entry (kiln's) differs from `reference` (ninja's), in a few words.
  func difference(from reference: BuildEntry) -> String {
    if case .file(let bytes, let executable) = self, case .file(let want, let wantExecutable) = reference {
      let common = min(bytes.count, want.count)
      if let offset = (0..<common).first(where: { bytes[$0] != want[$0] }) ?? (bytes.count == want.count ? nil : common) {
        return "kiln's \(bytes.count) bytes differ from ninja's \(want.count) from offset \(offset) on"
      }
      return "kiln's is\(executable ? "" : " not") executable, ninja's is\(wantExecutable ? "" : " not")"
    }
    return "kiln's is \(summary), ninja's \(reference.summary)"
  }

  /// Whether the file's bytes hold `text`.
  func contains(_ text: String) -> Bool {
    guard case .file(let bytes, _) = self else { return false }
    return Data(bytes).range(of: Data(text.utf8)) != nil
  }
}
