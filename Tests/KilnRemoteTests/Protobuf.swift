/// Protocol buffers by hand, only as far as the gRPC tests need: the transport never
/// encodes messages; the layer above does, with its own encoder.
enum Protobuf {
  static func varint(_ value: UInt64) -> [UInt8] {
    var v = value, out: [UInt8] = []
    while v >= 0x80 {
      out.append(UInt8(v & 0x7F) | 0x80)
      v >>= 7
    }
    return out + [UInt8(v)]
  }

  static func bytes(_ field: Int, _ value: [UInt8]) -> [UInt8] {
    varint(UInt64(field << 3 | 2)) + varint(UInt64(value.count)) + value
  }

  static func string(_ field: Int, _ value: String) -> [UInt8] { bytes(field, Array(value.utf8)) }

  static func number(_ field: Int, _ value: UInt64) -> [UInt8] { varint(UInt64(field << 3)) + varint(value) }

  /// REAPI's Digest {1: hash, 2: size_bytes}.
  static func digest(_ hash: String, _ size: Int) -> [UInt8] { string(1, hash) + number(2, UInt64(size)) }

  /// The fields of a message: (field number, varint value or length-delimited bytes).
  static func fields(_ message: [UInt8]) -> [(field: Int, number: UInt64, bytes: [UInt8])]? {
    var out: [(Int, UInt64, [UInt8])] = []
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
    while at < message.count {
      guard let key = readVarint() else { return nil }
      switch key & 7 {
      case 0:
        guard let v = readVarint() else { return nil }
        out.append((Int(key >> 3), v, []))
      case 2:
        guard let n = readVarint(), Int(n) <= message.count - at else { return nil }
        out.append((Int(key >> 3), 0, Array(message[at..<at + Int(n)])))
        at += Int(n)
      default: return nil
      }
    }
    return out
  }
}
