#if canImport(Glibc)
import Glibc
#endif
import Foundation
import KilnTestSupport
import Testing

/// A task's command that the shell would only split into words is started without
/// `/bin/sh -c` (`DirectCommand`), as make does: the program's parent is kiln itself.
/// One that needs the shell still runs under it, and both give the same results.
@Suite struct DirectRunTests {
  static let files = [
    // Writes the name of the process that started it, and its arguments, to "$1".
    "tools/parent": "#!/bin/sh\nout=$1; shift\n{ cat /proc/$PPID/comm; echo \"$*\"; } > \"$out\"\n",
    "kiln.yml": """
      env:
        FLAGS: -a   -b
      tasks:
        plain:
          inputs: [tools/parent]
          outputs: out/plain.txt
          run: tools/parent out/plain.txt $FLAGS ${FLAGS}c
        shelled:
          inputs: [tools/parent]
          outputs: out/shelled.txt
          run: tools/parent out/shelled.txt $FLAGS ${FLAGS}c && true
        quoted:
          inputs: [tools/parent]
          outputs: out/quoted.txt
          run: tools/parent out/quoted.txt "$FLAGS"
      """,
  ]

  @Test func aPlainCommandRunsWithoutTheShell() throws {
    let p = try TempProject(Self.files, executable: ["tools/parent"])
    let r = try p.kiln("build", "plain", "shelled", "quoted")
    #expect(r.status == 0, "\(r)")
    #expect(p.read("out/plain.txt") == "kiln\n-a -b -a -bc\n", "\(r)")
    #expect(p.read("out/shelled.txt") == "sh\n-a -b -a -bc\n", "\(r)")
    #expect(p.read("out/quoted.txt") == "sh\n-a   -b\n", "\(r)")
  }
}
