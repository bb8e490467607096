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
  // Not `exit(await command())`: an `await` here makes this an async main, whose runtime
  // parks the main thread with `dispatch_main()`, that is `pthread_exit`: a forced
  // unwind of the main thread, which in this static executable first sorts every frame
  // description of the binary (about 200 million instructions, tens of milliseconds)
  // before the command's first line runs. The command runs on the global executor and
  // its end exits the process. The main thread does what `dispatch_main` leaves it
  // doing: every asynchronous signal blocked but while it waits in `sigsuspend`, where
  // it takes the ones with a handler.
  var blocked = sigset_t()
  sigfillset(&blocked)
  for sig in [SIGILL, SIGTRAP, SIGFPE, SIGBUS, SIGSEGV, SIGSYS, SIGPIPE, SIGPROF] { sigdelset(&blocked, sig) }
  pthread_sigmask(SIG_BLOCK, &blocked, nil)
  // Ctrl-C, SIGTERM, SIGHUP and Ctrl-Z: their handler runs here, in `sigsuspend`, and
  // only notes them; what they ask for is done when it returns.
  KilnMain.catchSignals()
  Task.detached { exit(await command()) }
  var none = sigset_t()
  sigemptyset(&none)
  while true {
    sigsuspend(&none)
    KilnMain.takeSignals()
  }
}
