import KilnSystem

/// A command as a person should read it: `$NAME` and `${NAME}` replaced by the value the
/// command ran with (the task's `env:` over kiln's environment), outside single quotes;
/// anything else the shell would expand (`$(...)`, `$1`, `${A:-b}`) stays as written.
/// For `-v` and failures only: what runs is always the command itself.
enum ShownCommand {
  static func expand(_ command: String, _ variables: (String) -> String?) -> String {
    guard command.utf8.contains(UInt8(ascii: "$")) else { return command }
    let bytes = Array(command.utf8)
    var shown: [UInt8] = []
    shown.reserveCapacity(bytes.count)
    var quoted = false
    var i = 0
    while i < bytes.count {
      let c = bytes[i]
      if c == UInt8(ascii: "'") { quoted.toggle() }
      if c == UInt8(ascii: "\\"), !quoted, i + 1 < bytes.count {
        shown += bytes[i...i + 1]
        i += 2
        continue
      }
      if c == UInt8(ascii: "$"), !quoted, let (name, end) = DirectCommand.variable(bytes, after: i), let value = variables(name) {
        shown += Array(value.utf8)
        i = end
        continue
      }
      shown.append(c)
      i += 1
    }
    return String(decoding: shown, as: UTF8.self)
  }
}
