import KilnCLI

#if canImport(Glibc)
import Glibc
#endif

// A null build is answered synchronously, before the first `await` starts Swift's
// concurrency runtime and its threads.
let invokedAs = CommandLine.arguments.first.map { String($0.split(separator: "/").last ?? "") } ?? "kiln"
switch KilnMain.start(Array(CommandLine.arguments.dropFirst()), as: invokedAs) {
case .exit(let status):
  exit(status)
case .run(let command):
  // Not a top-level `await`: that makes main async, and the runtime then parks the main
  // thread in dispatch_main(), whose pthread_exit unwinds it; the first unwind in this
  // static binary sorts every frame description it holds (20-25 ms of CPU for every
  // command that builds, issue 16). The main thread waits here instead, every signal
  // blocked as a thread that has exited would (Dispatch reads SIGINT, SIGTERM and
  // SIGHUP from a signalfd, which needs them blocked everywhere) but SIGTSTP, whose
  // handler only wakes the thread that stops kiln (`ProcessGroups.catchTerminalStop`,
  // started from a task, whose thread blocks every signal).
  var all = sigset_t()
  sigfillset(&all)
  sigdelset(&all, SIGTSTP)
  pthread_sigmask(SIG_BLOCK, &all, nil)
  Task.detached { exit(await command()) }
  while true { pause() }
}
