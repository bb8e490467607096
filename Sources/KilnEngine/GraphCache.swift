import KilnCore
import KilnHash
import KilnStore
import KilnSystem

/// The expanded graph of the last build, kept so that a build whose build file and
/// folders did not change skips parsing and glob expansion (most of a non-null build's
/// own time on a large project). It is valid while:
/// - every folder a glob listed, and the build file itself, has the same stat (adding,
///   removing or renaming an entry changes a folder's mtime), or else, compared again,
///   the same content: a folder the same names that count to the build's globs
///   (`ListingFilter`: kiln replaced an output in it, as every build that runs a task
///   does, or a compile wrote its depfile there), a file the same bytes; a stat too
///   recent to trust when the cache was made (`recheck`) is always compared again;
/// - every other path expansion looked at is still of the same kind (a file, a folder,
///   absent): expansion never reads a file's content, so editing one changes nothing;
/// - the set of output paths recorded in the manifest (which globs leave out while
///   stale) is the same: one digest of the sorted paths, not of their contents.
///
/// File: "KILNGRF2", then ByteWriter fields (see `encode`), then the XXH3-128 of those
/// fields (16 bytes), next to the manifest. A file whose digest does not match is not
/// used: one flipped byte must never become a different command or input.
package struct GraphCache: Sendable {
  static let magic = Array("KILNGRF2".utf8)
  static let version = "\(KeyBuilder.formatVersion)/graph-5"

  /// One path expansion depended on: its whole stat (`exact`: folders listed, the build
  /// file), or only its kind.
  package struct Look: Sendable {
    package var path: String
    package var followsLinks: Bool
    package var exact: Bool
    package var stat: FileStat?
    /// For an exact look: what it saw (`ObservingFileSystem.Look.digest`).
    package var digest: Digest?
    /// The stat was too recent to trust (`StatTrust`): the content is compared anyway.
    package var recheck: Bool
    /// `digest` is of what counts to the cache's `filter`, not the whole listing.
    package var filtered: Bool

    package init(path: String, followsLinks: Bool, exact: Bool, stat: FileStat?, digest: Digest? = nil,
                 recheck: Bool = false, filtered: Bool = false) {
      self.path = path
      self.followsLinks = followsLinks
      self.exact = exact
      self.stat = stat
      self.digest = digest
      self.recheck = recheck
      self.filtered = filtered
    }
  }

  package var root: String
  package var hiddenDigest: Digest
  package var looks: [Look]
  /// The globs expansion matched: what counts in a folder a walk listed (`filtered`).
  package var filter: ListingFilter
  package var graph: TaskGraph
  /// What the reader of the build file keeps beside the graph (`kiln ninja`: targets,
  /// defaults, validations, pools), opaque here; sealed with the rest.
  package var extra: [UInt8]

  package init(root: String, hiddenDigest: Digest, looks: [Look], filter: ListingFilter = ListingFilter([]),
              graph: TaskGraph, extra: [UInt8] = []) {
    self.root = root
    self.hiddenDigest = hiddenDigest
    self.looks = looks
    self.filter = filter
    self.graph = graph
    self.extra = extra
  }

  /// One digest of the paths of the recorded outputs that globs hide (their paths, not
  /// their contents: a glob sees names).
  package static func digest(ofHidden hidden: Set<String>) -> Digest {
    let key = KeyBuilder()
    for path in hidden.sorted() { key.field("O", path) }
    return key.finalize()
  }

  /// How many looks compared by content make it worth writing the cache back with
  /// their new stats: a folder listed again costs far less than encoding and writing a
  /// graph of hundreds of instances (400 units: 6 million instructions), so a build
  /// that reran one compile leaves the cache as it was.
  static let rewriteAfter = 32

  /// The cached graph at `path`, if it still holds, with what expansion would have
  /// looked at (stat'ed now, for the build's snapshot); nil if anything differs. When
  /// many looks had to be compared by content and their new stats can be trusted, the
  /// cache is written back with them, so the next build need not compare them again.
  package static func reuse(at path: String, root: String, hiddenDigest: Digest, fileSystem: any FileSystem,
                            clock: any TimeSource) -> (GraphCache, [SnapshotEntry])? {
    reuse(candidate(at: path, root: root, fileSystem: fileSystem, clock: clock), at: path, hiddenDigest: hiddenDigest,
          fileSystem: fileSystem)
  }

  /// A cache read and checked against the disk, not yet against the recorded outputs
  /// (`reuse(_:at:hiddenDigest:fileSystem:)`): the part of `reuse` that needs no
  /// record, so that a build can do it while it loads them.
  package struct Candidate: Sendable {
    var cache: GraphCache
    var entries: [SnapshotEntry]
    var refreshed: Int
    /// The digest the file ends with (`Seal`): which cache this is, byte for byte.
    var seal: Digest?
  }

  /// The cache at `path` if it still holds on disk (everything `reuse` checks but the
  /// hidden outputs); nil if anything differs. `trusting`: when the file is the one
  /// with that seal, the cache a snapshot whose every entry was just found unchanged
  /// was taken with (`SnapshotDelta`), its looks are not stat'ed again: the snapshot's
  /// entries are those looks, checked a moment ago.
  package static func candidate(at path: String, root: String, fileSystem: any FileSystem,
                                clock: any TimeSource, trusting seal: Digest? = nil) -> Candidate? {
    guard let bytes = try? OwnFile.read(path) else { return nil }
    let found = Seal.digest(of: bytes)
    if let seal, found == seal {
      guard let cache = decode(bytes), cache.root == root else { return nil }
      let at = clock.wallNanoseconds()
      let entries = cache.looks.map { look in
        var e = SnapshotEntry(looking: look.path, in: root, followsLinks: look.followsLinks, stat: look.stat, at: at,
                              digest: look.exact ? look.digest : nil, kindOnly: !look.exact)
        e.recheck = look.recheck
        e.filtered = look.exact && look.filtered
        return e
      }
      return Candidate(cache: cache, entries: entries, refreshed: 0, seal: found)
    }
    guard let (cache, entries, refreshed) = loadCache(bytes, root: root, hiddenDigest: nil, fileSystem: fileSystem,
                                                      clock: clock)
    else { return nil }
    return Candidate(cache: cache, entries: entries, refreshed: refreshed, seal: refreshed > rewriteAfter ? nil : found)
  }

  /// `candidate`'s cache, if its recorded outputs are `hiddenDigest`'s too: the graph
  /// and what expansion would have looked at. Written back as `reuse` says.
  package static func reuse(_ candidate: Candidate?, at path: String, hiddenDigest: Digest,
                            fileSystem: any FileSystem) -> (GraphCache, [SnapshotEntry])? {
    reuseSealed(candidate, at: path, hiddenDigest: hiddenDigest, fileSystem: fileSystem).map { ($0.0, $0.1) }
  }

  /// `reuse`, with the seal of the cache file as it is after (nil: not known).
  package static func reuseSealed(_ candidate: Candidate?, at path: String, hiddenDigest: Digest,
                                  fileSystem: any FileSystem) -> (GraphCache, [SnapshotEntry], Digest?)? {
    guard let candidate, candidate.cache.hiddenDigest == hiddenDigest else { return nil }
    if candidate.refreshed > rewriteAfter {
      let bytes = candidate.cache.encode()
      let written = (try? fileSystem.writeAtomically(bytes, to: path, permissions: 0o644)) != nil
      return (candidate.cache, candidate.entries, written ? Seal.digest(of: bytes) : nil)
    }
    return (candidate.cache, candidate.entries, candidate.seal)
  }

  /// The cache in `bytes` with its looks as they are now, if it still holds; `refreshed`:
  /// how many looks' stats moved or became trustworthy (worth writing back).
  /// `hiddenDigest` nil: not compared here (the caller does, `reuse`).
  package static func loadCache(_ bytes: [UInt8], root: String, hiddenDigest: Digest?, fileSystem: any FileSystem,
                                clock: any TimeSource) -> (cache: GraphCache, entries: [SnapshotEntry], refreshed: Int)? {
    guard var cache = decode(bytes), cache.root == root, hiddenDigest.map({ cache.hiddenDigest == $0 }) ?? true
    else { return nil }
    var entries: [SnapshotEntry] = []
    entries.reserveCapacity(cache.looks.count)
    var refreshed = 0
    // Names relative to their folder, kept open while the looks stay in it (expansion
    // looked at a listed folder's names one after another): a thousand looks walk a
    // thousand short paths, not a thousand full ones.
    var cursor = fileSystem.statCursor()
    var folder = ""
    for (i, look) in cache.looks.enumerated() {
      let at = clock.wallNanoseconds()
      let now: FileStat?
      if let slash = look.path.utf8.lastIndex(of: UInt8(ascii: "/")), slash != look.path.startIndex,
         look.path.utf8.index(after: slash) != look.path.endIndex {
        let parent = look.path[..<slash]
        if parent != folder { folder = String(parent) }
        now = cursor.stat(String(look.path[look.path.utf8.index(after: slash)...]), in: folder,
                          followingLinks: look.followsLinks)
      } else {
        now = look.followsLinks ? fileSystem.stat(look.path) : fileSystem.lstat(look.path)
      }
      if look.exact {
        if look.recheck || !StatTrust.same(now, look.stat) {
          // Perhaps still the same names or bytes (an output replaced in a listed folder).
          guard let now, now.kind == look.stat?.kind, let digest = look.digest,
                ObservingFileSystem.contentDigest(of: look.path, kind: now.kind, in: fileSystem,
                                                  through: look.filtered ? cache.filter : nil, root: root) == digest
          else { return nil }
          let racy = SnapshotEntry(path: look.path, stat: now, observedAt: at).isRacy
          if !StatTrust.same(now, look.stat) || !racy { refreshed += 1 }
          cache.looks[i].stat = now
          cache.looks[i].recheck = racy
        }
      } else {
        guard now?.kind == look.stat?.kind else { return nil }
      }
      var entry = SnapshotEntry(looking: look.path, in: root, followsLinks: look.followsLinks, stat: now, at: at,
                                digest: look.exact ? look.digest : nil, kindOnly: !look.exact)
      entry.filtered = look.exact && look.filtered
      entries.append(entry)
    }
    return (cache, entries, refreshed)
  }

  /// What to keep after an expansion; nil when a folder or the build file changed too
  /// recently for its stat to be trusted and what was seen in it is not known.
  package static func make(root: String, hiddenDigest: Digest, looks: [ObservingFileSystem.Look],
                           filter: ListingFilter = ListingFilter([]), graph: TaskGraph,
                           extra: [UInt8] = []) -> GraphCache? {
    var kept: [Look] = []
    var seen: [String: Int] = [:]
    for look in looks {
      let exact = look.exact
      let key = (look.followsLinks ? "s" : "l") + (exact ? "!" : "") + look.path
      if let k = seen[key] {
        // A folder a walk listed and some other reader too: that reader saw every name.
        if exact, kept[k].filtered, !look.filtered, look.digest != nil {
          kept[k].digest = look.digest
          kept[k].filtered = false
        }
        continue
      }
      seen[key] = kept.count
      var recheck = false
      if exact, SnapshotEntry(path: look.path, stat: look.stat, observedAt: look.at).isRacy {
        guard look.digest != nil else { return nil }
        recheck = true
      }
      kept.append(Look(path: look.path, followsLinks: look.followsLinks, exact: exact, stat: look.stat,
                       digest: exact ? look.digest : nil, recheck: recheck, filtered: exact && look.filtered))
    }
    return GraphCache(root: root, hiddenDigest: hiddenDigest, looks: kept, filter: filter, graph: graph, extra: extra)
  }

  /// After an expansion through `observing`: the graph cache written at `path` (or
  /// removed, when it cannot be kept), and what expansion looked at, for the snapshot.
  package static func store(at path: String, root: String, hiddenDigest: Digest, observing: ObservingFileSystem,
                            graph: TaskGraph, extra: [UInt8] = [], fileSystem: any FileSystem) -> [SnapshotEntry] {
    storeSealed(at: path, root: root, hiddenDigest: hiddenDigest, observing: observing, graph: graph, extra: extra,
                fileSystem: fileSystem).entries
  }

  /// `store`, with the seal of the file written (nil: none written).
  package static func storeSealed(at path: String, root: String, hiddenDigest: Digest, observing: ObservingFileSystem,
                                  graph: TaskGraph, extra: [UInt8] = [],
                                  fileSystem: any FileSystem) -> (entries: [SnapshotEntry], seal: Digest?) {
    let looks = observing.looks
    var seal: Digest?
    if let cache = make(root: root, hiddenDigest: hiddenDigest, looks: looks, filter: observing.listingFilter,
                        graph: graph, extra: extra) {
      let bytes = cache.encode()
      if (try? fileSystem.writeAtomically(bytes, to: path, permissions: 0o644)) != nil { seal = Seal.digest(of: bytes) }
    } else {
      try? fileSystem.remove(path)
    }
    return (looks.map { SnapshotEntry($0, in: root) }, seal)
  }

  // MARK: - Encoding

  package func encode() -> [UInt8] {
    var w = ByteWriter()
    w.string(Self.version)
    w.string(root)
    w.digest(hiddenDigest)
    w.strings(filter.patterns)
    w.varint(UInt64(looks.count))
    for look in looks {
      w.string(look.path)
      w.varint((look.followsLinks ? 1 : 0) | (look.exact ? 2 : 0) | (look.stat == nil ? 0 : 4)
        | (look.digest == nil ? 0 : 8) | (look.recheck ? 16 : 0) | (look.filtered ? 32 : 0))
      if let st = look.stat { w.fileStat(st) }
      if let d = look.digest { w.digest(d) }
    }
    if let defaults = graph.defaultTasks {
      w.varint(1)
      w.strings(defaults)
    } else {
      w.varint(0)
    }
    w.strings(graph.taskNames.sorted())
    w.varint(UInt64(graph.instances.count))
    for t in graph.instances {
      Self.put(t.id, &w)
      w.string(t.command)
      w.strings(t.inputs)
      w.strings(t.outputs)
      w.string(t.depfile ?? "")
      w.varint(t.depfile == nil ? 0 : 1)
      w.string(t.directory)
      w.strings(t.environment.map(\.name))
      w.strings(t.environment.map(\.value))
      w.strings(t.hashEnvironment)
      w.strings(t.tools)
      w.varint((t.cache ? 1 : 0) | (t.always ? 2 : 0) | (t.isolate ? 4 : 0) | (t.depfileMayBeMissing ? 8 : 0)
        | (t.keepsOutputs ? 16 : 0) | (t.outputsMayBeMissing ? 32 : 0) | (t.commandInKey ? 0 : 64) | (t.remote ? 0 : 128))
      Self.put(t.timeout, &w)
      Self.put(t.sla, &w)
      w.varint(UInt64(t.dependencies.count))
      for d in t.dependencies { Self.put(d, &w) }
      if let l = t.location {
        w.varint(1)
        w.string(l.file)
        w.varint(UInt64(l.line))
        w.varint(UInt64(l.column))
      } else {
        w.varint(0)
      }
      Self.put(t.pool, &w)
      Self.put(t.includesPrefix, &w)
      Self.put(t.label, &w)
      if let batch = t.batch {
        w.varint(1 + UInt64(batch.limit ?? 0))
        w.varint(UInt64(batch.pieces.count))
        for piece in batch.pieces {
          switch piece {
          case .text(let text):
            w.varint(0)
            w.string(text)
          case .inputs: w.varint(1)
          case .outputs: w.varint(2)
          }
        }
      } else {
        w.varint(0)
      }
    }
    w.raw(extra)
    return Seal.close(Self.magic, w.bytes)
  }

  /// nil when the bytes are not a graph cache of this kiln's format, or are damaged.
  package static func decode(_ bytes: [UInt8]) -> GraphCache? {
    guard let body = Seal.open(magic, bytes) else { return nil }
    var r = ByteReader(body)
    do throws(ByteReader.Truncated) {
      guard try r.string() == version else { return nil }
      let root = try r.string()
      let hidden = try r.digest()
      let filter = ListingFilter(try r.strings())
      var looks: [Look] = []
      for _ in 0..<(try r.count()) {
        let path = try r.string()
        let flags = try r.varint()
        let stat = flags & 4 != 0 ? try r.fileStat() : nil
        looks.append(Look(path: path, followsLinks: flags & 1 != 0, exact: flags & 2 != 0, stat: stat,
                          digest: flags & 8 != 0 ? try r.digest() : nil, recheck: flags & 16 != 0,
                          filtered: flags & 32 != 0))
      }
      let defaults: [String]? = try r.varint() == 1 ? try r.strings() : nil
      let names = try r.strings()
      var instances: [TaskInstance] = []
      let n = try r.count()
      instances.reserveCapacity(n)
      for _ in 0..<n {
        let id = try taskID(&r)
        let command = try r.string()
        let inputs = try r.strings()
        let outputs = try r.strings()
        let depfileText = try r.string()
        let depfile = try r.varint() == 1 ? depfileText : nil
        let directory = try r.string()
        let envNames = try r.strings()
        let envValues = try r.strings()
        guard envNames.count == envValues.count else { return nil }
        let hashEnv = try r.strings()
        let tools = try r.strings()
        let flags = try r.varint()
        let timeout = try duration(&r)
        let sla = try duration(&r)
        var deps: [TaskID] = []
        for _ in 0..<(try r.count()) { deps.append(try taskID(&r)) }
        var location: SourceLocation?
        if try r.varint() == 1 {
          location = SourceLocation(file: try r.string(), line: Int(truncatingIfNeeded: try r.varint()),
                                    column: Int(truncatingIfNeeded: try r.varint()))
        }
        var instance = TaskInstance(
          id: id, command: command, inputs: inputs, outputs: outputs, depfile: depfile, directory: directory,
          environment: zip(envNames, envValues).map { EnvironmentVariable($0, $1) }, hashEnvironment: hashEnv,
          cache: flags & 1 != 0, always: flags & 2 != 0, isolate: flags & 4 != 0, timeout: timeout, sla: sla,
          tools: tools, dependencies: deps, location: location)
        instance.depfileMayBeMissing = flags & 8 != 0
        instance.keepsOutputs = flags & 16 != 0
        instance.outputsMayBeMissing = flags & 32 != 0
        instance.commandInKey = flags & 64 == 0
        instance.remote = flags & 128 == 0
        instance.pool = try optionalString(&r)
        instance.includesPrefix = try optionalString(&r)
        instance.label = try optionalString(&r)
        let batch = try r.varint()
        if batch > 0 {
          guard batch <= UInt64(Int.max) else { return nil }
          var pieces: [BatchCommand.Piece] = []
          for _ in 0..<(try r.count()) {
            switch try r.varint() {
            case 0: pieces.append(.text(try r.string()))
            case 1: pieces.append(.inputs)
            case 2: pieces.append(.outputs)
            default: return nil
            }
          }
          instance.batch = BatchCommand(pieces: pieces, limit: batch == 1 ? nil : Int(batch - 1))
        }
        instances.append(instance)
      }
      let extra = try r.raw()
      guard r.atEnd, var graph = try? TaskGraph(instances, defaultTasks: defaults) else { return nil }
      graph.taskNames = Set(names)
      return GraphCache(root: root, hiddenDigest: hidden, looks: looks, filter: filter, graph: graph, extra: extra)
    } catch {
      return nil
    }
  }

  private static func put(_ id: TaskID, _ w: inout ByteWriter) {
    w.string(id.task)
    w.varint(id.item == nil ? 0 : 1)
    w.string(id.item ?? "")
  }

  private static func taskID(_ r: inout ByteReader) throws(ByteReader.Truncated) -> TaskID {
    let task = try r.string()
    let hasItem = try r.varint() == 1
    let item = try r.string()
    return TaskID(task: task, item: hasItem ? item : nil)
  }

  private static func put(_ text: String?, _ w: inout ByteWriter) {
    w.varint(text == nil ? 0 : 1)
    w.string(text ?? "")
  }

  private static func optionalString(_ r: inout ByteReader) throws(ByteReader.Truncated) -> String? {
    let present = try r.varint() == 1
    let text = try r.string()
    return present ? text : nil
  }

  private static func put(_ d: Duration?, _ w: inout ByteWriter) {
    guard let d else {
      w.varint(0)
      return
    }
    w.varint(1)
    w.varint(UInt64(bitPattern: d.components.seconds))
    w.varint(UInt64(bitPattern: d.components.attoseconds))
  }

  private static func duration(_ r: inout ByteReader) throws(ByteReader.Truncated) -> Duration? {
    guard try r.varint() == 1 else { return nil }
    return Duration(secondsComponent: Int64(bitPattern: try r.varint()),
                    attosecondsComponent: Int64(bitPattern: try r.varint()))
  }
}
