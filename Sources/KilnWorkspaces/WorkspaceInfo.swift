/// One kiln workspace, as its registry file records it (`key=value` lines).
package struct WorkspaceInfo: Sendable, Equatable {
  package var name: String
  package var path: String
  /// `kiln/NAME`, or empty outside git.
  package var branch: String
  /// The commit it was made from (and is reset to); empty outside git.
  package var base: String
  package var pool = false
  /// Not yet ready: `ws new` is still checking it out.
  package var creating = false
  /// Handed out by `ws claim`, not yet released.
  package var claimed = false
  /// The process whose end gives the claim back (`claim --owner`), if one was named.
  package var owner: Int32?
  package var ownerStart: UInt64?
  package var claimedAt: Int64?
  /// The kiln process resetting it outside the registry lock (a `claim` taking over a
  /// dead claimer's workspace, or a `release`); nil when no reset is under way. While
  /// that process lives nobody else takes the workspace; once it is gone, the next
  /// claimer resets it again.
  package var resetter: ProcessIdentity?

  package init(name: String, path: String, branch: String, base: String) {
    self.name = name
    self.path = path
    self.branch = branch
    self.base = base
  }

  package var isClaimed: Bool { claimed }

  /// The claim's owner is gone: no such process, or its pid now names a process
  /// started later. False for a claim with no owner (held until released).
  package var ownerIsGone: Bool {
    guard let owner else { return false }
    return ProcessIdentity(pid: owner, start: ownerStart ?? 0).isGone
  }

  /// Whether someone holds it: claimed by a live owner (or with none named), or being
  /// reset by a live kiln. A held pool workspace is neither handed out nor removed.
  package var isHeld: Bool {
    guard claimed else { return false }
    if let resetter { return !resetter.isGone }
    return !ownerIsGone
  }

  /// What is left in it may be anyone's: a claim whose holder (or resetter) is gone.
  /// It is reset before it is handed out again.
  package var needsReset: Bool { claimed && !isHeld }

  package func encode() -> String {
    var lines = ["name=\(name)", "path=\(path)", "branch=\(branch)", "base=\(base)", "pool=\(pool ? 1 : 0)"]
    if creating { lines.append("creating=1") }
    if claimed { lines.append("claimed=1") }
    if let owner { lines.append("owner=\(owner)") }
    if let ownerStart { lines.append("owner_start=\(ownerStart)") }
    if let claimedAt { lines.append("claimed_at=\(claimedAt)") }
    if let resetter { lines.append("resetter=\(resetter.pid):\(resetter.start)") }
    return lines.joined(separator: "\n") + "\n"
  }

  package init?(decoding text: String) {
    var fields: [String: String] = [:]
    for line in text.split(separator: "\n") {
      guard let eq = line.firstIndex(of: "=") else { continue }
      fields[String(line[..<eq])] = String(line[line.index(after: eq)...])
    }
    guard let name = fields["name"], let path = fields["path"] else { return nil }
    self.init(name: name, path: path, branch: fields["branch"] ?? "", base: fields["base"] ?? "")
    pool = fields["pool"] == "1"
    creating = fields["creating"] == "1"
    claimed = fields["claimed"] == "1"
    owner = fields["owner"].flatMap { Int32($0) }
    ownerStart = fields["owner_start"].flatMap { UInt64($0) }
    claimedAt = fields["claimed_at"].flatMap { Int64($0) }
    if let parts = fields["resetter"]?.split(separator: ":"), parts.count == 2, let pid = Int32(parts[0]),
       let start = UInt64(parts[1]) {
      resetter = ProcessIdentity(pid: pid, start: start)
    }
  }

  /// The pool's order: pool-2 before pool-10.
  package var sortKey: (String, Int) { Self.orderKey(name) }

  /// The pool's order for a bare name.
  package static func orderKey(_ name: String) -> (String, Int) {
    if let dash = name.lastIndex(of: "-"), let n = Int(name[name.index(after: dash)...]) {
      return (String(name[..<dash]), n)
    }
    return (name, -1)
  }
}
