#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The stats of many paths at once, on two threads when there are enough of them to
/// pay for the second (a snapshot's walk: a null build's and an edit build's first
/// milliseconds). Each thread takes one contiguous half of `paths` (sorted by folder,
/// so each keeps its folders open), and the stats come back in `paths`' order. Only
/// stats are taken: nothing is decided here.
package enum StatAll {
  /// Below this many paths one thread does it all (a thread costs about 50 µs).
  package static let threadedFrom = 512

  /// `paths[i]`: the path, absolute or under `root`, and whether links are followed
  /// (stat) or not (lstat).
  package static func stats(of paths: [(path: String, followsLinks: Bool)], under root: String = "",
                            in fileSystem: any FileSystem, threadedFrom minimum: Int = threadedFrom) -> [FileStat?] {
    guard paths.count >= minimum else { return take(paths[...], root, fileSystem) }
    let half = paths.count / 2
    let second = Half(Array(paths[half...]), root, fileSystem)
    guard let thread = OwnThread.start({ second.run() }) else { return take(paths[...], root, fileSystem) }
    let first = take(paths[..<half], root, fileSystem)
    pthread_join(thread, nil)
    return first + second.result
  }

  static func take(_ paths: ArraySlice<(path: String, followsLinks: Bool)>, _ root: String,
                   _ fileSystem: any FileSystem) -> [FileStat?] {
    var stats = PathStats(fileSystem, root: root)
    var out: [FileStat?] = []
    out.reserveCapacity(paths.count)
    for p in paths { out.append(stats.stat(p.path, followingLinks: p.followsLinks)) }
    return out
  }

  /// The second thread's half and, once it is joined, its stats.
  private final class Half: Sendable {
    let paths: [(path: String, followsLinks: Bool)]
    let root: String
    let fileSystem: any FileSystem
    private let taken = Mutex<[FileStat?]>([])

    init(_ paths: [(path: String, followsLinks: Bool)], _ root: String, _ fileSystem: any FileSystem) {
      self.paths = paths
      self.root = root
      self.fileSystem = fileSystem
    }

    func run() {
      let stats = StatAll.take(paths[...], root, fileSystem)
      taken.withLock { $0 = stats }
    }

    var result: [FileStat?] { taken.withLock { $0 } }
  }
}
