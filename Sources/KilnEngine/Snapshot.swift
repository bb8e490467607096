import KilnCore
import KilnHash
import KilnStore
import KilnSystem

/// One file (or folder) a build's verdicts depended on, with the stat they were made
/// under: an input, an output, a folder a glob listed, the build file itself.
package struct SnapshotEntry: Sendable, Hashable {
  /// Workspace-relative, or absolute for files outside the workspace (system headers).
  package var path: String
  /// false: the link itself was looked at (lstat), not what it points to.
  package var followsLinks: Bool
  /// nil: nothing was there.
  package var stat: FileStat?
  /// Wall-clock nanoseconds when the stat was taken (for the racy-clean rule).
  package var observedAt: Int64
  /// What the build saw in it, where known: a file's content digest (a file whose stat
  /// changed but whose content did not, `touch`, still holds), or a listed folder's
  /// `ObservingFileSystem.listingDigest` (a folder in which kiln replaced outputs under
  /// the same names still lists the same).
  package var digest: Digest?
  /// Only what kind of thing is there mattered (glob expansion's look at a name it
  /// listed), not its content: nothing else of its stat is compared.
  package var kindOnly = false
  /// Its stat was taken too close to its last change to stand for its content
  /// (`isRacy`; an output this build just wrote): its `digest` is compared even when
  /// the stat is the same.
  package var recheck = false
  /// Written after the others (an output or depfile of the build): a null build that
  /// fails finds an edited source before stat'ing every output. Only the order of the
  /// file; not encoded.
  package var late = false
  /// Reading the build file and expanding its globs depended on what it holds (the
  /// build file, a folder a glob listed), not only on its kind: its change may change
  /// the graph, so no build can stand on the rest of the snapshot (`SnapshotDelta`).
  package var expansion = false
  /// `digest` is of the names that count to the build's globs (`ListingFilter`, the
  /// snapshot's `filter`): a folder glob expansion's walk listed.
  package var filtered = false
  /// The instances whose verdicts depended on it (an input, declared or discovered, an
  /// output, the depfile), as positions in the snapshot's `instanceIDs`: those a change
  /// of it makes decide again (`SnapshotDelta`). Read only when asked
  /// (`BuildSnapshot.decode(_:users:)`).
  package var users: [Int32] = []

  package init(path: String, followsLinks: Bool = true, stat: FileStat?, observedAt: Int64, digest: Digest? = nil,
               kindOnly: Bool = false) {
    self.path = path
    self.followsLinks = followsLinks
    self.stat = stat
    self.observedAt = observedAt
    self.digest = digest
    self.kindOnly = kindOnly
  }

  /// What a reader's look at absolute `path` means for the snapshot: the path made
  /// workspace-relative, and an lstat of anything but a symlink counted as a stat (the
  /// two agree there, so one entry serves both).
  package init(looking path: String, in root: String, followsLinks: Bool, stat: FileStat?, at: Int64,
               digest: Digest? = nil, kindOnly: Bool = false) {
    let relative = Paths.relative(path, to: root).flatMap { $0.isEmpty ? nil : $0 }
    self.init(path: relative ?? path, followsLinks: followsLinks || stat?.kind != .symlink,
              stat: stat, observedAt: at, digest: digest, kindOnly: kindOnly)
  }

  /// A look of a reader of the build file (`ObservingFileSystem`): an exact one keeps
  /// what it saw, any other only the kind.
  package init(_ look: ObservingFileSystem.Look, in root: String) {
    self.init(looking: look.path, in: root, followsLinks: look.followsLinks, stat: look.stat, at: look.at,
              digest: look.exact ? look.digest : nil, kindOnly: !look.exact)
    filtered = look.exact && look.filtered
  }

  /// The order of the snapshot file: sources before `late` entries, each by path (a
  /// folder's names in one run; any order reads back the same).
  package static func filedBefore(_ a: SnapshotEntry, _ b: SnapshotEntry) -> Bool {
    a.late != b.late ? !a.late : a.path < b.path
  }

  /// Whether the file could still change without its stat showing it (`StatTrust`).
  package var isRacy: Bool {
    guard let stat else { return false }
    return StatTrust.isRacy(mtime: stat.mtime, ctime: stat.ctime, observedAt: observedAt)
  }
}

