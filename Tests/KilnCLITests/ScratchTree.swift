import Foundation
import KilnTestSupport

/// A temporary folder tree for one test of the CLI's composition: the folders, build
/// files and symbolic links a `Context` looks at. Removed when the value goes away.
final class ScratchTree {
  private let directory = TempDirectory(prefix: "kiln-cli")
  /// Absolute, without a trailing slash.
  var path: String { directory.path }

  /// A tree holding an empty file at each of `files` and an empty folder at each of
  /// `folders` (relative paths).
  init(files: [String] = [], folders: [String] = []) throws {
    for file in files { try self.file(file) }
    for folder in folders { try self.folder(folder) }
  }

  /// The absolute path of `relative` in the tree.
  func absolute(_ relative: String) -> String { relative.isEmpty ? path : path + "/" + relative }

  /// Makes `relative` and every missing folder above it.
  func folder(_ relative: String) throws {
    try FileManager.default.createDirectory(atPath: absolute(relative), withIntermediateDirectories: true)
  }

  /// Writes `text` to `relative`, making its folder.
  func file(_ relative: String, _ text: String = "") throws {
    let abs = absolute(relative)
    try FileManager.default.createDirectory(
      atPath: (abs as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    try Data(text.utf8).write(to: URL(fileURLWithPath: abs))
  }

  /// A symbolic link at `relative` pointing at `target` (taken as written).
  func link(_ relative: String, to target: String) throws {
    try FileManager.default.createSymbolicLink(atPath: absolute(relative), withDestinationPath: target)
  }

  func exists(_ relative: String) -> Bool { FileManager.default.fileExists(atPath: absolute(relative)) }
}
