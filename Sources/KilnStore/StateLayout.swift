/// Where kiln keeps a checkout's state: the folder `.kiln/` beside the build file, and
/// every file in it. The one place that names them; nothing else builds a path under
/// `.kiln/` by hand.
///
/// Another build file in the same folder (`-f ci.yml`) keeps its own manifest,
/// `state-ci.yml.db`, and its own snapshot and graph cache beside it, so neither build
/// file treats the other's tasks as stale.
package struct StateLayout: Sendable, Hashable {
  /// The checkout's root: the build file's folder.
  package let root: String
  /// The build file's name (`kiln.yml`, `ci.yml`).
  package let buildFileName: String

  package init(root: String, buildFileName: String = "kiln.yml") {
    self.root = root
    self.buildFileName = buildFileName
  }

  /// `.kiln/` itself.
  package var folder: String { root + "/.kiln" }
  /// The SQLite manifest: records, stat cache, history (`Manifest`).
  package var manifest: String { folder + "/" + stem + ".db" }
  /// The last build's "nothing changed" snapshot (`BuildSnapshot`).
  package var snapshot: String { folder + "/" + stem + ".snapshot" }
  /// The expanded graph of the build file (`GraphCache`).
  package var graphCache: String { folder + "/" + stem + ".graph" }
  /// Builds answered from the snapshot, not yet in the manifest (`PendingHistory`).
  package var pending: String { Self.pending(ofManifest: manifest) }
  /// Held by every command that writes this checkout's outputs or records (`CheckoutLock`).
  package var lock: String { folder + "/lock" }
  /// There while a build that writes outputs runs (see `Session.beginWriting`).
  package var unfinished: String { folder + "/unfinished" }
  /// Workspaces of a checkout that is not a git repository: copies, one folder each,
  /// their registry (one file per workspace) and the lock that guards it.
  package var copies: String { folder + "/ws" }
  package var copiesRegistry: String { folder + "/ws-meta" }
  package var copiesLock: String { folder + "/ws-lock" }
  /// Scratch folders of tasks running with `isolate: true`, one each while it runs: the
  /// folders it writes its outputs in, moved into the checkout when it succeeds.
  package var sandboxes: String { folder + "/sandbox" }

  /// Every file kiln keeps here for this build file; none may be a symbolic link.
  package var keptFiles: [String] {
    [manifest] + Database.companionSuffixes.map { manifest + $0 } + [pending, snapshot, graphCache]
  }

  /// The manifest called `fileName` (`state.db`, `state-ci.yml.db`) in this `.kiln/`.
  package func manifest(named fileName: String) -> String { folder + "/" + fileName }

  /// The pending-history file of the manifest at `manifest`.
  package static func pending(ofManifest manifest: String) -> String { manifest + "-pending" }

  private var stem: String { buildFileName == "kiln.yml" ? "state" : "state-" + buildFileName }
}