/// What a successful build left behind, so that the next `kiln build` of the same
/// targets can tell "nothing changed" with stats alone, as ninja does, before parsing
/// the build file or loading a record: every file and folder the build's verdicts
/// depended on, with its stat. If every stat is unchanged (and none was racy when
/// taken), every key and every output is what the manifest records, so every task is
/// up to date.
///
/// It never outlives the records it describes: a build removes it before it changes
/// any, and the manifest's own file is one of its entries (deleting or rebuilding the
/// manifest changes its stat). A null build taken from it writes nothing to SQLite: it
/// appends its history to the pending file (`PendingBuild`).
///
/// File: "KILNSNP1", then ByteWriter fields (see `encode`), then the XXH3-128 of those
/// fields. One per build file, next to its manifest.
package struct BuildSnapshot: Sendable {
  static let magic = Array("KILNSNP1".utf8)
  /// A snapshot from a kiln with other keys or another manifest schema is not used.
  static let version = "\(KeyBuilder.formatVersion)/manifest-\(Manifest.schemaVersion)/snapshot-4"

  package var root: String
  /// Which targets were built (`targetsKey`).
  package var targets: String
  /// The task names the history records for them (the default's names when none given).
  package var targetNames: [String]
  /// `hash_env` names the keys read, and the digest of their values then.
  package var environmentNames: [String]
  package var environmentDigest: Digest
  /// Task name, instances, recorded run time of those instances: the history rows of
  /// a build in which all of them are up to date.
  package var tasks: [(name: String, count: Int, saved: Double)]
  /// Lines the build printed on stderr before starting (foreach warnings), printed again.
  package var warnings: [String]
  package var entries: [SnapshotEntry]
  /// The globs expansion matched: what counts in a `filtered` entry's folder.
  package var filter = ListingFilter([])
  /// The instances the entries' `users` name (`TaskID` as text); empty: the snapshot
  /// says nothing of who used what, and only the full build decides a change.
  package var instanceIDs: [String] = []
  /// `GraphCache.digest(ofHidden:)` of the records' outputs when it was taken: what a
  /// build standing on it compares the graph cache with instead of loading every record.
  package var hiddenDigest: Digest?
  /// The seal of the graph cache file the build's graph came from (`Seal.digest(of:)`):
  /// a build standing on the snapshot does not check that cache's looks again, which
  /// are among the entries it just found unchanged. nil: not known.
  package var graphSeal: Digest?
  /// Where who used what begins in the file's body, when it was read without it
  /// (`readUsers(from:)`); not encoded.
  private var usersAt: Int?

  package var total: Int { tasks.reduce(0) { $0 + $1.count } }

  package init(root: String, targets: String, targetNames: [String], environmentNames: [String], environmentDigest: Digest,
               tasks: [(name: String, count: Int, saved: Double)], warnings: [String], entries: [SnapshotEntry]) {
    self.root = root
    self.targets = targets
    self.targetNames = targetNames
    self.environmentNames = environmentNames
    self.environmentDigest = environmentDigest
    self.tasks = tasks
    self.warnings = warnings
    self.entries = entries
  }

  /// The form `targets` takes: nil (the default) differs from every explicit list.
  package static func targetsKey(_ targets: [String]?) -> String {
    targets.map { "=" + $0.joined(separator: "\n") } ?? "default"
  }

  /// The digest of the named variables' values in `environment` (unset differs from empty).
  package static func environmentDigest(_ names: [String], _ environment: [String: String]) -> Digest {
    let key = KeyBuilder()
    for name in names {
      if let value = environment[name] { key.field("E", name + "\u{0}" + value) } else { key.field("U", name) }
    }
    return key.finalize()
  }

  package func encode() -> [UInt8] {
    var w = ByteWriter()
    // About 70 bytes an entry: one buffer, not a dozen doublings.
    w.reserveCapacity(256 + entries.count * 72)
    w.string(Self.version)
    w.string(root)
    w.string(targets)
    w.strings(targetNames)
    w.strings(environmentNames)
    w.digest(environmentDigest)
    w.varint(UInt64(tasks.count))
    for t in tasks {
      w.string(t.name)
      w.varint(UInt64(t.count))
      w.double(t.saved)
    }
    w.strings(warnings)
    w.strings(filter.patterns)
    w.varint(UInt64(entries.count))
    for e in entries {
      w.string(e.path)
      guard let st = e.stat else {
        w.varint(0)
        continue
      }
      w.varint(e.followsLinks ? 1 : 2)
      w.fileStat(st)
      w.varint((e.digest == nil ? 0 : 1) | (e.recheck ? 2 : 0) | (e.kindOnly ? 4 : 0) | (e.expansion ? 8 : 0)
        | (e.filtered ? 16 : 0))
      if let d = e.digest { w.digest(d) }
    }
    // Who used what, after the entries: a null build that finds nothing changed never
    // reads it.
    w.varint((hiddenDigest == nil ? 0 : 1) | (graphSeal == nil ? 0 : 2))
    if let hiddenDigest { w.digest(hiddenDigest) }
    if let graphSeal { w.digest(graphSeal) }
    w.strings(instanceIDs)
    if !instanceIDs.isEmpty {
      for e in entries {
        w.varint(UInt64(e.users.count))
        for u in e.users { w.varint(UInt64(u)) }
      }
    }
    // A digest of everything before it: a damaged file is never trusted.
    return Seal.close(Self.magic, w.bytes)
  }

  /// nil when the bytes are not a snapshot of this kiln's format. `users`: read who
  /// used each entry too (`SnapshotEntry.users`), and check every position names an
  /// instance; without, that part is not read.
  package static func decode(_ bytes: [UInt8], users: Bool = false) -> BuildSnapshot? {
    guard let body = Seal.open(magic, bytes) else { return nil }
    var r = ByteReader(body)
    do throws(ByteReader.Truncated) {
      guard try r.string() == Self.version else { return nil }
      let root = try r.string()
      let targets = try r.string()
      let targetNames = try r.strings()
      let names = try r.strings()
      let envDigest = try r.digest()
      var tasks: [(name: String, count: Int, saved: Double)] = []
      for _ in 0..<(try r.count()) {
        tasks.append((try r.string(), Int(truncatingIfNeeded: try r.varint()), try r.double()))
      }
      let warnings = try r.strings()
      let filter = ListingFilter(try r.strings())
      let n = try r.count()
      var entries: [SnapshotEntry] = []
      entries.reserveCapacity(n)
      for _ in 0..<n {
        let path = try r.string()
        let mode = try r.varint()
        if mode == 0 {
          entries.append(SnapshotEntry(path: path, stat: nil, observedAt: 0))
          continue
        }
        let stat = try r.fileStat()
        let flags = try r.varint()
        let digest = flags & 1 != 0 ? try r.digest() : nil
        var entry = SnapshotEntry(path: path, followsLinks: mode == 1, stat: stat, observedAt: 0, digest: digest,
                                  kindOnly: flags & 4 != 0)
        entry.recheck = flags & 2 != 0
        entry.expansion = flags & 8 != 0
        entry.filtered = flags & 16 != 0
        entries.append(entry)
      }
      var snapshot = BuildSnapshot(root: root, targets: targets, targetNames: targetNames, environmentNames: names,
                                   environmentDigest: envDigest, tasks: tasks, warnings: warnings, entries: entries)
      snapshot.filter = filter
      guard users else {
        snapshot.usersAt = r.position
        return snapshot
      }
      return snapshot.readingUsers(&r) ? snapshot : nil
    } catch {
      return nil
    }
  }

  /// Reads who used what (`SnapshotEntry.users`, `instanceIDs`, `hiddenDigest`) from
  /// `bytes`, the file this snapshot was read from without it; false when they are not
  /// that file's or do not hold (then nothing is changed).
  package mutating func readUsers(from bytes: [UInt8]) -> Bool {
    guard let usersAt, let body = Seal.open(Self.magic, bytes) else { return false }
    var r = ByteReader(body, at: usersAt)
    var copy = self
    guard copy.readingUsers(&r) else { return false }
    self = copy
    self.usersAt = nil
    return true
  }

  private mutating func readingUsers(_ r: inout ByteReader) -> Bool {
    do throws(ByteReader.Truncated) {
      let has = try r.varint()
      if has & 1 != 0 { hiddenDigest = try r.digest() }
      if has & 2 != 0 { graphSeal = try r.digest() }
      instanceIDs = try r.strings()
      let count = UInt64(instanceIDs.count)
      if count > 0 {
        for k in entries.indices {
          let n = try r.count()
          var list: [Int32] = []
          list.reserveCapacity(n)
          for _ in 0..<n {
            let u = try r.varint()
            // A position past the table: damaged or forged, never trusted.
            guard u < count else { return false }
            list.append(Int32(u))
          }
          entries[k].users = list
        }
      }
      return r.atEnd
    } catch {
      return false
    }
  }

  /// What comparing the snapshot with the disk found (`compare`).
  package enum Comparison {
    /// Nothing changed that matters: these entries (index, stat now) moved or were too
    /// recent to trust, and were found by `sameContent` to hold what the build saw.
    case holds([(index: Int, stat: FileStat)])
    /// Only the full build can judge: this entry's path changed (a file appearing,
    /// disappearing or changing kind, a link, other content, the build file's stat with
    /// no digest). Given to the full build as a hint of what to decide first. With
    /// `all` (`compare(fileSystem:all:sameContent:)`), the positions of every entry
    /// that changed, when no more than the limit did (else nil), and the entries that
    /// moved but were found to hold (index, stat now), as in `holds`.
    case changed(String, all: [Int]?, matched: [(index: Int, stat: FileStat)] = [])
  }

  /// Compares every entry with the disk, in file order, and stops at the first change:
  /// an entry whose stat changed, or was too recent to trust (`recheck`), is compared by
  /// content at once (`sameContent(index, stat now)`) when it may still hold what the
  /// build saw (the same kind, and the snapshot has its digest). Entries are written
  /// sorted by path, sources before outputs (`SnapshotEntry.late`), so a folder's files
  /// are stat'ed in one run and the first change named is a source's. Every entry is
  /// stat'ed first (`StatAll`, two threads past 512 entries), then compared in order.
  /// `all`: do not stop at the first change but go on, noting each, up to `all`
  /// changes (`SnapshotDelta`).
  package func compare(fileSystem: any FileSystem, all limit: Int = 0,
                       sameContent: (Int, FileStat) -> Bool) -> Comparison {
    var matched: [(index: Int, stat: FileStat)] = []
    var changed: [Int] = []
    var first: String?
    // The first change ends the comparison, or is noted while `limit` allows.
    func found(_ n: Int) -> Bool {
      if first == nil { first = entries[n].path }
      changed.append(n)
      return changed.count > limit
    }
    // Every stat first, on two threads when there are many (`StatAll`); then compared
    // in order. A change no longer stops the stats early, but the two halves take
    // about as long as the walk took to reach the middle.
    // Relative paths go as they are, joined to the root once per folder (`PathStats`).
    let taken = StatAll.stats(of: entries.map { (path: $0.path, followsLinks: $0.followsLinks) }, under: root, in: fileSystem)
    for n in entries.indices {
      let e = entries[n]
      // A relative path with no root has no folder (`PathStats`): nothing to stat.
      guard !root.isEmpty || e.path.utf8.contains(UInt8(ascii: "/")) else {
        if found(n) { return .changed(first!, all: nil) }
        continue
      }
      let now = taken[n]
      if e.kindOnly {
        if now?.kind == e.stat?.kind { continue }
        if found(n) { return .changed(first!, all: nil) }
        continue
      }
      if !e.recheck, StatTrust.same(now, e.stat) { continue }
      guard let now, now.kind == e.stat?.kind, now.kind == .file || now.kind == .directory, e.digest != nil,
            sameContent(n, now)
      else {
        if found(n) { return .changed(first!, all: nil) }
        continue
      }
      matched.append((n, now))
    }
    if let first { return .changed(first, all: changed, matched: matched) }
    return .holds(matched)
  }
}
