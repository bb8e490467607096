/// Protocol buffers by hand, only as far as the remote tests need: requests to a gRPC
/// server, and reading and rewriting the entries kiln stored on a server (to forge
/// one). kiln's own encoder is not used, so a test does not check kiln against itself.
package enum Protobuf {
  /// One field as it is on the wire: varints in `number`, fixed-size values (wire types
  /// 1 and 5) and length-delimited ones in `bytes`.
  package struct Field: Equatable {
    package var field: Int
    package var wire: Int
    package var number: UInt64
    package var bytes: [UInt8]

    package init(field: Int, wire: Int, number: UInt64 = 0, bytes: [UInt8] = []) {
      self.field = field
      self.wire = wire
      self.number = number
      self.bytes = bytes
    }

    /// A length-delimited field's bytes as text.
    package var string: String { String(decoding: bytes, as: UTF8.self) }
  }

  package static func varint(_ value: UInt64) -> [UInt8] {
    var v = value, out: [UInt8] = []
    while v >= 0x80 {
      out.append(UInt8(v & 0x7F) | 0x80)
      v >>= 7
    }
    return out + [UInt8(v)]
  }

  package static func bytes(_ field: Int, _ value: [UInt8]) -> [UInt8] {
    varint(UInt64(field << 3 | 2)) + varint(UInt64(value.count)) + value
  }

  package static func string(_ field: Int, _ value: String) -> [UInt8] { bytes(field, Array(value.utf8)) }

  package static func number(_ field: Int, _ value: UInt64) -> [UInt8] { varint(UInt64(field << 3)) + varint(value) }

  /// REAPI's Digest {1: hash, 2: size_bytes}.
  package static func digest(_ hash: String, _ size: Int) -> [UInt8] { string(1, hash) + number(2, UInt64(size)) }

  /// The fields of a message in order; nil when it is not one.
  package static func fields(_ message: [UInt8]) -> [Field]? {
    var out: [Field] = []
    var at = 0
    func readVarint() -> UInt64? {
      var value: UInt64 = 0, shift: UInt64 = 0
      while at < message.count, shift < 64 {
        let byte = message[at]
        at += 1
        value |= UInt64(byte & 0x7F) << shift
        if byte < 0x80 { return value }
        shift += 7
      }
      return nil
    }
    func take(_ n: Int) -> [UInt8]? {
      guard n >= 0, n <= message.count - at else { return nil }
      defer { at += n }
      return Array(message[at..<at + n])
    }
    while at < message.count {
      guard let key = readVarint() else { return nil }
      let field = Int(key >> 3), wire = Int(key & 7)
      switch wire {
      case 0:
        guard let v = readVarint() else { return nil }
        out.append(Field(field: field, wire: 0, number: v))
      case 1, 5:
        guard let b = take(wire == 1 ? 8 : 4) else { return nil }
        out.append(Field(field: field, wire: wire, bytes: b))
      case 2:
        guard let n = readVarint(), n <= UInt64(Int.max), let b = take(Int(n)) else { return nil }
        out.append(Field(field: field, wire: 2, bytes: b))
      default: return nil
      }
    }
    return out
  }

  /// `fields` encoded again, in their order.
  package static func encode(_ fields: [Field]) -> [UInt8] {
    var out: [UInt8] = []
    for f in fields {
      out += varint(UInt64(f.field << 3 | f.wire))
      switch f.wire {
      case 0: out += varint(f.number)
      case 2: out += varint(UInt64(f.bytes.count)) + f.bytes
      default: out += f.bytes
      }
    }
    return out
  }
}
