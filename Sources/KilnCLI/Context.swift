#if canImport(Glibc)
import Glibc
#endif
import KilnConfig
import KilnCore
import KilnEngine
import KilnStore
import KilnSystem

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
    if let dir = environment["KILN_CACHE_DIR"], !dir.isEmpty {
      cacheRoot = dir
    } else if let xdg = environment["XDG_CACHE_HOME"], !xdg.isEmpty {
      cacheRoot = xdg + "/kiln"
    } else {
      cacheRoot = (environment["HOME"] ?? "/tmp") + "/.cache/kiln"
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
    let dir = root + "/.kiln"
    do { try fileSystem.createDirectories(dir) } catch { throw CLIError("kiln: cannot create \(error)") }
    var keep = 1000
    if let text = environment["KILN_HISTORY"], !text.isEmpty {
      guard let n = Int(text), n >= 1 else { throw CLIError("kiln: KILN_HISTORY: '\(text)' is not a number of builds (1 or more)") }
      keep = n
    }
    do {
      let m = try Manifest(path: manifestPath)
      m.keepBuilds = keep
      manifestStorage = m
      return m
    } catch {
      throw CLIError("kiln: \(manifestPath): \(error.message)")
    }
  }

  package var contentStore: ContentStore { ContentStore(root: cacheRoot, fileSystem: fileSystem) }
  package var actionCache: ActionCache { ActionCache(root: cacheRoot, fileSystem: fileSystem) }

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
    return SharedMachineLimits(cacheRoot: cacheRoot, slots: Self.cores, memoryReserve: reserve) ?? UnlimitedMachine()
  }

  package static var cores: Int {
    if let value = getenv("KILN_MAX_JOBS").flatMap({ Int(String(cString: $0)) }), value > 0 { return value }
    return max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
  }
}

