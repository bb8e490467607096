import KilnCore
import KilnHash
import KilnSystem

/// A file system in a dictionary, for engine tests (ninja's VirtualFileSystem). Times
/// come from a `ManualClock`, so a test controls mtimes and the racy-clean window.
package final class InMemoryFileSystem: FileSystem, @unchecked Sendable {
  private enum Node {
    case file(bytes: [UInt8], permissions: UInt32, mtime: Int64, ctime: Int64, inode: UInt64)
    case directory
  }

  private let lock = PThreadMutex()
  private var nodes: [String: Node] = ["/": .directory]
  private var nextInode: UInt64 = 1
  package let clock: ManualClock
  /// Every path written (by the engine or a fake command), in order.
  package private(set) var writes: [String] = []

  package init(clock: ManualClock) { self.clock = clock }

  // MARK: - Test helpers

  /// Creates or replaces a file (and its parent folders), stamped with the clock's now.
  package func write(_ path: String, _ text: String, permissions: UInt32 = 0o644) {
    write(path, Array(text.utf8), permissions: permissions)
  }

  package func write(_ path: String, _ bytes: [UInt8], permissions: UInt32 = 0o644) {
    lock.withLock {
      var parent = Paths.parent(path)
      while !parent.isEmpty, parent != "/", nodes[parent] == nil {
        nodes[parent] = .directory
        parent = Paths.parent(parent)
      }
      let now = clock.wallNanoseconds()
      nextInode += 1
      nodes[path] = .file(bytes: bytes, permissions: permissions, mtime: now, ctime: now, inode: nextInode)
      writes.append(path)
    }
  }

  /// Changes mtime only (`touch`).
  package func setModified(_ path: String) {
    lock.withLock {
      if case .file(let bytes, let p, _, _, let inode) = nodes[path] {
        let now = clock.wallNanoseconds()
        nodes[path] = .file(bytes: bytes, permissions: p, mtime: now, ctime: now, inode: inode)
      }
    }
  }

  /// Replaces a file's bytes keeping its stat (size must match): the edit a coarse
  /// timestamp cannot see, which only the racy-clean rule catches.
  package func overwriteKeepingStat(_ path: String, _ text: String) {
    lock.withLock {
      if case .file(let bytes, let p, let m, let c, let inode) = nodes[path], bytes.count == text.utf8.count {
        nodes[path] = .file(bytes: Array(text.utf8), permissions: p, mtime: m, ctime: c, inode: inode)
      }
    }
  }

  package func text(_ path: String) -> String? {
    guard let bytes = try? read(path) else { return nil }
    return String(decoding: bytes, as: UTF8.self)
  }

  package func exists(_ path: String) -> Bool { lock.withLock { nodes[path] != nil } }

  /// Every file path under a prefix, sorted.
  package func allFiles(under prefix: String) -> [String] {
    lock.withLock {
      nodes.compactMap { path, node in
        if case .file = node, path.hasPrefix(prefix + "/") { return path }
        return nil
      }.sorted()
    }
  }

  // MARK: - FileSystem

  package func stat(_ path: String) -> FileStat? {
    lock.withLock {
      switch nodes[path] {
      case .none: return nil
      case .directory: return FileStat(kind: .directory, size: 0, mtime: 0, ctime: 0, inode: 0, permissions: 0o755)
      case .file(let bytes, let p, let m, let c, let inode):
        return FileStat(kind: .file, size: Int64(bytes.count), mtime: m, ctime: c, inode: inode, permissions: p)
      }
    }
  }

  package func lstat(_ path: String) -> FileStat? { stat(path) }

  package func digest(of path: String, scanningFor needle: [UInt8]) throws(FileSystemError) -> (Digest, Bool) {
    let bytes = try read(path)
    let found = !needle.isEmpty && bytes.count >= needle.count
      && (0...(bytes.count - needle.count)).contains { Array(bytes[$0..<$0 + needle.count]) == needle }
    return (Hasher.digest(bytes), found)
  }

  package func digest(of path: String) throws(FileSystemError) -> Digest {
    Hasher.digest(try read(path))
  }

  package func contents(ofDirectory path: String) -> [String]? {
    lock.withLock {
      guard case .directory = nodes[path] else { return nil }
      let prefix = path == "/" ? "/" : path + "/"
      return nodes.keys.compactMap { key in
        guard key.hasPrefix(prefix), key != path else { return nil }
        let rest = key.dropFirst(prefix.count)
        return rest.contains("/") ? nil : String(rest)
      }
    }
  }

  package func read(_ path: String) throws(FileSystemError) -> [UInt8] {
    let node = lock.withLock { nodes[path] }
    guard case .file(let bytes, _, _, _, _) = node else { throw FileSystemError(path, "No such file or directory") }
    return bytes
  }

  package func writeAtomically(_ bytes: [UInt8], to path: String, permissions: UInt32) throws(FileSystemError) {
    guard stat(Paths.parent(path))?.kind == .directory else { throw FileSystemError(path, "No such file or directory") }
    write(path, bytes, permissions: permissions)
  }

  package func copy(_ source: String, to destination: String, permissions: UInt32) throws(FileSystemError) -> Digest {
    let bytes = try read(source)
    try writeAtomically(bytes, to: destination, permissions: permissions)
    return Hasher.digest(bytes)
  }

  package func createDirectory(_ path: String) throws(FileSystemError) {
    let ok: Bool = lock.withLock {
      guard case .directory = nodes[Paths.parent(path)] else { return false }
      if nodes[path] == nil { nodes[path] = .directory }
      return true
    }
    if !ok { throw FileSystemError(path, "No such file or directory") }
  }

  package func remove(_ path: String) throws(FileSystemError) {
    lock.withLock {
      let prefix = path + "/"
      nodes = nodes.filter { key, _ in key != path && !key.hasPrefix(prefix) }
    }
  }

  package func rename(_ source: String, to destination: String) throws(FileSystemError) {
    let ok: Bool = lock.withLock {
      guard let node = nodes.removeValue(forKey: source) else { return false }
      nodes[destination] = node
      return true
    }
    if !ok { throw FileSystemError(source, "No such file or directory") }
  }

  package func touch(_ path: String) {}
}
