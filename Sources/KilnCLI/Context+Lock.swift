import KilnSystem

extension Context {
  /// Waits for (and takes) the checkout lock, saying once on stderr whom it waits for.
  /// Creates `.kiln` when `create` (a build whose build file has been read); without it
  /// and no `.kiln` yet, there is nothing to lock: returns nil.
  package func lockCheckout(create: Bool) throws -> CheckoutLock? {
    let dir = layout.folder
    if fileSystem.lstat(dir) == nil, !create { return nil }
    // Made if missing; a symbolic link or a file there is refused.
    do { try OwnFile.stateFolder(dir) } catch { throw CLIError("kiln: \(error)") }
    let holder = CommandLine.arguments.map { Paths.fileName($0) == "kiln" ? "kiln" : $0 }.joined(separator: " ")
    do {
      return try CheckoutLock.acquire(
        layout.lock, describing: holder,
        waiting: { Terminal.error("kiln: waiting for another kiln in this checkout (\($0)) to finish") },
        isInterrupted: { ProcessGroups.shared.isInterrupted })
    } catch .interrupted {
      throw CLIError("kiln: interrupted", status: 130)
    } catch {
      throw CLIError("kiln: \(error)")
    }
  }
}
