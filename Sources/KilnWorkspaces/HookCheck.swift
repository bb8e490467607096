import KilnStore
import KilnSystem

/// Which files of an index a hook's tasks can read: the build file, every path its
/// tasks' `inputs` and `foreach` globs match (or folders they name), and the inputs the
/// working tree's last builds discovered (headers). A hook syncs only these first.
package struct HookSelection: Sendable {
  /// The build file's name and folder (relative to the top, "" at the top).
  package let buildFileName: String
  package let buildDirectory: String
  package let discovered: Set<String>
  private let globs: [Glob]
  private let folders: [String]

  /// `patterns`: the tasks' `inputs` and `foreach` patterns, relative to the build
  /// file's folder; `discovered`: inputs found by earlier builds, relative to it too.
  package init(buildFileName: String, buildDirectory: String, patterns: [String], discovered: Set<String>) {
    self.buildFileName = buildFileName
    self.buildDirectory = buildDirectory
    self.discovered = discovered
    globs = patterns.map { Glob($0) }
    folders = patterns.map { $0 + "/" }
  }

  /// Whether the task may read `path` (relative to the top of the repository).
  package func contains(_ path: String) -> Bool {
    let prefix = buildDirectory.isEmpty ? "" : buildDirectory + "/"
    guard path.hasPrefix(prefix) else { return false }
    let relative = String(path.dropFirst(prefix.count))
    return relative == buildFileName || discovered.contains(relative) || globs.contains { $0.matches(relative) }
      || folders.contains { relative.hasPrefix($0) }
  }
}

/// pre-push's input: what git passes on stdin.
package enum PrePush {
  /// The commits being pushed, oldest first, each once: for every line
  /// `LOCAL_REF LOCAL_SHA REMOTE_REF REMOTE_SHA` (a deletion aside), the commits of
  /// LOCAL_SHA not on the remote side (REMOTE_SHA, or every remote branch for a new one).
  package static func commits(pushed text: String, git: any Git, in directory: String) async throws(HookError)
    -> [String]
  {
    var commits: [String] = []
    for line in text.split(separator: "\n") {
      let fields = line.split(separator: " ").map(String.init)
      guard fields.count == 4, !fields[1].allSatisfy({ $0 == "0" }) else { continue }
      let excluded = fields[3].allSatisfy({ $0 == "0" }) ? ["--remotes"] : [fields[3]]
      let list: [String]
      do { list = try await git.commits(from: fields[1], excluding: excluded, in: directory) } catch {
        throw .prePush(GitFailure("git " + error.subcommand, error.message))
      }
      for sha in list where !commits.contains(sha) { commits.append(sha) }
    }
    return commits
  }
}

/// What a build tells the hook that started it: the instances that failed and their
/// inputs, so the hook can say which staged file each concerns without reading the
/// build's console text. The hook names a file of its own in `variable`; `kiln build`
/// writes it when it finishes (a null build, which fails nothing, writes nothing).
///
/// Format (sealed, `KILNHBR1`): NUL-terminated fields; first the pid of the process
/// that started the writer (the hook; a kiln that a task of the build runs inherits the
/// variable too, and its parent is the task's shell: its file is not the answer), then
/// per failed instance `F<id>`, followed by `I<input>` for each of its inputs.
package struct HookBuildResult: Sendable, Equatable {
  /// The variable that names the file.
  package static let variable = "KILN_HOOK_RESULT"
  static let magic = Array("KILNHBR1".utf8)

  /// One failed instance: its id as the build prints it, and its inputs (relative to
  /// the build file's folder).
  package struct Failure: Sendable, Equatable {
    package var id: String
    package var inputs: [String]
    package init(id: String, inputs: [String]) {
      self.id = id
      self.inputs = inputs
    }
  }

  /// The process that started the build (`getppid()` of the writer).
  package var parent: Int32
  package var failures: [Failure]

  package init(parent: Int32, failures: [Failure]) {
    self.parent = parent
    self.failures = failures
  }

  package func encoded() -> [UInt8] {
    var bytes = Array(String(parent).utf8) + [0]
    for failure in failures {
      bytes += Array(("F" + failure.id).utf8) + [0]
      for input in failure.inputs { bytes += Array(("I" + input).utf8) + [0] }
    }
    return Seal.close(Self.magic, bytes)
  }

  package init?(decoding sealed: [UInt8]) {
    guard let bytes = Seal.open(Self.magic, sealed), bytes.last == 0 else { return nil }
    var fields = bytes.dropLast().split(separator: 0, omittingEmptySubsequences: false).map {
      String(decoding: $0, as: UTF8.self)
    }
    guard !fields.isEmpty, let parent = Int32(fields.removeFirst()) else { return nil }
    var failures: [Failure] = []
    for field in fields {
      switch field.first {
      case "F": failures.append(Failure(id: String(field.dropFirst()), inputs: []))
      case "I" where !failures.isEmpty: failures[failures.count - 1].inputs.append(String(field.dropFirst()))
      default: return nil
      }
    }
    self.init(parent: parent, failures: failures)
  }

  /// The result a build started by `parent` wrote at `path`; nil when there is none
  /// (or a build started by another process wrote it).
  package static func read(_ path: String, startedBy parent: Int32, fileSystem: any FileSystem) -> HookBuildResult? {
    guard let bytes = try? fileSystem.read(path), let result = HookBuildResult(decoding: bytes), result.parent == parent
    else { return nil }
    return result
  }
}
