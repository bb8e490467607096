import KilnSystem
import Testing

/// `Sandbox`: bubblewrap's arguments for an isolated task, and `SandboxTrace`: what a
/// failed isolated command looked for, read from strace's log.
@Suite struct SandboxTests {
  static let sandbox = Sandbox(
    system: [.folder("/usr"), .link("/bin", target: "usr/bin")],
    inputs: ["/ws/src/a.c", "/usr/bin/cc", "/ws/build/gen.h", "/opt/tool/bin/t", "/ws/src/a.c"],
    writable: [Sandbox.Mount(folder: "/ws/build/sub", scratch: "/ws/.kiln/sandbox/1-1/1"),
               Sandbox.Mount(folder: "/ws/build", scratch: "/ws/.kiln/sandbox/1-1/0")],
    workingDirectory: "/ws/src")

  /// The (flag, paths...) groups of an argument list, for checking order.
  static func position(of words: [String], in args: [String]) -> Int? {
    (0...(args.count - words.count)).first { Array(args[$0..<$0 + words.count]) == words }
  }

  @Test func mountsComeInPolicyOutputsInputsOrder() throws {
    let args = Self.sandbox.arguments(running: ["/bin/sh", "-c", "cc -c a.c"])
    #expect(Array(args.suffix(3)) == ["/bin/sh", "-c", "cc -c a.c"])
    for flag in ["--unshare-net", "--unshare-ipc", "--unshare-pid", "--unshare-uts", "--die-with-parent"] {
      #expect(args.contains(flag), "\(flag)")
    }
    let usr = try #require(Self.position(of: ["--ro-bind", "/usr", "/usr"], in: args))
    let bin = try #require(Self.position(of: ["--symlink", "usr/bin", "/bin"], in: args))
    let tmp = try #require(Self.position(of: ["--tmpfs", "/tmp"], in: args))
    let outer = try #require(Self.position(of: ["--bind", "/ws/.kiln/sandbox/1-1/0", "/ws/build"], in: args))
    let inner = try #require(Self.position(of: ["--bind", "/ws/.kiln/sandbox/1-1/1", "/ws/build/sub"], in: args))
    let input = try #require(Self.position(of: ["--ro-bind-try", "/ws/build/gen.h", "/ws/build/gen.h"], in: args))
    let chdir = try #require(Self.position(of: ["--chdir", "/ws/src"], in: args))
    // The system first, /tmp before a workspace that may live in it, a folder before
    // the folders inside it, inputs over the output folders, the working folder last.
    #expect(usr < tmp && bin < tmp && tmp < outer && outer < inner && inner < input && input < chdir)
    #expect(Self.position(of: ["--ro-bind-try", "/opt/tool/bin/t", "/opt/tool/bin/t"], in: args) != nil)
    // An input the policy shows already is not mounted again; one named twice, once.
    #expect(!args.contains("/usr/bin/cc"))
    #expect(args.filter { $0 == "/ws/src/a.c" }.count == 2)
  }

  @Test func policyPathsAreSystemAndOthersAreNot() {
    #expect(Sandbox.isSystem("/usr/lib/x86_64-linux-gnu/libc.so.6"))
    #expect(Sandbox.isSystem("/etc/alternatives/cc"))
    #expect(!Sandbox.isSystem("/usrlocal/x"))
    #expect(!Sandbox.isSystem("/etc/shadow"))
    #expect(!Sandbox.isSystem("/home/u/project/a.c"))
  }

  @Test func bubblewrapsOwnComplaintIsASetupFailure() {
    let refused = Array("bwrap: No permissions to creating new namespace\n".utf8)
    #expect(Sandbox.setupFailure(status: 1, stderr: refused) == "bwrap: No permissions to creating new namespace")
    #expect(Sandbox.setupFailure(status: 2, stderr: refused) == nil)
    #expect(Sandbox.setupFailure(status: 1, stderr: Array("cat: x: No such file or directory\n".utf8)) == nil)
  }

  static let log = """
    12    access("/etc/ld.so.preload", R_OK) = -1 ENOENT (No such file or directory)
    12    openat(AT_FDCWD</ws/src>, "../inc/b.h", O_RDONLY) = -1 ENOENT (No such file or directory)
    13    newfstatat(3</ws/gen>, "x.c", 0x7ffd, 0) = -1 ENOENT (No such file or directory)
    13    openat(AT_FDCWD</ws>, "we\\"ird \\303\\251.h", O_RDONLY) = -1 ENOENT (No such file or directory)
    13    mkdir("out", 0777) = -1 EEXIST (File exists)
    14    stat("rel.txt", 0x7ffd) = -1 ENOENT (No such file or directory)
    14    openat(AT_FDCWD</ws/src>, "../inc/b.h", O_RDONLY) = -1 ENOENT (No such file or directory)
    14    --- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=7302, si_status=1} ---
    """

  @Test func missingPathsAreResolvedAgainstTheirFolder() {
    let paths = SandboxTrace.missingPaths(in: Array(Self.log.utf8), workingDirectory: "/ws/dir")
    #expect(paths == ["/etc/ld.so.preload", "/ws/inc/b.h", "/ws/gen/x.c", "/ws/we\"ird é.h", "/ws/dir/rel.txt"])
  }

  @Test func onlyWhatTheHostHasAndNoDeclarationGaveIsUndeclared() {
    let onHost: Set = ["/ws/inc/b.h", "/ws/src/a.c", "/ws/.kiln/state.db", "/opt/tool/bin/t", "/usr/lib/libz.so"]
    let missing = ["/ws/inc/b.h", "/ws/gen/x.c", "/ws/src/a.c", "/ws/.kiln/state.db", "/opt/tool/bin/t",
                   "/usr/lib/libz.so", "/etc/ld.so.preload", "/root/.cargo/bin/cc"]
    let (inside, outside) = SandboxTrace.undeclared(missing, root: "/ws", declared: ["src/a.c"], exists: onHost.contains)
    // gen/x.c: not on the host either (a probe); src/a.c: declared; .kiln: kiln's own.
    #expect(inside == ["inc/b.h"])
    // The policy's folders and files are in the sandbox: missing there means missing.
    #expect(outside == ["/opt/tool/bin/t"])
  }
}
