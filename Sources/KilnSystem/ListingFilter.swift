import KilnCore
import KilnHash

/// What of a folder's listing glob expansion depends on: its folders (a walk goes
/// into each), and the files, links and other entries some glob of the build could
/// match; nothing else. A listing digest through the filter stays the same when a
/// name no glob can match comes or goes: a compiler's depfile written beside its
/// object for the first time (every compile after a restore from the cache), an
/// editor's swap file beside a source. Both used to change the folder's digest, so the
/// next build expanded the build file again and decided every instance.
///
/// Anything it cannot judge counts: an entry whose kind the listing did not give (it
/// may be a folder), a name that is not UTF-8. Names kiln writes while it replaces a
/// file (`Paths.isTemporary`) do not count: the walk leaves them out of every match.
package struct ListingFilter: Sendable {
  /// The globs, as expansion matched them (workspace-relative, normalised), sorted.
  package let patterns: [String]
  private let globs: [Glob]

  package init(_ patterns: [String]) {
    self.patterns = Array(Set(patterns)).sorted()
    globs = self.patterns.map(Glob.init)
  }

  /// Whether expansion depends on `entry` of the workspace-relative `folder` ("": the
  /// workspace's root).
  package func counts(_ entry: DirectoryEntry, in folder: String) -> Bool {
    counts(entry, in: folder, globs: globs(reaching: folder))
  }

  /// `ObservingFileSystem.listingDigest` of the entries that count.
  package func digest(of entries: [DirectoryEntry], in folder: String) -> Digest {
    let reaching = globs(reaching: folder)
    return ObservingFileSystem.listingDigest(entries.filter { counts($0, in: folder, globs: reaching) })
  }

  /// The globs that can match a name in `folder`: those whose literal prefix is the
  /// folder or above it (most folders: one).
  private func globs(reaching folder: String) -> [Glob] {
    globs.filter { glob in
      // As bytes, as the globs match: a Character comparison may join a "/" with a
      // combining mark after it and leave out a glob that can match.
      let prefix = glob.literalPrefix.utf8, path = folder.utf8
      return prefix.isEmpty || path.elementsEqual(prefix)
        || (path.starts(with: prefix) && path.dropFirst(prefix.count).first == UInt8(ascii: "/"))
    }
  }

  private func counts(_ entry: DirectoryEntry, in folder: String, globs: [Glob]) -> Bool {
    guard let kind = entry.kind, kind != .directory else { return true }
    if entry.name.unicodeScalars.contains("\u{FFFD}") { return true }
    if globs.isEmpty || Paths.isTemporary(entry.name) { return false }
    let path = folder.isEmpty ? entry.name : folder + "/" + entry.name
    return globs.contains { $0.matches(path) }
  }

  /// The digest of the folder at absolute `path` listed again now; nil when it cannot
  /// be listed or is not inside `root`.
  package func digest(ofFolder path: String, root: String, in fileSystem: any FileSystem) -> Digest? {
    guard let folder = Paths.relative(path, to: root), let entries = fileSystem.entries(ofDirectory: path) else {
      return nil
    }
    return digest(of: entries, in: folder)
  }
}
