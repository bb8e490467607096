import Foundation
import KilnTestSupport

/// Makes the number of task commands running at once observable, without timing.
///
/// A probed command takes a token (a folder `tokens/ID`, made with mkdir) when it
/// starts and gives it back (rmdir) when it ends, so the number of tokens at any
/// instant is at most the number of commands running then. Each command notes that
/// number in `log` when it takes its token and again before it gives it back. It also
/// waits, holding its token, until it sees `target` tokens or another command has seen
/// them (the file `reached`), for at most `deadline` seconds: so when the build can run
/// `target` commands at once, they do meet, and that is observed, not timed.
struct ConcurrencyProbe {
  let folder = TempDirectory(prefix: "kiln-it-probe")
  let target: Int
  /// Seconds a command waits for the others at most (generous: reaching the deadline
  /// means the build did not run `target` commands at once).
  let deadline: Int

  init(target: Int, deadline: Int = 30) {
    self.target = target
    self.deadline = deadline
    try? FileManager.default.createDirectory(atPath: tokens, withIntermediateDirectories: false)
  }

  var tokens: String { folder.path + "/tokens" }
  var log: String { folder.path + "/log" }
  var reached: String { folder.path + "/reached" }

  /// Shell for one command (`id` unique to it, such as `{stem}`): take a token, note
  /// the count, wait for the others, note the count again, give the token back. Its
  /// exit status is 0 unless the token could not be taken or given back.
  func shell(id: String) -> String {
    let count = "n=$(ls \(tokens) | wc -l)"
    let polls = deadline * 50
    return "(mkdir \(tokens)/\(id) && \(count) && echo \"\(id) $n\" >> \(log) && i=0"
      + " && while [ $n -lt \(target) ] && [ ! -f \(reached) ] && [ $i -lt \(polls) ]; do sleep 0.02; i=$((i+1)); \(count); done"
      + "; if [ $n -ge \(target) ]; then : > \(reached); fi"
      + "; \(count); echo \"\(id) $n\" >> \(log); rmdir \(tokens)/\(id))"
  }

  /// Every note in the log: the command's id and the tokens it counted.
  func notes() -> [(id: String, count: Int)] {
    let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
    return text.split(separator: "\n").compactMap { line in
      let parts = line.split(separator: " ")
      guard parts.count == 2, let n = Int(parts[1]) else { return nil }
      return (String(parts[0]), n)
    }
  }

  /// The most commands any command saw running at once (itself included).
  var mostSeen: Int { notes().map(\.count).max() ?? 0 }

  /// How many times each id took a token: one start and one end note per run.
  var runsPerID: [String: Int] { notes().reduce(into: [:]) { $0[$1.id, default: 0] += 1 }.mapValues { $0 / 2 } }

  /// Whether some command saw `target` tokens.
  var wasReached: Bool { FileManager.default.fileExists(atPath: reached) }
}

extension Fixture {
  /// `count` independent tasks (`work`, foreach over `src/t1.txt`...), each running
  /// `command`; `content(i)` is what `src/tI.txt` holds.
  static func independentTasks(count: Int, command: String, content: (Int) -> String) -> [String: String] {
    var files = [
      "kiln.yml": """
        tasks:
          work:
            foreach: src/*.txt
            outputs: out/{stem}.txt
            run: \(quoted(command))
        """
    ]
    for i in 1...count { files["src/t\(i).txt"] = content(i) }
    return files
  }
}
