#if canImport(Glibc)
import Glibc
#endif
import CSpawn
import KilnCore
import KilnHash

/// Locks on output paths shared by every kiln process on the machine: a process that
/// runs or restores a step holds the lock of each file the step writes until it has
/// stored or restored them. Two steps with different commands writing one path at once
/// (a `make -j` with two rules for a file, two `kiln exec`) then take turns, so neither
/// stores the other's bytes as its own result; steps writing different files never wait
/// for each other, whatever folder they run in (no checkout-wide lock).
///
/// One byte of `<cache>/locks/outputs` per path (an `F_OFD_SETLKW` byte-range lock at an
/// offset taken from the path's digest), held by an open file description: the kernel
/// drops it when the process ends, kill -9 included. Two paths may share a byte: then
/// they wait for each other too, never the other way round.
package final class OutputLocks {
  private var fd: Int32 = -1

  /// Takes the locks of `paths` (absolute), in offset order so two processes wanting
  /// overlapping sets cannot each hold what the other waits for. Without a lock file
  /// (a cache kiln cannot write) it holds nothing.
  package init(cacheRoot: String, paths: [String], trust: CacheTrust) {
    guard !paths.isEmpty,
          let fd = try? OwnFile.open(cacheRoot + "/locks/outputs", O_RDWR | O_CREAT, mode: trust.lockFileMode)
    else {
      return
    }
    self.fd = fd
    let offsets = Set(paths.map(Self.offset)).sorted()
    for offset in offsets { _ = kiln_range_lock_wait(fd, offset) }
  }

  deinit { if fd >= 0 { close(fd) } }

  /// The byte standing for `path`.
  static func offset(_ path: String) -> Int64 {
    // `obj/../a.o`, `./a.o` and `a.o` are one file, and one lock.
    Int64(bitPattern: Hasher.digest("output\u{0}" + (Paths.normalize(path) ?? path)).high & 0x3FFF_FFFF_FFFF_FFFF)
  }
}
