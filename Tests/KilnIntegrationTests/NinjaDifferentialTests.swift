import Foundation
import KilnTestSupport
import Testing

/// `kiln ninja` against the real ninja on random manifests (`NinjaFuzzManifest`): two
/// copies of one project, ninja building one and kiln the other, then the same random
/// steps on both (a null build, a source touched or edited, a later line edited under
/// a `restat` edge, a file read only through a depfile edited, an edit reverted, an
/// edge's command changed in the manifest, an output deleted, a source broken so that
/// the commands checking it fail, then repaired), each step building the defaults or a
/// random target (`NinjaFuzzRun`).
///
/// The invariant, after every step:
/// - **Status**: both exit 0; or, when the step broke a source, both exit 0 or both 1,
///   and 1 when a command the targets need checks that source.
/// - **Outputs** (when the build succeeded): every output the manifest declares has
///   the same bytes in both copies, or is absent from both. Depfiles and rspfiles are
///   not outputs.
/// - **Commands**: let W be the edges the step's targets need (through explicit,
///   implicit and order-only inputs and, when generated, validations; phony edges
///   walked through), and an edge's *content key* its command (not for a generator
///   edge, which ninja does not rebuild for a new command alone) and the contents of its explicit and implicit inputs (a phony input standing for
///   the explicit and implicit inputs behind it; a phony with no inputs for its own
///   file) and of the files its depfile names. An edge of W *needs work* when its key
///   differs from its key at its last successful build in kiln's copy, or an output
///   of it was deleted since (by the step, or left missing by its failure), or it
///   depends on a `FORCE` phony (no inputs, no file). Then kiln **ran** exactly the
///   edges that need work and that it cannot restore (a key it never stored, a
///   generator or console-pool edge, which it never caches, a `FORCE` dependent), and
///   **restored** exactly the others that need work; nothing else ran: touching a file
///   is no change, and an output that comes out the same cuts off what depends on it
///   (early cutoff, as `restat` does for ninja). ninja, which decides by mtimes, ran
///   every edge that needs work (a check of the model) and no edge outside W. So
///   what kiln ran is a subset of what ninja ran, and on the cold build (empty cache,
///   no outputs) both ran exactly W. When the build failed, each tool stopped
///   somewhere: kiln ran and restored a part of what the rule above says, and each
///   edge it reports failed reads a broken file. These are the differences
///   `docs/reference.md` documents for `kiln ninja`: content keys, not mtimes, and
///   the shared cache.
///
/// The seeds are fixed so that a failure reproduces; the failure message gives the
/// seed, the steps and the manifest. `KILN_FUZZ_SEEDS=N` runs seeds 1...N instead,
/// `KILN_FUZZ_SEED=S` only seed S. Validations and pool depths are in every manifest;
/// `KILN_FUZZ_FEATURES` names the ones to keep (`none`, `validations`, `pools`,
/// `NinjaFuzzManifest.Features`).
@Suite struct NinjaDifferentialTests {
  static let ninja = "/usr/bin/ninja"
  static let steps = 12

  static let seeds: [UInt64] = {
    let environment = ProcessInfo.processInfo.environment
    if let text = environment["KILN_FUZZ_SEED"], let seed = UInt64(text) { return [seed] }
    if let text = environment["KILN_FUZZ_SEEDS"], let count = UInt64(text), count > 0 { return Array(1...count) }
    return Array(1...12)
  }()

  static let features: NinjaFuzzManifest.Features = {
    let names = Set((ProcessInfo.processInfo.environment["KILN_FUZZ_FEATURES"] ?? "validations,pools").split(separator: ","))
    return NinjaFuzzManifest.Features(validations: names.contains("validations"), poolDepth: names.contains("pools"))
  }()

  @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: ninja), "needs /usr/bin/ninja"), arguments: seeds)
  func kilnNinjaDoesWhatNinjaDoes(seed: UInt64) throws {
    let manifest = NinjaFuzzManifest(seed: seed, features: Self.features)
    var run = try NinjaFuzzRun(manifest)
    do {
      try run.go(steps: Self.steps)
    } catch {
      Issue.record("seed \(seed): \(error)\nsteps:\n\(run.history.joined(separator: "\n"))\n\(manifest.listing)")
    }
  }
}
