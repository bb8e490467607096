#if canImport(Glibc)
import Glibc
#endif

// kiln-remote: kiln's network helper (docs/architecture.md, "The remote cache's
// helper"). kiln starts it with a socket as stdin and stdout and speaks `HelperFrame`s
// over it; it is a separate, dynamically linked executable so that kiln itself stays
// static and never pays for loading libcurl. Run by hand, it has nothing to say.
if isatty(0) != 0 {
  let usage = "kiln-remote: kiln's network helper; kiln starts it, with frames on stdin and stdout\n"
  _ = usage.withCString { write(2, $0, strlen($0)) }
  exit(2)
}
// A write to a kiln that went away fails with EPIPE instead of killing the helper.
signal(SIGPIPE, SIG_IGN)
exit(HelperLoop(input: 0, output: 1).run())
