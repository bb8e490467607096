#if canImport(Glibc)
import Glibc
#endif
import KilnConfig
import KilnCore
import KilnEngine
import KilnStore
import KilnSystem
import KilnWorkspaces

/// An error the CLI reports as one line with an exit status.
package struct CLIError: Error, CustomStringConvertible {
  package var message: String
  package var status: Int32
  package init(_ message: String, status: Int32 = 2) {
    self.message = message
    self.status = status
  }
  package var description: String { message }
}

/// The composition root: finds the build file and the workspace, opens the manifest
/// and the cache, and wires the real file system, process runner and clock together.
package final class Context {
  package static nonisolated(unsafe) var globalBuildFile: String?

  package let fileSystem = LocalFileSystem()
  package let clock = SystemClock()
  package let root: String
  package let buildFilePath: String?
  package let environment: [String: String]
  package let cacheRoot: String
  /// Who may write the cache (`KILN_CACHE_SHARED`).
  package let cacheTrust: CacheTrust
  private var cacheChecked = false
  private var manifestStorage: Manifest?

  /// - Parameter requireBuildFile: false for `exec` and `cache`, which work without one.
  package init(requireBuildFile: Bool = true) throws {
    environment = Self.currentEnvironment()
    let cwd = Self.currentDirectory()
    if let explicit = Context.globalBuildFile {
      let abs = explicit.hasPrefix("/") ? explicit : Paths.join(cwd, explicit)
      guard fileSystem.stat(abs)?.kind == .file else { throw CLIError("kiln: build file '\(explicit)' not found") }
      buildFilePath = Paths.normalize(abs)
      root = Paths.parent(buildFilePath!)
    } else if let found = Self.locate(from: cwd, fileSystem: fileSystem) {
      buildFilePath = found
      root = Paths.parent(found)
    } else if requireBuildFile {
      throw CLIError("kiln: no kiln.yml in \(cwd) or any parent directory")
    } else {
      buildFilePath = nil
      root = cwd
    }
    cacheRoot = Self.cacheLocation(environment)
    cacheTrust = CacheTrust(environment: environment)
    try checkStateFolder()
  }

  /// `$KILN_CACHE_DIR`, else `$XDG_CACHE_HOME/kiln`, else `~/.cache/kiln`; with neither
  /// HOME nor XDG_CACHE_HOME, `$TMPDIR/kiln-cache-<uid>` (TMPDIR defaulting to /tmp): a
  /// name of this user's own, made 0700 and checked to be theirs (`checkCache`), never
  /// a path shared by every user that another could make first (`/tmp/.cache/kiln`).
  package static func cacheLocation(_ environment: [String: String]) -> String {
    // No trailing slash: lstat of "link/" would follow the link it must refuse.
    if let dir = environment["KILN_CACHE_DIR"], !dir.isEmpty {
      var trimmed = Substring(dir)
      while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
      return String(trimmed)
    }
    if let xdg = environment["XDG_CACHE_HOME"], !xdg.isEmpty { return xdg + "/kiln" }
    if let home = environment["HOME"], !home.isEmpty { return home + "/.cache/kiln" }
    let tmp = environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
    return tmp + "/kiln-cache-\(geteuid())"
  }

  /// `.kiln/` and the files kiln keeps in it for this build file must not be symbolic
  /// links (one committed to a repository would have kiln write through it): a few
  /// lstat calls, made before anything there is opened.
  private func checkStateFolder() throws {
    let dir = root + "/.kiln"
    do {
      guard fileSystem.lstat(dir) != nil else { return }
      try OwnFile.folder(dir)
      let db = manifestPath
      let kept = [db] + Database.companionSuffixes.map { db + $0 }
      for path in kept + [PendingBuild.path(forManifest: db), snapshotPath, graphCachePath] {
        try OwnFile.refuseLink(path)
      }
    } catch {
      throw CLIError("kiln: \(error)")
    }
  }

  /// The workspace a build here is recorded under: `KILN_WORKSPACE` (set by `kiln ws
  /// run`), else the kiln workspace whose checkout this is, else none (the main one).
  package var workspaceName: String? {
    if let name = environment["KILN_WORKSPACE"], !name.isEmpty { return name }
    return Workspaces.name(containing: root)
  }

  /// How the build file is named in messages: relative to where the user stands.
  package var displayPath: String {
    guard let buildFilePath else { return "kiln.yml" }
    let cwd = Self.currentDirectory()
    if let rel = Paths.relative(buildFilePath, to: cwd) { return rel }
    return buildFilePath
  }

  /// `.kiln/state.db` for `kiln.yml`; another build file in the same folder (`-f ci.yml`)
  /// keeps its own `.kiln/state-ci.yml.db`, so neither treats the other's tasks as stale.
  package var manifestPath: String {
    let name = buildFilePath.map(Paths.fileName) ?? "kiln.yml"
    return root + "/.kiln/" + (name == "kiln.yml" ? "state.db" : "state-\(name).db")
  }

  package func manifest() throws -> Manifest {
    if let manifestStorage { return manifestStorage }
    do { try OwnFile.folder(root + "/.kiln") } catch { throw CLIError("kiln: \(error)") }
    var keep = 1000
    if let text = environment["KILN_HISTORY"], !text.isEmpty {
      guard let n = Int(text), n >= 1 else { throw CLIError("kiln: KILN_HISTORY: '\(text)' is not a number of builds (1 or more)") }
      keep = n
    }
    let m: Manifest
    do {
      m = try Manifest(path: manifestPath)
    } catch where error.movedAside != nil {
      // Derived state: a damaged file is set aside and the build goes on with a new one.
      sayMovedAside(error)
      do { m = try Manifest(path: manifestPath) } catch { throw CLIError("kiln: \(error)") }
    } catch {
      throw CLIError("kiln: \(error)")
    }
    m.keepBuilds = keep
    manifestStorage = m
    return m
  }

  /// After a damaged manifest was moved aside while in use (`error.movedAside`): says so
  /// and opens a new one. Any other error is thrown as the line it makes.
  package func replaceManifest(after error: DatabaseError) throws -> Manifest {
    guard error.movedAside != nil else { throw CLIError("kiln: \(error)") }
    sayMovedAside(error)
    manifestStorage = nil
    return try manifest()
  }

  private func sayMovedAside(_ error: DatabaseError) {
    guard error.movedAside != "" else { return }  // the process that moved it said so
    func shown(_ path: String) -> String { Paths.relative(path, to: root).flatMap { $0.isEmpty ? nil : $0 } ?? path }
    Terminal.error("kiln: \(shown(error.path)) was damaged (\(error.message)); moved it aside to "
      + "\(shown(error.movedAside ?? "")) and started a new one (outputs come back from the cache)")
  }

  /// Makes the cache folder and its subfolders if missing, and checks that they (and
  /// the lock files every kiln process opens) are not symbolic links and are owned and
  /// writable as `cacheTrust` allows: a few lstat calls, once per process, never a
  /// look at every blob. Before anything in the cache is opened.
  package func checkCache() throws {
    if cacheChecked { return }
    do {
      if fileSystem.lstat(cacheRoot) == nil {
        let parent = Paths.parent(cacheRoot)
        if !parent.isEmpty { try fileSystem.createDirectories(parent) }
        // Private unless shared: the cache holds every output's bytes.
        try OwnFile.folder(cacheRoot, mode: cacheTrust.shared ? 0o777 : 0o700)
      }
      try cacheTrust.check(cacheRoot, folder: true)
      // A cache kiln cannot write (a read-only mount of a filled cache) still serves
      // restores: what cannot be made is left out, and only what exists is checked.
      for name in ["blobs", "actions", "locks"] {
        _ = mkdir(cacheRoot + "/" + name, cacheTrust.folderMode)
        try cacheTrust.check(cacheRoot + "/" + name, folder: true)
      }
      for name in ["locks/jobs", "locks/actions"] {
        let path = cacheRoot + "/" + name
        if let fd = try OwnFile.open(path, O_RDWR | O_CREAT, mode: cacheTrust.lockFileMode) {
          close(fd)
        }
        try cacheTrust.check(path, folder: false)
      }
    } catch {
      throw CLIError("kiln: cache \(error)")
    }
    cacheChecked = true
  }

  /// The cache's files, never followed through a symbolic link (`CacheFileSystem`).
  package var cacheFileSystem: CacheFileSystem { CacheFileSystem(fileSystem, root: cacheRoot, trust: cacheTrust) }
  package var contentStore: ContentStore { ContentStore(root: cacheRoot, fileSystem: cacheFileSystem) }
  package var actionCache: ActionCache { ActionCache(root: cacheRoot, fileSystem: cacheFileSystem) }

  /// Where the last build's snapshot of this build file's targets is (`BuildSnapshot`).
  package var snapshotPath: String {
    let db = manifestPath
    return String(db.dropLast(3)) + ".snapshot"
  }

  /// Where the expanded graph of this build file is kept (`GraphCache`).
  package var graphCachePath: String {
    String(manifestPath.dropLast(3)) + ".graph"
  }

  package func buildFile(using fileSystem: (any FileSystem)? = nil) throws -> BuildFile {
    guard let buildFilePath else { throw CLIError("kiln: no kiln.yml") }
    let bytes: [UInt8]
    do { bytes = try (fileSystem ?? self.fileSystem).read(buildFilePath) } catch { throw CLIError("kiln: cannot read \(error)") }
    return try BuildFileParser(displayPath: displayPath).parse(String(decoding: bytes, as: UTF8.self))
  }

  /// Parses and expands the build file; stale outputs recorded in `records` are hidden
  /// from globs.
  package func graph(hiding hidden: Set<String>, using fileSystem: (any FileSystem)? = nil) throws -> TaskGraph {
    let file = try buildFile(using: fileSystem)
    return try Expander(file: file, root: root, fileSystem: fileSystem ?? self.fileSystem, hiddenOutputs: hidden).expand()
  }

  package static func currentDirectory() -> String {
    var buffer = [CChar](repeating: 0, count: 4096)
    guard getcwd(&buffer, buffer.count) != nil else { return "." }
    return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
  }

  package static func currentEnvironment() -> [String: String] {
    var result: [String: String] = [:]
    var pointer = environ
    while let entry = pointer.pointee {
      let text = String(cString: entry)
      if let eq = text.firstIndex(of: "=") {
        result[String(text[..<eq])] = String(text[text.index(after: eq)...])
      }
      pointer += 1
    }
    return result
  }

  /// `kiln.yml` in `start` or the nearest parent that has one (like git), never above
  /// the root of a kiln workspace: a workspace without its own kiln.yml (one never
  /// committed) must not build the main checkout that holds it.
  package static func locate(from start: String, fileSystem: any FileSystem) -> String? {
    var dir = start
    while true {
      let candidate = Paths.join(dir, "kiln.yml")
      if fileSystem.stat(candidate)?.kind == .file { return candidate }
      if dir == "/" || dir.isEmpty || isWorkspaceRoot(dir, fileSystem: fileSystem) { return nil }
      dir = Paths.parent(dir)
    }
  }

  /// Whether `dir` is the top of a kiln workspace: `<git-common-dir>/kiln/ws/NAME` (a
  /// git folder: `HEAD` and `objects/` in it) or `<project>/.kiln/ws/NAME` (a copy).
  /// Decided from the path and two stats, so a damaged workspace still counts.
  static func isWorkspaceRoot(_ dir: String, fileSystem: any FileSystem) -> Bool {
    let parent = Paths.parent(dir)
    if parent.hasSuffix("/.kiln/ws") { return true }
    guard parent.hasSuffix("/kiln/ws") else { return false }
    let gitDirectory = Paths.parent(Paths.parent(parent))
    return fileSystem.stat(gitDirectory + "/HEAD")?.kind == .file
      && fileSystem.stat(gitDirectory + "/objects")?.kind == .directory
  }

  /// The job slots, memory reserve and in-flight actions every kiln process sharing
  /// this cache draws from (SPEC §4); no limit beyond `-j` when the cache folder
  /// cannot be written.
  package func machineLimits() throws -> any MachineLimits {
    var reserve: Int64?
    if let text = environment["KILN_MEM_RESERVE"], !text.isEmpty {
      guard let bytes = parseByteCount(text) else {
        throw CLIError("kiln: KILN_MEM_RESERVE: '\(text)' is not a size (like 512M or 2G)")
      }
      reserve = bytes
    }
    try checkCache()
    return SharedMachineLimits(cacheRoot: cacheRoot, slots: Self.cores, memoryReserve: reserve) ?? UnlimitedMachine()
  }

  package static var cores: Int {
    if let value = getenv("KILN_MAX_JOBS").flatMap({ Int(String(cString: $0)) }), value > 0 { return value }
    return max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
  }
}

