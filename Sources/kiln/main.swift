import KilnCLI

#if canImport(Glibc)
import Glibc
#endif

exit(await KilnMain.run(Array(CommandLine.arguments.dropFirst())))
