

/// When a stat can stand for a file's content: the one racy-clean rule and the one
/// stat comparison of the stat cache, the graph cache and the null build.
///
/// A file modified within the file system's timestamp granularity of the moment it was
/// looked at could change again without its mtime moving (git's "racy clean" problem):
/// such a look proves nothing about the next one, and the file is hashed again.
package enum StatTrust {
  /// Nanoseconds: how close to the look a file's mtime or ctime may be before it is
  /// racy. 50 ms covers the kernel's coarse clock tick; file systems with whole-second
  /// times (their nanoseconds are 0) get 2 s.
  package static let window: Int64 = 50_000_000
  package static let coarseWindow: Int64 = 2_000_000_000

  /// Whether a file with these times, looked at at `observedAt` (wall nanoseconds),
  /// could still change without its stat showing it.
  package static func isRacy(mtime: Int64, ctime: Int64, observedAt: Int64) -> Bool {
    let window = mtime % 1_000_000_000 == 0 ? coarseWindow : window
    return max(mtime, ctime) >= observedAt - window
  }

  /// Same file, same content as far as stat can tell: kind, size, mtime, ctime, inode
  /// and mode (nothing there both times counts as the same).
  package static func same(_ a: FileStat?, _ b: FileStat?) -> Bool {
    switch (a, b) {
    case (nil, nil): true
    case let (a?, b?):
      a.kind == b.kind && a.size == b.size && a.mtime == b.mtime && a.ctime == b.ctime && a.inode == b.inode
        && a.permissions == b.permissions
    default: false
    }
  }
}
