import Foundation
import KilnTestSupport
import Testing

/// The Makefile's install: `install-files` (what `make install` runs after the release
/// build) of the kiln under test into a DESTDIR and PREFIX, stripped, with kiln-ninja,
/// kiln-remote (the network helper, from beside the kiln under test), the man page and
/// three shells' completions; `uninstall` removes exactly those.
/// And `scripts/need`, which decides what a target must install, without dpkg.
@Suite struct InstallTests {
  /// This file is <package>/Tests/KilnIntegrationTests/InstallTests.swift.
  static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path
  /// The outer `make test`'s job server and flags are not the inner make's.
  static let cleanMake = ["MAKEFLAGS": "", "MAKELEVEL": "", "MFLAGS": ""]

  @Test func installPutsEverythingUnderDestdirAndPrefixAndUninstallRemovesIt() throws {
    let scratch = TempDirectory(prefix: "kiln-install")
    let generated = scratch.path + "/generated", root = scratch.path + "/root"
    try FileManager.default.createDirectory(atPath: generated, withIntermediateDirectories: true)
    // The man page is generate-manual's (a release build of it): a stand-in here,
    // newer than the binary so make keeps it.
    try ".TH KILN 1\n".write(toFile: generated + "/kiln.1", atomically: true, encoding: .utf8)
    try FileManager.default.createDirectory(atPath: root + "/usr/bin", withIntermediateDirectories: true)
    try "someone else's\n".write(toFile: root + "/usr/bin/other", atomically: true, encoding: .utf8)
    let variables = ["BIN_RELEASE=\(TempProject.kilnBinary)", "GENERATED=\(generated)", "DESTDIR=\(root)", "PREFIX=/usr"]

    let install = try Program.run("/usr/bin/make", ["-C", Self.packageRoot, "install-files"] + variables,
                                  in: scratch.path, environment: Self.cleanMake, timeout: 300)
    #expect(install.status == 0, "\(install)")
    let installed = [
      "usr/bin/kiln", "usr/bin/kiln-ninja", "usr/bin/kiln-remote", "usr/share/man/man1/kiln.1", "usr/share/bash-completion/completions/kiln",
      "usr/share/zsh/site-functions/_kiln", "usr/share/fish/vendor_completions.d/kiln.fish",
    ]
    for path in installed { #expect(FileManager.default.fileExists(atPath: root + "/" + path), "\(path)") }
    #expect(try FileManager.default.destinationOfSymbolicLink(atPath: root + "/usr/bin/kiln-ninja") == "kiln")
    // Stripped: no symbol table left.
    for binary in ["kiln", "kiln-remote"] {
      let symbols = try Program.run("/usr/bin/nm", [root + "/usr/bin/" + binary], in: scratch.path)
      #expect(symbols.stderr.contains("no symbols"), "\(binary): \(symbols.stderr.prefix(200))")
    }
    let version = try Program.run(root + "/usr/bin/kiln", ["--version"], in: scratch.path)
    #expect(version.status == 0 && !version.stdout.isEmpty, "\(version)")
    let bash = try String(contentsOfFile: root + "/usr/share/bash-completion/completions/kiln", encoding: .utf8)
    #expect(bash.contains("complete") && bash.contains("kiln"))
    let fish = try String(contentsOfFile: root + "/usr/share/fish/vendor_completions.d/kiln.fish", encoding: .utf8)
    #expect(fish.contains("complete -c 'kiln'"))

    let uninstall = try Program.run("/usr/bin/make", ["-C", Self.packageRoot, "uninstall"] + variables,
                                    in: scratch.path, environment: Self.cleanMake)
    #expect(uninstall.status == 0, "\(uninstall)")
    for path in installed { #expect(!FileManager.default.fileExists(atPath: root + "/" + path), "\(path)") }
    #expect(FileManager.default.fileExists(atPath: root + "/usr/bin/other"), "uninstall removes only what install put")
  }

  @Test func needFindsWhatIsPresentWithoutAPackageManager() throws {
    let scratch = TempDirectory(prefix: "kiln-need")
    let need = Self.packageRoot + "/scripts/need"
    let present = try Program.run("/bin/sh", [need, "coreutils=cmd:cp", "libc6-dev=h:stdio.h+lib:c"],
                                  in: scratch.path, environment: ["NEED_NO_APT": "1"])
    #expect(present.status == 0 && present.stdout.isEmpty, "\(present)")
    let missing = try Program.run("/bin/sh", [need, "coreutils=cmd:cp", "libnothing-dev=h:kiln-nothing.h+lib:kilnnothing",
                                              "nothing-tool=cmd:kiln-no-such-tool"],
                                  in: scratch.path, environment: ["NEED_NO_APT": "1"])
    #expect(missing.status == 1)
    #expect(missing.stdout == "kiln needs the header kiln-nothing.h and the library libkilnnothing (Debian: libnothing-dev); "
      + "the program kiln-no-such-tool (Debian: nothing-tool): install them with your system's package manager\n",
            "\(missing)")
  }
}
