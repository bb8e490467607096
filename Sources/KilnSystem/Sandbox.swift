/// The private view of the machine a task with `isolate: true` runs in, as the
/// arguments of bubblewrap (`bwrap`, Debian's `bubblewrap`, the sandbox buildbox-run and
/// Flatpak use), which builds the view from unprivileged user, mount, network, IPC, PID
/// and UTS namespaces. kiln's sandbox server (`SandboxServer`) reads the same arguments
/// (the subset written here) and builds the same view in namespaces it shares across a
/// build; bubblewrap runs them where the server cannot, one `bwrap` per task.
///
/// What the command sees, in mount order (a later mount hides what an earlier one put
/// at its path):
///   1. the system policy, read-only: `systemFolders` (a host folder that is a symlink,
///      merged /usr's `/bin -> usr/bin`, is made the same symlink) and `systemFiles`
///      (the dynamic loader's cache and configuration, `update-alternatives`' links
///      such as `/usr/bin/cc -> /etc/alternatives/cc`, the user and group names, the
///      time zone); what the host lacks is left out;
///   2. a fresh `/dev` (null, zero, random, tty, ...), a fresh `/proc`, a private empty
///      tmpfs on `/tmp`; no network (only a loopback of its own), no IPC, no PID or
///      host name of the machine's;
///   3. each folder the command writes its declared outputs (and depfile) in, over a
///      scratch folder under the workspace's `.kiln/` (`writable`): what is written
///      there stays out of the workspace until kiln moves the declared outputs in;
///   4. the declared inputs and tools, read-only, each at its own absolute path, so the
///      workspace appears at its real path holding only them and relative paths in the
///      command mean what they mean outside (a file bound inside an output folder
///      shows through, as the input it is);
///   5. the working directory (`dir`), made when nothing above made it.
/// Anything else the command writes (in the workspace's folders, in `/`) lands in the
/// sandbox's own memory and is gone when it ends.
package struct Sandbox: Sendable, Hashable {
  /// Folders shown read-only: programs and their libraries.
  package static let systemFolders = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"]
  /// Files (and small folders) of `/etc` shown read-only: what the dynamic loader,
  /// compilers and `id`-style lookups read.
  package static let systemFiles = [
    "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives",
    "/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/etc/localtime",
  ]
  /// The namespaces unshared (bubblewrap's flags). `--unshare-user` is not among them:
  /// bubblewrap makes a user namespace itself when it is not run as root.
  package static let isolation = [
    "--die-with-parent", "--new-session", "--unshare-net", "--unshare-ipc", "--unshare-pid", "--unshare-uts",
  ]

  /// One piece of the system policy as this machine has it.
  package enum SystemEntry: Sendable, Hashable {
    /// Bound read-only at its own path.
    case folder(String)
    /// A symlink, made the same inside.
    case link(String, target: String)
  }

  /// A folder the command may write in: `folder` (absolute) shows `scratch`.
  package struct Mount: Sendable, Hashable {
    package var folder: String
    package var scratch: String
    package init(folder: String, scratch: String) {
      self.folder = folder
      self.scratch = scratch
    }
  }

  /// The policy's folders as the host has them (`systemLayout(on:)`).
  package var system: [SystemEntry]
  /// Absolute paths shown read-only at their own path: inputs, tools.
  package var inputs: [String]
  package var writable: [Mount]
  /// Absolute; where the command starts.
  package var workingDirectory: String
  /// Host folders shown read-write at another path (the diagnosis run's trace folder).
  package var extraBinds: [Mount] = []

  package init(system: [SystemEntry], inputs: [String], writable: [Mount], workingDirectory: String) {
    self.system = system
    self.inputs = inputs
    self.writable = writable
    self.workingDirectory = workingDirectory
  }

  /// `systemFolders` as they are on the host behind `fileSystem`: symlinks kept as
  /// symlinks, missing ones left out.
  package static func systemLayout(on fileSystem: any FileSystem) -> [SystemEntry] {
    systemFolders.compactMap { path in
      switch fileSystem.lstat(path)?.kind {
      case .symlink: (try? fileSystem.readLink(path)).map { SystemEntry.link(path, target: $0) }
      case .directory: .folder(path)
      default: nil
      }
    }
  }

  /// Whether the system policy shows `path` already (an input there needs no mount).
  package static func isSystem(_ path: String) -> Bool {
    (systemFolders + systemFiles).contains { path == $0 || path.hasPrefix($0 + "/") }
  }

  /// bubblewrap's arguments (after the program's own name) to run `command` (argv) in
  /// this sandbox.
  package func arguments(running command: [String]) -> [String] {
    var args = Self.isolation
    for entry in system {
      switch entry {
      case .folder(let path): args += ["--ro-bind", path, path]
      case .link(let path, let target): args += ["--symlink", target, path]
      }
    }
    for file in Self.systemFiles { args += ["--ro-bind-try", file, file] }
    args += ["--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
    // A folder before the folders inside it: the inner scratch shows through the outer.
    for mount in writable.sorted(by: { $0.folder < $1.folder }) { args += ["--bind", mount.scratch, mount.folder] }
    var seen = Set<String>()
    for input in inputs where !Self.isSystem(input) && seen.insert(input).inserted {
      // `-try`: a declared input that is missing is missing inside too, as outside.
      args += ["--ro-bind-try", input, input]
    }
    for mount in extraBinds { args += ["--bind", mount.scratch, mount.folder] }
    args += ["--dir", workingDirectory, "--chdir", workingDirectory]
    return args + command
  }

  /// The sandbox's own complaint when it could not be built (no user namespaces, a
  /// mount refused), from the run's standard error: bubblewrap and kiln's sandbox
  /// server exit 1 and say `bwrap: ...` or `kiln sandbox: ...` before the command ever
  /// starts.
  package static func setupFailure(status: Int32, stderr: [UInt8]) -> String? {
    guard status == 1 else { return nil }
    let first = stderr.split(separator: UInt8(ascii: "\n"), maxSplits: 1).first.map { String(decoding: $0, as: UTF8.self) } ?? ""
    return first.hasPrefix("bwrap: ") || first.hasPrefix("kiln sandbox: ") ? first : nil
  }
}
