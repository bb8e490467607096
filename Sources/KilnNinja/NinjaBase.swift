import KilnCore
import KilnSystem

/// The checkout a build folder belongs to, whose absolute path CMake and Meson write
/// into commands and depfiles: written out of keys (`KeyRoots`) with the build folder,
/// so a second worktree at another path, or a `kiln ws` workspace, shares the cache.
///
/// In order: `KILN_BASE_DIR` (as ccache's `base_dir`, absolute); the source folder
/// CMake (`CMakeCache.txt`) or Meson (`meson-info/meson-info.json`) recorded, or the
/// checkout holding it; else the checkout holding the build folder. A checkout is the
/// nearest folder at or above holding `.git` or a `kiln.yml`, never looked for past a
/// `.git` folder the path lies in: a hook's snapshot of the index, kept under
/// `.git/kiln/hooks/`, is a checkout of its own (its kiln.yml says so), and what it
/// builds shares keys with the working tree's build.
package enum NinjaBase {
  package static func find(buildFolder: String, fileSystem fs: any FileSystem,
                           environment: [String: String]) -> String? {
    if let given = environment["KILN_BASE_DIR"], given.hasPrefix("/"), let base = Paths.normalize(given) {
      return base
    }
    if let source = sourceFolder(of: buildFolder, fs) { return checkout(holding: source, fs) ?? source }
    return checkout(holding: buildFolder, fs)
  }

  /// The nearest folder at or above `folder` that holds `.git` (a folder, or the file
  /// of a worktree) or `kiln.yml`, never `/` itself.
  static func checkout(holding folder: String, _ fs: any FileSystem) -> String? {
    var dir = folder
    while dir != "/", !dir.isEmpty {
      if Paths.fileName(dir) == ".git" { return nil }
      if fs.lstat(dir + "/.git") != nil || fs.lstat(dir + "/kiln.yml") != nil { return dir }
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
