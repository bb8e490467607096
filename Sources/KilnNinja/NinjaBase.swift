import KilnCore
import KilnSystem

/// The checkout a build folder belongs to, whose absolute path CMake and Meson write
/// into commands and depfiles: written out of keys (`KeyRoots`) with the build folder,
/// so a second worktree at another path, or a `kiln ws` workspace, shares the cache.
///
/// In order: `KILN_BASE_DIR` (as ccache's `base_dir`, absolute); the nearest folder
/// holding `.git` at or above the build folder; for a build folder outside any
/// checkout, the source folder CMake (`CMakeCache.txt`) or Meson
/// (`meson-info/meson-info.json`) recorded, or the checkout holding it.
package enum NinjaBase {
  package static func find(buildFolder: String, fileSystem fs: any FileSystem,
                           environment: [String: String]) -> String? {
    if let given = environment["KILN_BASE_DIR"], given.hasPrefix("/"), let base = Paths.normalize(given) {
      return base
    }
    if let checkout = checkout(holding: buildFolder, fs) { return checkout }
    guard let source = sourceFolder(of: buildFolder, fs) else { return nil }
    return checkout(holding: source, fs) ?? source
  }

  /// The nearest folder at or above `folder` that holds `.git` (a folder, or the file
  /// of a worktree), never `/` itself.
  static func checkout(holding folder: String, _ fs: any FileSystem) -> String? {
    var dir = folder
    while dir != "/", !dir.isEmpty {
      if fs.lstat(dir + "/.git") != nil { return dir }
      dir = Paths.parent(dir)
    }
    return nil
  }

  /// The source folder the generator that wrote `buildFolder` recorded there.
  static func sourceFolder(of buildFolder: String, _ fs: any FileSystem) -> String? {
    if let bytes = try? fs.read(buildFolder + "/CMakeCache.txt") {
      let prefix = "CMAKE_HOME_DIRECTORY:INTERNAL="
      for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") where line.hasPrefix(prefix) {
        let path = String(line.dropFirst(prefix.count))
        if path.hasPrefix("/") { return Paths.normalize(path) }
      }
    }
    if let bytes = try? fs.read(buildFolder + "/meson-info/meson-info.json") {
      // {"directories": {"source": "/path", ...}, ...}: the one string after "source".
      let key = Array("\"source\"".utf8)
      if let at = bytes.indices.first(where: { bytes[$0...].starts(with: key) }) {
        let rest = bytes[(at + key.count)...].drop { $0 != UInt8(ascii: "\"") }.dropFirst()
        let value = rest.prefix { $0 != UInt8(ascii: "\"") }
        if value.count < rest.count, !value.contains(UInt8(ascii: "\\")), value.first == UInt8(ascii: "/") {
          return Paths.normalize(String(decoding: value, as: UTF8.self))
        }
      }
    }
    return nil
  }
}
