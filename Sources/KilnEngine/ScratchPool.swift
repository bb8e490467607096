import KilnSystem
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The scratch folders of isolated runs (`.kiln/sandbox/<pid>-<n>/`, one per running
/// isolated command), emptied and kept for the next run instead of removed and made
/// again; all removed when the build is over (the last copy of its `Job` gone).
///
/// Why: on ext4, making a folder where many were just deleted walked the recently
/// freed inodes (`recently_deleted` in the inode allocator): about a millisecond of
/// kernel time per isolated task in kiln's own thread, growing with the build, more
/// than the sandbox itself cost (issue 19's measurements, docs/benchmarks.md).
package final class ScratchPool: Sendable {
  private struct State {
    var free: [String] = []
    var all: Set<String> = []
    var fileSystem: (any FileSystem)?
  }

  private let state = Mutex(State())
  /// Numbers this process's scratch folders.
  private let counter = Atomic<Int>(0)

  package init() {}

  deinit {
    state.withLock { state in
      for scratch in state.all { try? state.fileSystem?.remove(scratch) }
    }
  }

  /// A scratch folder under `parent` for one run, a kept one if there is one; it may
  /// not exist yet (its subfolders are made by the caller).
  package func take(under parent: String, fileSystem: any FileSystem) -> String {
    state.withLock { state in
      state.fileSystem = fileSystem
      if let kept = state.free.popLast() { return kept }
      let scratch = parent + "/\(getpid())-\(counter.add(1, ordering: .relaxed).newValue)"
      state.all.insert(scratch)
      return scratch
    }
  }

  /// `scratch`'s run is over: its folders are emptied and it is kept for the next run;
  /// what cannot be emptied is removed with the folder.
  package func giveBack(_ scratch: String, fileSystem: any FileSystem) {
    var emptied = true
    for name in fileSystem.contents(ofDirectory: scratch) ?? [] {
      let folder = scratch + "/" + name
      // The numbered folders stand for output folders: kept, emptied. Anything else
      // (the diagnosis run's trace folder) goes.
      guard !name.isEmpty, name.allSatisfy(\.isNumber) else {
        emptied = emptied && (try? fileSystem.remove(folder)) != nil
        continue
      }
      for entry in fileSystem.contents(ofDirectory: folder) ?? [] {
        emptied = emptied && (try? fileSystem.remove(folder + "/" + entry)) != nil
      }
    }
    if emptied {
      state.withLock { $0.free.append(scratch) }
    } else {
      discard(scratch, fileSystem: fileSystem)
    }
  }

  /// `scratch` is removed and not used again.
  package func discard(_ scratch: String, fileSystem: any FileSystem) {
    try? fileSystem.remove(scratch)
    state.withLock { _ = $0.all.remove(scratch) }
  }
}
