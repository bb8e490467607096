import KilnCore
import KilnHash
import KilnSystem
import Synchronization

/// A file system in a dictionary, for engine tests (ninja's VirtualFileSystem). Times
/// come from a `ManualClock`, so a test controls mtimes and the racy-clean window.
package final class InMemoryFileSystem: FileSystem, Sendable {
  private enum Node {
    case file(bytes: [UInt8], permissions: UInt32, mtime: Int64, ctime: Int64, inode: UInt64)
    case directory
  }

  private struct State {
    var nodes: [String: Node] = ["/": .directory]
    var nextInode: UInt64 = 1
    var writes: [String] = []
  }

  private let state = Mutex(State())
  package let clock: ManualClock
  /// Every path written (by the engine or a fake command), in order.
  package var writes: [String] { state.withLock { $0.writes } }

  package init(clock: ManualClock) { self.clock = clock }

  // MARK: - Test helpers

  /// Creates or replaces a file (and its parent folders), stamped with the clock's now.
  package func write(_ path: String, _ text: String, permissions: UInt32 = 0o644) {
    write(path, Array(text.utf8), permissions: permissions)
  }

  package func write(_ path: String, _ bytes: [UInt8], permissions: UInt32 = 0o644) {
    state.withLock { s in
      var parent = Paths.parent(path)
      while !parent.isEmpty, parent != "/", s.nodes[parent] == nil {
        s.nodes[parent] = .directory
        parent = Paths.parent(parent)
      }
      let now = clock.wallNanoseconds()
      s.nextInode += 1
      s.nodes[path] = .file(bytes: bytes, permissions: permissions, mtime: now, ctime: now, inode: s.nextInode)
      s.writes.append(path)
    }
  }

  /// Changes mtime only (`touch`).
  package func setModified(_ path: String) {
    state.withLock { s in
      if case .file(let bytes, let p, _, _, let inode) = s.nodes[path] {
        let now = clock.wallNanoseconds()
        s.nodes[path] = .file(bytes: bytes, permissions: p, mtime: now, ctime: now, inode: inode)
      }
    }
  }

  /// Replaces a file's bytes keeping its stat (size must match): the edit a coarse
  /// timestamp cannot see, which only the racy-clean rule catches.
  package func overwriteKeepingStat(_ path: String, _ text: String) {
    state.withLock { s in
      if case .file(let bytes, let p, let m, let c, let inode) = s.nodes[path], bytes.count == text.utf8.count {
        s.nodes[path] = .file(bytes: Array(text.utf8), permissions: p, mtime: m, ctime: c, inode: inode)
      }
    }
  }

  package func text(_ path: String) -> String? {
    guard let bytes = try? read(path) else { return nil }
    return String(decoding: bytes, as: UTF8.self)
  }

  package func exists(_ path: String) -> Bool { state.withLock { s in s.nodes[path] != nil } }

  /// Every file path under a prefix, sorted.
  package func allFiles(under prefix: String) -> [String] {
    state.withLock { s in
      s.nodes.compactMap { path, node in
        if case .file = node, path.hasPrefix(prefix + "/") { return path }
        return nil
      }.sorted()
    }
  }

  // MARK: - FileSystem

  package func stat(_ path: String) -> FileStat? {
    state.withLock { s in
      switch s.nodes[path] {
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
    state.withLock { s in
      guard case .directory = s.nodes[path] else { return nil }
      let prefix = path == "/" ? "/" : path + "/"
      return s.nodes.keys.compactMap { key in
        guard key.hasPrefix(prefix), key != path else { return nil }
        let rest = key.dropFirst(prefix.count)
        return rest.contains("/") ? nil : String(rest)
      }
    }
  }

  package func read(_ path: String) throws(FileSystemError) -> [UInt8] {
    let node = state.withLock { s in s.nodes[path] }
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
    let ok: Bool = state.withLock { s in
      guard case .directory = s.nodes[Paths.parent(path)] else { return false }
      if s.nodes[path] == nil { s.nodes[path] = .directory }
      return true
    }
    if !ok { throw FileSystemError(path, "No such file or directory") }
  }

  package func remove(_ path: String) throws(FileSystemError) {
    state.withLock { s in
      let prefix = path + "/"
      s.nodes = s.nodes.filter { key, _ in key != path && !key.hasPrefix(prefix) }
    }
  }

  package func rename(_ source: String, to destination: String) throws(FileSystemError) {
    let ok: Bool = state.withLock { s in
      guard let node = s.nodes.removeValue(forKey: source) else { return false }
      s.nodes[destination] = node
      return true
    }
    if !ok { throw FileSystemError(source, "No such file or directory") }
  }

  package func touch(_ path: String) {}
}
