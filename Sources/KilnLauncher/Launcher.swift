#if canImport(Glibc)
import Glibc
#endif
import CSpawn
import KilnCore
import KilnHash
import KilnNinja
import KilnStore
import KilnSystem

/// kiln in front of a compiler (`kiln gcc ...`, `CMAKE_C_COMPILER_LAUNCHER=kiln`, or a
/// link named `gcc` first on PATH): one compile, looked up and stored as ccache does,
/// with kiln's cache and trust rules.
///
/// One call is one independent action: no checkout lock, no SQLite, no job slot. Its
/// steps, each falling through to the next:
/// 1. Not a single-source compile (`CompileCommand`): the compiler is exec'd as it is,
///    and the call counted as uncacheable with the reason.
/// 2. Direct mode: the key of the compiler's content, the command line (the checkout's
///    folders written out, `KeyRoots`), the folder, the variables that change a
///    compile, and the source's bytes; an entry stored under it lists the headers the
///    compile read with their digests, and is a hit when they all still have them.
/// 3. Preprocessor mode: the compiler is run with `-E`; the key of the same fields and
///    the preprocessed text. A hit also stores the direct entry for next time.
/// 4. The compile runs as given, its stdout and stderr captured and replayed; on
///    success its outputs are stored under both keys, unless an input changed during
///    the call (its mtime or ctime within `StatTrust.window` of the call's start, or
///    after it), which would make the stored bytes another content's result.
/// A restore writes only the outputs this command line names (entries name roles:
/// object, depfile, dwo, gcno), each by write-then-rename.
package struct Launcher {
  /// The compiler as the build named it (its file name is keyed: clang reads it).
  package var compilerName: String
  /// The compiler's file, and argv[0] of every run: gcc finds its own installation
  /// (cc1, the LTO plugin) from argv[0], and a bare `gcc` there would be looked up on
  /// PATH, where it may be kiln's masquerade link.
  package var compilerPath: String
  package var arguments: [String]
  package var directory: String
  package var environment: [String: String]
  package var cacheRoot: String
  package var cacheTrust: CacheTrust
  /// gcc or clang by name: any other program is run directly.
  package var knownCompiler: Bool
  /// Run inside another launcher call (kiln's, through another wrapper): that call
  /// caches; this one runs the compiler directly and counts nothing.
  package var nested: Bool

  package init(compilerName: String, compilerPath: String, arguments: [String], directory: String,
               environment: [String: String], cacheRoot: String, cacheTrust: CacheTrust, knownCompiler: Bool = true,
               nested: Bool = false) {
    self.knownCompiler = knownCompiler
    self.nested = nested
    self.compilerName = compilerName
    self.compilerPath = compilerPath
    self.arguments = arguments
    self.directory = directory
    self.environment = environment
    self.cacheRoot = cacheRoot
    self.cacheTrust = cacheTrust
  }

  /// The variables whose values change what a compile writes (ccache's list): include
  /// paths, the reproducible-build epoch, the diagnostics' language, the driver's
  /// search paths.
  package static let keyedVariables = [
    "CPATH", "C_INCLUDE_PATH", "CPLUS_INCLUDE_PATH", "OBJC_INCLUDE_PATH", "OBJCPLUS_INCLUDE_PATH",
    "SOURCE_DATE_EPOCH", "COMPILER_PATH", "GCC_EXEC_PREFIX", "GCC_COMPARE_DEBUG", "LANG", "LC_ALL", "LC_CTYPE",
    "LC_MESSAGES",
  ]

  /// The reason of a miss whose only fitting entry was made in another checkout and
  /// holds its path (debug info without `-ffile-prefix-map`): `kiln stats` counts these.
  package static let pathDependentReason = "output holds another checkout's path"

  /// The reason of a miss where an entry file failed its checksum (and was deleted).
  package static let damagedReason = "cache entry damaged, deleted"


  let fileSystem = LocalFileSystem()
  private let clock = SystemClock()

  /// Runs the call; its exit status (the compiler's), or never returns when the
  /// compiler is exec'd.
  package func run() -> Int32 {
    let started = clock.monotonic()
    let startedWall = clock.wallNanoseconds()
    if nested { return execDirectly() }
    if let value = environment["KILN_DISABLE"], ["1", "true", "yes"].contains(value.lowercased()) {
      return execDirectly()
    }
    let log = LauncherLog(cacheRoot: cacheRoot, trust: cacheTrust)
    let roots = Self.roots(directory: directory, fileSystem: fileSystem, environment: environment)
    let project = roots.folders.first ?? directory
    var cacheReady = false
    func record(_ outcome: LaunchOutcome, _ reason: String = "", compile: Double = 0) {
      // Nothing is written into a cache that CacheSetup refused.
      guard cacheReady else { return }
      log.append(LaunchRecord(time: Double(startedWall) / 1e9, outcome: outcome, reason: reason,
                              seconds: clock.monotonic() - started, compileSeconds: compile, project: project))
    }
    guard knownCompiler else {
      cacheReady = (try? prepareCache()) != nil
      record(.uncacheable, "not gcc or clang (\(Paths.fileName(compilerName)))")
      return execDirectly()
    }
    guard let expanded = ResponseFile.expand(arguments, in: directory, read: { try? fileSystem.read($0) }) else {
      cacheReady = (try? prepareCache()) != nil
      record(.uncacheable, "response file kiln cannot read")
      return execDirectly()
    }
    let command: CompileCommand
    switch CompileCommand.parse(expanded, environment: environment) {
    case .failure(let why):
      cacheReady = (try? prepareCache()) != nil
      record(.uncacheable, why.reason)
      return execDirectly()
    case .success(let parsed): command = parsed
    }
    do {
      try prepareCache()
      cacheReady = true
    } catch {
      Terminal.warn("kiln: warning: \(error); compiling without the cache")
      return execDirectly()
    }
    let caches = Caches(root: cacheRoot, trust: cacheTrust, fileSystem: fileSystem)
    // Held to the end of the call (an exec drops it with the descriptor).
    let locks = OutputLocks(cacheRoot: cacheRoot, paths: command.outputs.map { absolute($0.path) }, trust: cacheTrust)
    defer { withExtendedLifetime(locks) {} }

    // Direct mode.
    guard let compilerDigest = compilerIdentity(caches) else {
      record(.error, "cannot read the compiler \(compilerPath)")
      return execDirectly()
    }
    let sourcePath = absolute(command.source)
    let sourceStat = fileSystem.stat(sourcePath)
    guard let sourceBytes = try? fileSystem.read(sourcePath) else {
      // The compiler says what is wrong with the source, in its own words.
      record(.uncacheable, "source not readable")
      return execDirectly()
    }
    let sourceDigest = Hasher.digest(sourceBytes)
    let base = KeyBuilder()
    base.field("L", "launcher-1")
    base.field("P", Paths.fileName(compilerName), compilerDigest)
    base.field("D", roots.normalize(directory))
    for arg in command.keyArguments { base.field("A", roots.normalize(arg)) }
    for name in Self.keyedVariables {
      if let value = environment[name] { base.field("E", name + "=" + roots.normalize(value)) }
    }
    let roles = command.outputs.map(\.role)
    let directKey = base.copy()
    directKey.field("S", "direct", sourceDigest)
    let directDigest = directKey.finalize()
    var digests = DigestMemo(fileSystem: fileSystem)
    // Set when the only fitting entry holds another checkout's absolute path.
    var otherCheckout: String?
    // Set when an entry file failed its checksum (it was deleted).
    var damaged = false
    if let entry = find(directDigest, in: caches, roles: roles, roots: roots, digests: &digests,
                        otherCheckout: &otherCheckout, damaged: &damaged) {
      if restore(entry, command: command, roots: roots, caches: caches) {
        caches.actions.touch(directDigest)
        record(.direct, compile: entry.duration)
        return 0
      }
    }

    // Preprocessor mode.
    var preprocessed: PreprocessedText?
    var preprocessedKey: Digest?
    if command.language.runsPreprocessor {
      let cpp = spawn(command.preprocessorArguments + ["-E"])
      guard let cpp, cpp.status == 0 else {
        // The compile will say what the preprocessor could not do.
        record(.uncacheable, "preprocessor failed")
        return execDirectly()
      }
      let text = PreprocessedText(cpp.stdout, source: command.source, roots: roots)
      preprocessed = text
      let key = base.copy()
      key.field("S", "preprocessed", text.digest)
      let digest = key.finalize()
      preprocessedKey = digest
      if let entry = find(digest, in: caches, roles: roles, roots: roots, digests: &digests,
                          otherCheckout: &otherCheckout, damaged: &damaged),
         restore(entry, command: command, roots: roots, caches: caches) {
        caches.actions.touch(digest)
        // The direct entry for next time: the headers the preprocessor read, unless
        // one was modified lately enough to have changed since it read them.
        if let before = snapshot(text.includes, since: startedWall), !before.racy,
           let discovered = verified(before, sourceBytes: sourceBytes, sourceDigest: sourceDigest,
                                     sourceStat: sourceStat, sourcePath: sourcePath, since: startedWall, roots: roots),
           !discovered.racy, !discovered.timeMacros, !before.missing {
          var direct = entry
          direct.discovered = discovered.inputs
          try? caches.actions.store(direct, for: directDigest)
        }
        record(.preprocessed, compile: entry.duration)
        return 0
      }
    }

    // The compile. What it reads is looked at just before and again after: a result is
    // stored only for contents that did not change while it ran.
    let before = snapshot(preprocessed?.includes ?? [], since: startedWall)
    // In colour when the build's stderr is a terminal, as the compiler would be there:
    // its stderr is captured, which it would take for no terminal.
    let compileStart = clock.monotonic()
    guard let run = spawn(arguments + (Self.colour(arguments) == .added ? ["-fdiagnostics-color=always"] : [])) else {
      return execDirectly()
    }
    let compileSeconds = clock.monotonic() - compileStart
    Terminal.write(run.stdout, to: 1)
    Terminal.write(run.stderr, to: 2)
    guard run.status == 0 else {
      record(.failed, "exit \(run.status)", compile: compileSeconds)
      return run.status
    }
    guard let before,
          let discovered = verified(before, sourceBytes: sourceBytes, sourceDigest: sourceDigest,
                                    sourceStat: sourceStat, sourcePath: sourcePath, since: startedWall, roots: roots)
    else {
      record(.unstored, "an input changed during the compile", compile: compileSeconds)
      return 0
    }
    switch makeEntry(command, stdout: run.stdout, stderr: run.stderr, duration: compileSeconds, roots: roots,
                     caches: caches) {
    case .failure(let why):
      record(.unstored, why.reason, compile: compileSeconds)
    case .success(let entry):
      // An input modified just before the call (a header the build generated a moment
      // ago) may have changed between the preprocessor's read and the compile's: the
      // verified contents key the direct entry, but not the preprocessed text.
      if let preprocessedKey, !discovered.racy { try? caches.actions.store(entry, for: preprocessedKey) }
      // A source or header that names the time or date has no stable direct-mode
      // result; its preprocessed text (where the macro is expanded) still keys it.
      if !discovered.timeMacros, !before.missing {
        var direct = entry
        direct.discovered = discovered.inputs
        try? caches.actions.store(direct, for: directDigest)
      }
      let reason = otherCheckout.map { Self.pathDependentReason + " (" + $0 + ")" }
        ?? (damaged ? Self.damagedReason : "")
      record(.miss, reason, compile: compileSeconds)
    }
    return 0
  }

  // MARK: - Steps

  /// The cache's stores, through the file system that refuses links in the cache.
  struct Caches {
    var actions: ActionCache
    var blobs: ContentStore

    init(root: String, trust: CacheTrust, fileSystem: any FileSystem) {
      let fs = CacheFileSystem(fileSystem, root: root, trust: trust)
      actions = ActionCache.shared(root: root, mode: trust.lockFileMode)
      blobs = ContentStore(root: root, fileSystem: fs)
    }
  }

  /// The first entry under `key` that may be restored here: it names these roles, was
  /// made at this checkout's path when it holds one, and every header it lists still
  /// has its digest.
  func find(_ key: Digest, in caches: Caches, roles: [String], roots: KeyRoots, digests: inout DigestMemo,
            otherCheckout: inout String?, damaged: inout Bool) -> ActionEntry?
  {
    let lookup = caches.actions.lookup(key)
    if lookup.damaged { damaged = true }
    for entry in lookup.entries {
      guard entry.fits(declared: roles), entry.outputs.allSatisfy({ $0.kind == .file }) else { continue }
      var all = true
      for input in entry.discovered {
        let path = absolute(roots.resolve(input.path))
        guard digests.digest(of: path) == input.digest else {
          all = false
          break
        }
      }
      guard all else { continue }
      if let other = entry.pathDependentRoot, other != roots.identity {
        otherCheckout = other
        continue
      }
      return entry
    }
    return nil
  }

  /// Writes every output of `entry` to the path this command names for its role, and
  /// replays what the compile printed. False when a blob is missing or damaged (some
  /// outputs may be written then; the compile that follows writes them all).
  func restore(_ entry: ActionEntry, command: CompileCommand, roots: KeyRoots, caches: Caches) -> Bool {
    let paths = Dictionary(uniqueKeysWithValues: command.outputs.map { ($0.role, absolute($0.path)) })
    let mode = FileMode.restored(executable: false)
    for output in entry.outputs {
      guard let path = paths[output.path] else { return false }
      if let bytes = entry.inline[output.digest] {
        guard Hasher.digest(bytes) == output.digest else { return false }
        var written = bytes
        if output.path == "depfile" {
          guard let text = String(validating: bytes, as: UTF8.self) else { return false }
          written = Array(roots.resolve(text).utf8)
        }
        do { try fileSystem.writeAtomically(written, to: path, permissions: mode) } catch { return false }
      } else if output.path == "depfile" || !caches.blobs.restore(output.digest, to: path, permissions: mode) {
        return false
      }
    }
    Terminal.write(Self.resolved(entry.stdout, roots), to: 1)
    var stderr = Self.resolved(entry.stderr, roots)
    // Stored in colour by a compile on a terminal: plain text where none was asked for.
    if Self.colour(arguments) == .none { stderr = Self.withoutColor(stderr) }
    Terminal.write(stderr, to: 2)
    return true
  }

  /// The inputs a compile is about to read, looked at before it runs.
  struct Snapshot {
    var files: [(name: String, path: String, stat: FileStat, digest: Digest?)]
    /// Whether one was modified within `StatTrust.window` of the call's start: its stat
    /// cannot prove it unchanged, so its content was hashed too (`digest`).
    var racy: Bool
    /// Whether a line marker named a file that is not there (`#line 12 "parser.y"` in
    /// bison's or flex's output): no direct entry then, since it cannot list what the
    /// compile read; the preprocessed text still keys the result.
    var missing = false
  }

  /// Each header's stat (and, when racy, digest); nil when one is not a regular file.
  func snapshot(_ includes: [String], since: Int64) -> Snapshot? {
    var snap = Snapshot(files: [], racy: false)
    for include in includes {
      let path = absolute(include)
      guard let st = fileSystem.stat(path) else {
        snap.missing = true
        continue
      }
      guard st.kind == .file else { return nil }
      var digest: Digest?
      if StatTrust.isRacy(mtime: st.mtime, ctime: st.ctime, observedAt: since) {
        snap.racy = true
        guard let d = try? fileSystem.digest(of: path) else { return nil }
        digest = d
      }
      snap.files.append((include, path, st, digest))
    }
    return snap
  }

  /// The headers the compile read with their digests now (paths with the checkout's
  /// folders written out), whether the source or one of them names `__TIME__`,
  /// `__DATE__` or `__TIMESTAMP__`, and whether a header was racy; nil when an input
  /// changed since `before` (or since the source was hashed): its stat moved, or, for a
  /// racy one, its content.
  func verified(_ before: Snapshot, sourceBytes: [UInt8], sourceDigest: Digest, sourceStat: FileStat?,
                sourcePath: String, since: Int64, roots: KeyRoots) -> (inputs: [PathDigest], timeMacros: Bool, racy: Bool)? {
    guard let sourceStat, StatTrust.same(sourceStat, fileSystem.stat(sourcePath)) else { return nil }
    // The source was hashed before the preprocessor ran: the same digest after the
    // compile means both read that content (a source the build wrote a moment ago, like
    // a generated .c, still gets both entries).
    if StatTrust.isRacy(mtime: sourceStat.mtime, ctime: sourceStat.ctime, observedAt: since) {
      guard (try? fileSystem.digest(of: sourcePath)) == sourceDigest else { return nil }
    }
    var timeMacros = Self.mentionsTimeMacro(sourceBytes)
    var inputs: [PathDigest] = []
    for file in before.files {
      guard let bytes = try? fileSystem.read(file.path), StatTrust.same(file.stat, fileSystem.stat(file.path)) else {
        return nil
      }
      let digest = Hasher.digest(bytes)
      if let earlier = file.digest, earlier != digest { return nil }
      if !timeMacros { timeMacros = Self.mentionsTimeMacro(bytes) }
      inputs.append(PathDigest(file.name.hasPrefix("/") ? roots.normalize(file.name) : file.name, digest))
    }
    return (inputs, timeMacros, before.racy)
  }

  /// An entry made, or why none could be.
  enum Stored {
    case success(ActionEntry)
    case failure(CompileCommand.Uncacheable)
  }

  /// The cache entry for the outputs the compile just wrote: roles for paths, the
  /// depfile and printed text with the checkout's folders written out, and the
  /// checkout's path recorded when an output holds it.
  func makeEntry(_ command: CompileCommand, stdout: [UInt8], stderr: [UInt8], duration: Double, roots: KeyRoots,
                 caches: Caches) -> Stored {
    var outputs: [OutputEntry] = []
    var inline: [Digest: [UInt8]] = [:]
    var pathDependent = false
    for (role, path) in command.outputs {
      let file = absolute(path)
      guard let bytes = try? fileSystem.read(file) else {
        return .failure(.init("the compiler wrote no \(path)"))
      }
      var stored = bytes
      if role == "depfile" {
        guard let text = String(validating: bytes, as: UTF8.self) else {
          return .failure(.init("depfile \(path) is not UTF-8"))
        }
        stored = Array(roots.normalize(text).utf8)
      } else if roots.needleBytes.contains(where: { Self.contains(bytes, $0) }) {
        pathDependent = true
      }
      let digest = Hasher.digest(stored)
      // Small files are kept in the entry (the depfile always is).
      if role == "depfile" || stored.count <= ActionCache.inlineLimit {
        inline[digest] = stored
      } else {
        do { try caches.blobs.store(file, as: digest) } catch { return .failure(.init("cannot store \(path): \(error)")) }
      }
      outputs.append(OutputEntry(path: role, kind: .file, permissions: 0o644, digest: digest))
    }
    func text(_ bytes: [UInt8]) -> [UInt8] {
      guard let s = String(validating: bytes, as: UTF8.self) else { return bytes }
      return Array(roots.normalize(s).utf8)
    }
    return .success(ActionEntry(
      discovered: [], outputs: outputs, declaredOutputs: command.outputs.map(\.role), stdout: text(stdout),
      stderr: text(stderr), duration: duration, pathDependentRoot: pathDependent ? roots.identity : nil,
      inline: inline))
  }



  // MARK: - Helpers

  func absolute(_ path: String) -> String {
    path.hasPrefix("/") ? path : Paths.join(directory, path)
  }

  /// The compiler's content digest, remembered per (path, inode, size, mtime, ctime)
  /// in `<cache>/launcher/compilers/`, each memo checked by its own digest.
  func compilerIdentity(_ caches: Caches) -> Digest? {
    guard let st = fileSystem.stat(compilerPath), st.kind == .file else { return nil }
    let name = Hasher.digest("\(compilerPath)\u{0}\(st.inode)\u{0}\(st.size)\u{0}\(st.mtime)\u{0}\(st.ctime)").hex
    let memo = cacheRoot + "/launcher/compilers/" + name
    if let bytes = try? OwnFile.read(memo), bytes.count == 32,
       Hasher.digest(Array(bytes[0..<16])).bytes == Array(bytes[16..<32]) {
      return Digest(bytes: Array(bytes[0..<16]))
    }
    guard let digest = try? fileSystem.digest(of: compilerPath) else { return nil }
    // Not remembered while the compiler is being replaced (racy), so a half-written
    // one is never taken for the finished one.
    if !StatTrust.isRacy(mtime: st.mtime, ctime: st.ctime, observedAt: clock.wallNanoseconds()) {
      _ = try? OwnFile.folder(cacheRoot + "/launcher/compilers", mode: cacheTrust.folderMode)
      try? CacheFileSystem(fileSystem, root: cacheRoot, trust: cacheTrust)
        .writeAtomically(digest.bytes + Hasher.digest(digest.bytes).bytes, to: memo, permissions: 0o644)
    }
    return digest
  }

  /// The cache folder and the folders the launcher writes (`launcher/`,
  /// `locks/outputs`), checked as every kiln command checks them.
  func prepareCache() throws {
    try CacheSetup.prepare(root: cacheRoot, trust: cacheTrust, fileSystem: fileSystem)
  }

  /// The folders written out of keys: `KILN_BASE_DIR`; else, in a CMake build folder
  /// (a `CMakeCache.txt` here or above), its source checkout and the build folder; else
  /// the checkout holding `directory` (`.git` or `kiln.yml`). None outside a checkout.
  package static func roots(directory: String, fileSystem: any FileSystem, environment: [String: String]) -> KeyRoots {
    if let given = environment["KILN_BASE_DIR"], given.hasPrefix("/"), let base = Paths.normalize(given) {
      return KeyRoots([base])
    }
    var dir = directory
    while dir != "/", !dir.isEmpty {
      if fileSystem.lstat(dir + "/CMakeCache.txt") != nil {
        let source = NinjaBase.find(buildFolder: dir, fileSystem: fileSystem, environment: environment)
        return KeyRoots([source, dir].compactMap { $0 })
      }
      if Paths.fileName(dir) == ".git" { break }
      if fileSystem.lstat(dir + "/.git") != nil || fileSystem.lstat(dir + "/kiln.yml") != nil { return KeyRoots([dir]) }
      dir = Paths.parent(dir)
    }
    return KeyRoots([])
  }

  /// Whether `bytes` hold `needle`.
  static func contains(_ bytes: [UInt8], _ needle: [UInt8]) -> Bool {
    bytes.withUnsafeBytes { NeedleScanner.search($0, for: needle) }
  }

  /// Stored text with this checkout's folders put back: bytes as they are unless they
  /// hold a token (text that is not UTF-8 was stored as it was, never as text).
  static func resolved(_ bytes: [UInt8], _ roots: KeyRoots) -> [UInt8] {
    guard bytes.contains(0x01), let text = String(validating: bytes, as: UTF8.self) else { return bytes }
    return Array(roots.resolve(text).utf8)
  }

  /// Colour in the compiler's diagnostics: the command's own flag, else kiln asks for
  /// it when stderr is a terminal (`NO_COLOR` unset or empty, `TERM` not `dumb`), else
  /// none.
  enum Colour { case own, added, none }

  static func colour(_ arguments: [String]) -> Colour {
    if arguments.contains(where: {
      $0.hasPrefix("-fdiagnostics-color") || $0.hasPrefix("-fno-diagnostics-color") || $0 == "-fcolor-diagnostics"
        || $0 == "-fno-color-diagnostics"
    }) {
      return .own
    }
    // As kiln's own console: a terminal, NO_COLOR unset or empty, TERM not dumb.
    let noColor = getenv("NO_COLOR").map { String(cString: $0) } ?? ""
    let term = getenv("TERM").map { String(cString: $0) } ?? ""
    return isatty(2) != 0 && noColor.isEmpty && term != "dumb" ? .added : .none
  }

  /// `bytes` without ANSI SGR sequences (ESC [ ... m) and erase-line ones (ESC [ K).
  static func withoutColor(_ bytes: [UInt8]) -> [UInt8] {
    guard bytes.contains(0x1B) else { return bytes }
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count)
    var i = 0
    while i < bytes.count {
      if bytes[i] == 0x1B, i + 1 < bytes.count, bytes[i + 1] == UInt8(ascii: "[") {
        var j = i + 2
        while j < bytes.count, (bytes[j] >= UInt8(ascii: "0") && bytes[j] <= UInt8(ascii: "9")) || bytes[j] == UInt8(ascii: ";") {
          j += 1
        }
        if j < bytes.count, bytes[j] == UInt8(ascii: "m") || bytes[j] == UInt8(ascii: "K") {
          i = j + 1
          continue
        }
      }
      out.append(bytes[i])
      i += 1
    }
    return out
  }

  static let timeMacros = ["__TIME__", "__DATE__", "__TIMESTAMP__"].map { Array($0.utf8) }

  static func mentionsTimeMacro(_ bytes: [UInt8]) -> Bool {
    timeMacros.contains { contains(bytes, $0) }
  }

  // MARK: - Processes

  struct Ran {
    var status: Int32
    var stdout: [UInt8]
    var stderr: [UInt8]
  }

  /// Runs the compiler with `args` in this process group, stdout and stderr captured;
  /// nil when it cannot be started. Its status as a shell reports it (128 + signal).
  func spawn(_ args: [String]) -> Ran? {
    let out = kiln_memfd("kiln-stdout")
    let err = kiln_memfd("kiln-stderr")
    guard out >= 0, err >= 0 else {
      if out >= 0 { close(out) }
      if err >= 0 { close(err) }
      return nil
    }
    defer {
      close(out)
      close(err)
    }
    let argv: [UnsafeMutablePointer<CChar>?] = ([compilerPath] + args).map { strdup($0) } + [nil]
    defer { for p in argv { free(p) } }
    var pid: pid_t = 0
    let rc = argv.withUnsafeBufferPointer { kiln_spawn_attached(&pid, compilerPath, $0.baseAddress, environ, out, err) }
    guard rc == 0 else { return nil }
    var raw: Int32 = 0
    var peak = 0
    guard kiln_wait_pid(pid, &raw, &peak) == 0 else { return nil }
    let status: Int32 = (raw & 0x7f) == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)
    return Ran(status: status, stdout: Command.readAll(out), stderr: Command.readAll(err))
  }

  /// Replaces this process with the compiler, with the build's arguments.
  func execDirectly() -> Int32 {
    // A program kiln does not cache keeps the name the build gave it (its messages say it).
    let argv: [UnsafeMutablePointer<CChar>?] = ([knownCompiler ? compilerPath : compilerName] + arguments)
      .map { strdup($0) } + [nil]
    // Under `kiln exec` the command line's kiln ignores these signals (its own handler);
    // an ignored signal stays ignored across exec, and the compiler must stop on Ctrl-C.
    for sig in [SIGINT, SIGTERM, SIGHUP] { signal(sig, SIG_DFL) }
    _ = argv.withUnsafeBufferPointer { execv(compilerPath, $0.baseAddress!) }
    Terminal.warn("kiln: cannot run \(compilerPath): \(String(cString: strerror(errno)))")
    return 127
  }
}

/// File digests of one call, each file read once.
struct DigestMemo {
  let fileSystem: any FileSystem
  var known: [String: Digest?] = [:]

  mutating func digest(of path: String) -> Digest? {
    if let d = known[path] { return d }
    let d = try? fileSystem.digest(of: path)
    known[path] = d
    return d
  }
}

/// stdout and stderr for the launcher, which has no console of its own.
enum Terminal {
  static func write(_ bytes: [UInt8], to fd: Int32) {
    var offset = 0
    while offset < bytes.count {
      let n = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
      if n < 0, errno == EINTR { continue }
      if n <= 0 { return }
      offset += n
    }
  }

  static func warn(_ line: String) { write(Array((line + "\n").utf8), to: 2) }
}
