#if canImport(Glibc)
import Glibc
#endif
import KilnConfig
import KilnCore
import KilnSystem

/// A fresh directory under `$TMPDIR` for one test: the workspace root an `Expander`
/// globs over. Removed (without following symlinks) when the value goes away.
final class ScratchDirectory {
  let path: String
  private let fileSystem = LocalFileSystem()

  /// Creates the directory and, for each relative path in `files`, an empty file.
  init(files: [String] = []) {
    let base = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
    var template = Array("\(base)/kiln-config-tests.XXXXXX".utf8CString)
    let made = template.withUnsafeMutableBufferPointer { buffer in mkdtemp(buffer.baseAddress!) != nil }
    precondition(made, "mkdtemp failed: errno \(errno)")
    path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    for file in files { write(file) }
  }

  deinit { try? fileSystem.remove(path) }

  /// Writes `text` to a workspace-relative path, creating parent directories.
  func write(_ relative: String, _ text: String = "") {
    let absolute = Paths.join(path, relative)
    do {
      try fileSystem.createDirectories(Paths.parent(absolute))
      try fileSystem.writeAtomically(Array(text.utf8), to: absolute, permissions: 0o644)
    } catch {
      preconditionFailure("cannot write \(absolute): \(error)")
    }
  }

  /// Creates a symlink at a workspace-relative path.
  func symlink(_ relative: String, to target: String) {
    let absolute = Paths.join(path, relative)
    try? fileSystem.createDirectories(Paths.parent(absolute))
    precondition(Glibc.symlink(target, absolute) == 0, "symlink \(absolute) failed: errno \(errno)")
  }

  /// Copies a directory tree into this one, keeping symlinks as symlinks.
  func copy(tree source: String, skipping skipped: Set<String> = []) {
    copy(from: source, to: path, skipping: skipped)
  }

  private func copy(from source: String, to destination: String, skipping skipped: Set<String>) {
    for name in fileSystem.contents(ofDirectory: source) ?? [] where !skipped.contains(name) {
      let from = source + "/" + name
      let to = destination + "/" + name
      switch fileSystem.lstat(from)?.kind {
      case .directory:
        try? fileSystem.createDirectory(to)
        copy(from: from, to: to, skipping: [])
      case .symlink:
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlink(from, &buffer, buffer.count - 1)
        precondition(count >= 0, "readlink \(from) failed")
        let target = String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        precondition(Glibc.symlink(target, to) == 0, "symlink \(to) failed")
      case .file:
        _ = try? fileSystem.copy(from, to: to, permissions: 0o644)
      default:
        break
      }
    }
  }

  /// Parses `yaml` and expands it against this directory.
  func graph(_ yaml: String, hiddenOutputs: Set<String> = []) throws(ConfigError) -> TaskGraph {
    let file = try BuildFileParser(displayPath: "kiln.yml").parse(yaml)
    return try Expander(file: file, root: path, fileSystem: fileSystem, hiddenOutputs: hiddenOutputs).expand()
  }

  /// The first error parsing or expanding `yaml` here, or nil when it is valid.
  func error(_ yaml: String) -> ConfigError? {
    do {
      _ = try graph(yaml)
      return nil
    } catch {
      return error
    }
  }
}

/// Parses a build file held in a string.
func parse(_ yaml: String) throws(ConfigError) -> BuildFile {
  try BuildFileParser(displayPath: "kiln.yml").parse(yaml)
}

/// Expands `yaml` in a scratch workspace holding `files` (empty), which is gone after.
func expand(_ yaml: String, files: [String] = [], hiddenOutputs: Set<String> = []) throws(ConfigError) -> TaskGraph {
  try ScratchDirectory(files: files).graph(yaml, hiddenOutputs: hiddenOutputs)
}

/// The first error of `yaml` in a scratch workspace holding `files`, or nil.
func expansionError(_ yaml: String, files: [String] = []) -> ConfigError? {
  ScratchDirectory(files: files).error(yaml)
}

extension TaskGraph {
  /// Every instance's id as printed (`compile src/a.c`), in graph order.
  var ids: [String] { instances.map(\.id.description) }

  /// The instance with this printed id.
  func instance(_ id: String) -> TaskInstance? { instances.first { $0.id.description == id } }
}
