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

/// What kiln was started with (its launch): the folder it stands in (after `-C`), the build file
/// named by `-f`, its environment. Read from the process once, in `KilnMain`; nothing
/// else reads the working directory or the environment.
package struct Launch: Sendable {
  /// Absolute: where relative paths on the command line are taken from.
  package var directory: String
  /// `-f FILE` as given.
  package var buildFile: String?
  package var environment: [String: String]

  package init(directory: String, buildFile: String? = nil, environment: [String: String]) {
    self.directory = directory
    self.buildFile = buildFile
    self.environment = environment
  }

  /// This process's working directory and environment.
  package static func current(buildFile: String? = nil) -> Launch {
    Launch(directory: currentDirectory(), buildFile: buildFile, environment: currentEnvironment())
  }

  /// An absolute path for `path` as given on the command line.
  package func absolute(_ path: String) -> String { path.hasPrefix("/") ? path : Paths.join(directory, path) }

  static func currentDirectory() -> String {
    var buffer = [CChar](repeating: 0, count: 4096)
    guard getcwd(&buffer, buffer.count) != nil else { return "." }
    return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
  }

  static func currentEnvironment() -> [String: String] {
    var result: [String: String] = [:]
    var pointer = environ
    // By bytes: a search by Character checks grapheme breaks, and every kiln command
    // reads the whole environment (6% of a small project's null build).
    while let entry = pointer.pointee {
      let text = String(cString: entry)
      if let eq = text.utf8.firstIndex(of: UInt8(ascii: "=")) {
        result[String(text[..<eq])] = String(text[text.utf8.index(after: eq)...])
      }
      pointer += 1
    }
    return result
  }
}

