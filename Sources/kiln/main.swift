import Dispatch
import KilnCLI
import Synchronization

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
  // Not an async main: Swift ends one in dispatch_main(), whose pthread_exit unwinds the
  // main thread, and the first unwind in a static executable sorts the frame entries of
  // the whole binary: 20 ms of CPU on every build that runs a task. The command runs on
  // the concurrency runtime's threads while this one waits, then exits with its status.
  nonisolated(unsafe) let run = command
  let status = Mutex<Int32>(0)
  let done = DispatchSemaphore(value: 0)
  Task.detached {
    let result = await run()
    status.withLock { $0 = result }
    done.signal()
  }
  done.wait()
  exit(status.withLock { $0 })
}
