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
  exit(await command())
}