/// The composition root: a value made once per command from the `Launch`. It finds
/// the build file and the checkout, names the state (`StateLayout`) and the cache, and
/// wires the real file system and clock. It opens nothing: `Session` opens the
/// manifest, commands check the cache when they use it.
package struct Context: Sendable {
  package let launch: Launch
  package let fileSystem = LocalFileSystem()
  package let clock = SystemClock()
  /// The checkout: the build file's folder, else (no build file) where kiln stands.
  package let root: String
  package let buildFilePath: String?
  /// Why there is no build file, for the commands that need one.
  private let missingBuildFile: CLIError?
  /// No kiln.yml, but a `build.ninja` where kiln stands: the state is `kiln ninja`'s.
  package private(set) var ninjaFolder = false
  /// `.kiln/` and its files for this build file.
  package let layout: StateLayout
  package let cacheRoot: String
  /// Who may write the cache (`KILN_CACHE_SHARED`).
  package let cacheTrust: CacheTrust

  package var environment: [String: String] { launch.environment }
  /// Set when the entry point already asked the snapshot (`NullBuild`) and it could
  /// not answer: `kiln build` does not ask again.
  package var snapshotTried = false
  /// The first file that snapshot found changed, if it got that far: the build decides
  /// the instances that read or write it first (a hint of order, never a verdict).
  package var changedPath: String?
  /// What changed, when the build can stand on the rest of the snapshot (`SnapshotDelta`).
  package var snapshotDelta: SnapshotDelta?
  /// Folders written out of action keys: the root, and for `kiln ninja` the checkout
  /// its build folder lies in.
  package var keyRoots: KeyRoots

  package init(_ launch: Launch) {
    self.launch = launch
    let fs = LocalFileSystem()
    let cwd = launch.directory
    var found: String?
    var missing: CLIError?
    if let explicit = launch.buildFile {
      let abs = launch.absolute(explicit)
      if fs.stat(abs)?.kind == .file {
        found = Paths.normalize(abs)
      } else {
        missing = CLIError("kiln: build file '\(explicit)' not found")
      }
    } else {
      found = Self.locate(from: cwd, fileSystem: fs)
      if found == nil {
        // A ninja build folder (CMake's, Meson's): `kiln ninja` builds it, and the
        // commands that read its records (`stats`, `manifest`) find them.
        if fs.stat(Paths.join(cwd, "build.ninja"))?.kind == .file { ninjaFolder = true }
        let hint = ninjaFolder ? " (this folder has a build.ninja: kiln ninja builds it)" : " (kiln init writes a starting one)"
        missing = CLIError("kiln: no kiln.yml in \(cwd) or any parent directory\(hint)")
      }
    }
    buildFilePath = found
    missingBuildFile = missing
    root = found.map(Paths.parent) ?? cwd
    layout = StateLayout(root: root, buildFileName: found.map(Paths.fileName) ?? (ninjaFolder ? "build.ninja" : "kiln.yml"))
    cacheRoot = Self.cacheLocation(launch.environment)
    cacheTrust = CacheTrust(environment: launch.environment)
    keyRoots = KeyRoots([root])
  }

  /// The context of a build file that is not kiln.yml and is not looked for up the
  /// tree (`kiln ninja`'s build.ninja): `root` is where it runs, its state is kept
  /// under `root/.kiln/` beside that build file's name. `base`: the checkout (or source
  /// folder) the build folder belongs to, written out of keys with `root`.
  package init(_ launch: Launch, root: String, buildFile: String, base: String? = nil) {
    self.launch = launch
    self.root = root
    buildFilePath = Paths.join(root, buildFile)
    missingBuildFile = nil
    layout = StateLayout(root: root, buildFileName: Paths.fileName(buildFile))
    cacheRoot = Self.cacheLocation(launch.environment)
    cacheTrust = CacheTrust(environment: launch.environment)
    keyRoots = KeyRoots([root] + (base.map { [$0] } ?? []))
  }

  /// Throws the one-line reason when there is no build file (for commands that build).
  /// `orNinjaFolder`: a ninja build folder will do (its records are `kiln ninja`'s).
  package func requireBuildFile(orNinjaFolder: Bool = false) throws {
    if orNinjaFolder, ninjaFolder { return }
    if let missingBuildFile { throw missingBuildFile }
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
  package func checkStateFolder() throws {
    do {
      guard fileSystem.lstat(layout.folder) != nil else { return }
      try OwnFile.folder(layout.folder)
      for path in layout.keptFiles { try OwnFile.refuseLink(path) }
    } catch {
      throw CLIError("kiln: \(error)")
    }
  }

  /// How many builds the history keeps: `KILN_HISTORY`, else 1,000.
  package func historyLimit() throws -> Int {
    guard let text = environment["KILN_HISTORY"], !text.isEmpty else { return 1000 }
    guard let n = Int(text), n >= 1 else { throw CLIError("kiln: KILN_HISTORY: '\(text)' is not a number of builds (1 or more)") }
    return n
  }

  /// The workspace a build here is recorded under: `KILN_WORKSPACE` (set by `kiln ws
  /// run`), else the kiln workspace whose checkout this is, else none (the main one).
  package var workspaceName: String? {
    if let name = environment["KILN_WORKSPACE"], !name.isEmpty { return name }
    return Workspaces.name(containing: root, fileSystem: fileSystem)
  }

  /// The commit HEAD names in the checkout holding the workspace root, read from git's
  /// files (`GitHead`); nil outside git.
  package var headCommit: String? { GitHead(fileSystem: fileSystem).commit(containing: root) }

  /// The local cache's size on disk, measured at most every ten minutes
  /// (`CacheMaintenance.recentBytesOnDisk`), through the cache's no-symlink file system.
  package var cacheSizeOnDisk: @Sendable () -> Int64? {
    let root = cacheRoot, files = cacheFileSystem, clock = self.clock
    return { CacheMaintenance(root: root, fileSystem: files).recentBytesOnDisk(now: clock.wallNanoseconds()) }
  }

  /// How the build file is named in messages: relative to where the user stands.
  package var displayPath: String {
    guard let buildFilePath else { return "kiln.yml" }
    let cwd = launch.directory
    if let rel = Paths.relative(buildFilePath, to: cwd) { return rel }
    return buildFilePath
  }

  /// Makes the cache folder and its subfolders if missing, and checks that they (and
  /// the lock files every kiln process opens) are not symbolic links and are owned and
  /// writable as `cacheTrust` allows: a few lstat calls, once per process, never a
  /// look at every blob. Before anything in the cache is opened.
  package func checkCache() throws {
    do {
      try CacheSetup.prepare(root: cacheRoot, trust: cacheTrust, fileSystem: fileSystem)
    } catch {
      throw CLIError("kiln: cache \(error)")
    }
  }

  /// The cache's files, never followed through a symbolic link (`CacheFileSystem`).
  package var cacheFileSystem: CacheFileSystem { CacheFileSystem(fileSystem, root: cacheRoot, trust: cacheTrust) }
  package var contentStore: ContentStore { ContentStore(root: cacheRoot, fileSystem: cacheFileSystem) }
  package var actionCache: ActionCache { ActionCache.shared(root: cacheRoot, mode: cacheTrust.lockFileMode) }

  package func buildFile(using fileSystem: (any FileSystem)? = nil) throws -> BuildFile {
    guard let buildFilePath else { throw CLIError("kiln: no kiln.yml") }
    let bytes: [UInt8]
    do { bytes = try (fileSystem ?? self.fileSystem).read(buildFilePath) } catch { throw CLIError("kiln: cannot read \(error)") }
    return try BuildFileParser(displayPath: displayPath).parse(bytes: bytes)
  }

  /// Parses and expands the build file; stale outputs recorded in `records` are hidden
  /// from globs.
  package func graph(hiding hidden: Set<String>, using fileSystem: (any FileSystem)? = nil,
                     overriding overrides: [EnvironmentVariable] = []) throws -> TaskGraph {
    let file = try buildFile(using: fileSystem).overriding(overrides)
    return try Expander(file: file, root: root, fileSystem: fileSystem ?? self.fileSystem, hiddenOutputs: hidden).expand()
  }

  /// `kiln.yml` in `start` or the nearest parent that has one (like git), never above
  /// the root of a kiln workspace: a workspace without its own kiln.yml (one never
  /// committed) must not build the main checkout that holds it.
  package static func locate(from start: String, fileSystem: any FileSystem) -> String? {
    var dir = start
    while true {
      let candidate = Paths.join(dir, "kiln.yml")
      if fileSystem.stat(candidate)?.kind == .file { return candidate }
      if dir == "/" || dir.isEmpty || Workspaces.isRoot(dir, fileSystem: fileSystem) { return nil }
      dir = Paths.parent(dir)
    }
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
    let shared: any MachineLimits = SharedMachineLimits(cacheRoot: cacheRoot, slots: cores, memoryReserve: reserve)
      ?? UnlimitedMachine()
    // Started by a task of another kiln: that task's slot is this build's first.
    return environment[InheritedSlotLimits.variable] == "1" ? InheritedSlotLimits(shared) : shared
  }

  /// `KILN_MAX_JOBS`, else the cores online: `-j`'s default and the machine's job slots.
  package var cores: Int {
    if let value = environment["KILN_MAX_JOBS"].flatMap({ Int($0) }), value > 0 { return value }
    return max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
  }
}

