import KilnCore
import KilnStore
import Testing

/// `KeyRoots`: a checkout's folders written out of keys, and nothing else.
@Suite struct KeyRootsTests {
  let a = KeyRoots(["/home/u/proj/build", "/home/u/proj"])
  let b = KeyRoots(["/srv/wt/agent-7/build", "/srv/wt/agent-7"])

  @Test func theSameStepInTwoCheckoutsNormalisesAlike() {
    let inA = "gcc -I/home/u/proj/include -I/home/u/proj/build/gen -c /home/u/proj/src/a.c -o a.o"
    let inB = "gcc -I/srv/wt/agent-7/include -I/srv/wt/agent-7/build/gen -c /srv/wt/agent-7/src/a.c -o a.o"
    #expect(a.normalize(inA) == b.normalize(inB))
    #expect(a.normalize(inA) != inA)
    // The build folder is its own role, not the checkout's followed by "/build".
    #expect(a.normalize("/home/u/proj/build/x") != a.normalize("/home/u/proj/out/x"))
  }

  @Test func onlyAWholeFolderIsReplaced() {
    #expect(a.normalize("/home/u/project2/x") == "/home/u/project2/x")
    #expect(a.normalize("/home/u/proj.old") == "/home/u/proj.old")
    #expect(a.normalize("x /home/u/proj") != "x /home/u/proj")
    #expect(a.normalize("-ffile-prefix-map=/home/u/proj=.") == b.normalize("-ffile-prefix-map=/srv/wt/agent-7=."))
    // Another path in the text stays: two commands that differ there still differ.
    #expect(a.normalize("cat /etc/a /home/u/proj/x") != b.normalize("cat /etc/b /srv/wt/agent-7/x"))
  }

  @Test func resolveUndoesNormalizeInTheSameCheckout() {
    let texts = ["/home/u/proj/include/a.h", "plain", "", "/home/u/proj", "a\u{1}Ab", "\u{1}\u{1}", "x\u{1}", "/home/u/proj/build\u{1}B"]
    for text in texts {
      #expect(a.resolve(a.normalize(text)) == text, "\(text.debugDescription)")
    }
    #expect(b.resolve(a.normalize("/home/u/proj/include/a.h")) == "/srv/wt/agent-7/include/a.h")
  }

  @Test func noTextPassesForAFolder() {
    // A literal token in a command is escaped, so it cannot stand for the checkout.
    let forged = "cat \u{1}B/secret"
    #expect(a.normalize(forged) != a.normalize("cat /home/u/proj/secret"))
    #expect(a.resolve(a.normalize(forged)) == forged)
  }

  @Test func rootAndDuplicatesAreDropped() {
    #expect(KeyRoots(["/", "/a/", "/a"]).folders == ["/a"])
    #expect(KeyRoots(["relative"]).folders.isEmpty)
    #expect(KeyRoots(["/a/b", "/a"]).needles == ["/a"])
    #expect(KeyRoots(["/b/build", "/a"]).needles == ["/b/build", "/a"])
  }
}

/// A cache entry through `mapPaths`: what the command printed follows the checkout too.
@Suite struct ActionEntryPathMapTests {
  @Test func printedTextNamesTheCheckoutItIsRestoredInto() {
    let a = KeyRoots(["/home/u/proj"])
    let b = KeyRoots(["/srv/wt/agent-7"])
    var entry = ActionEntry(
      discovered: [], outputs: [], declaredOutputs: [],
      stdout: Array("built /home/u/proj/out\n".utf8),
      stderr: Array("/home/u/proj/src/a.c:3: warning: unused\n".utf8), duration: 1)
    entry.mapPaths(a.normalize)
    entry.mapPaths(b.resolve)
    #expect(String(decoding: entry.stdout, as: UTF8.self) == "built /srv/wt/agent-7/out\n")
    #expect(String(decoding: entry.stderr, as: UTF8.self) == "/srv/wt/agent-7/src/a.c:3: warning: unused\n")
    // Bytes that are not text stay as they are.
    var binary = ActionEntry(discovered: [], outputs: [], declaredOutputs: [],
                             stdout: [0xFF, 0x01, 0x41], stderr: [], duration: 1)
    binary.mapPaths(b.resolve)
    #expect(binary.stdout == [0xFF, 0x01, 0x41])
  }
}
