import KilnCLI

#if canImport(Glibc)
import Glibc
#endif

// A null build is answered synchronously, before the first `await` starts Swift's
// concurrency runtime and its threads.
switch KilnMain.prepare(Array(CommandLine.arguments.dropFirst())) {
case .exit(let status):
  exit(status)
case .arguments(let args):
  if let status = KilnMain.nullBuild(args) { exit(status) }
  exit(await KilnMain.run(prepared: args))
}
