import KilnCore

/// The protobuf wire format, as far as REAPI's messages need it: varints, 64-bit
/// fixed numbers, and length-delimited fields (strings, bytes, nested messages).
/// Written by hand rather than with swift-protobuf: a dozen messages, a few fields of
/// each, and a decoder that must treat every byte as untrusted (bounded lengths, no
/// recursion it did not ask for); swift-protobuf's runtime and generated code would
/// cost a minute of every clean build for that.
struct ProtoWriter {
  private(set) var bytes: [UInt8] = []

  mutating func varint(_ value: UInt64) {
    var v = value
    while v >= 0x80 {
      bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
      v >>= 7
    }
    bytes.append(UInt8(v))
  }

  private mutating func tag(_ field: Int, _ wireType: UInt64) { varint(UInt64(field) << 3 | wireType) }

  /// A varint field; zero is the default and is left out (proto3).
  mutating func uint(_ field: Int, _ value: UInt64) {
    guard value != 0 else { return }
    tag(field, 0)
    varint(value)
  }

  mutating func int(_ field: Int, _ value: Int64) { uint(field, UInt64(bitPattern: value)) }

  mutating func bool(_ field: Int, _ value: Bool) { uint(field, value ? 1 : 0) }

  mutating func double(_ field: Int, _ value: Double) {
    guard value != 0 else { return }
    tag(field, 1)
    var bits = value.bitPattern.littleEndian
    withUnsafeBytes(of: &bits) { bytes.append(contentsOf: $0) }
  }

  /// A length-delimited field; an empty one is left out unless `always`.
  mutating func data(_ field: Int, _ value: [UInt8], always: Bool = false) {
    guard always || !value.isEmpty else { return }
    tag(field, 2)
    varint(UInt64(value.count))
    bytes.append(contentsOf: value)
  }

  mutating func string(_ field: Int, _ value: String) { data(field, Array(value.utf8)) }

  /// A nested message, always written (an empty message still says it is there).
  mutating func message(_ field: Int, _ build: (inout ProtoWriter) -> Void) {
    var inner = ProtoWriter()
    build(&inner)
    data(field, inner.bytes, always: true)
  }
}

/// A decoding failure: the bytes are not the message they claim to be.
struct ProtoError: Error, CustomStringConvertible {
  var description: String
  init(_ description: String) { self.description = description }
}

/// Reads a message's fields one at a time. Unknown fields are skipped (a newer
/// server's additions); a wire type that does not match what a known field must be,
/// a length past the end, or a varint over 10 bytes is an error.
struct ProtoReader {
  enum Value {
    case varint(UInt64)
    case fixed64(UInt64)
    case fixed32(UInt32)
    case bytes(ArraySlice<UInt8>)
  }

  private let buffer: ArraySlice<UInt8>
  private var position: Int

  init(_ bytes: [UInt8]) { self.init(bytes[...]) }

  init(_ slice: ArraySlice<UInt8>) {
    buffer = slice
    position = slice.startIndex
  }

  private mutating func varint() throws(ProtoError) -> UInt64 {
    var result: UInt64 = 0
    var shift: UInt64 = 0
    while true {
      guard position < buffer.endIndex else { throw ProtoError("truncated varint") }
      let byte = buffer[position]
      position += 1
      guard shift < 64 else { throw ProtoError("varint too long") }
      result |= UInt64(byte & 0x7f) << shift
      if byte & 0x80 == 0 { return result }
      shift += 7
    }
  }

  private mutating func take(_ count: Int) throws(ProtoError) -> ArraySlice<UInt8> {
    guard count >= 0, buffer.endIndex - position >= count else { throw ProtoError("field runs past the end") }
    defer { position += count }
    return buffer[position..<position + count]
  }

  /// The next field, or nil at the end.
  mutating func next() throws(ProtoError) -> (field: Int, value: Value)? {
    guard position < buffer.endIndex else { return nil }
    let key = try varint()
    let field = Int(truncatingIfNeeded: key >> 3)
    guard field > 0, key >> 3 < 1 << 29 else { throw ProtoError("bad field number") }
    switch key & 7 {
    case 0: return (field, .varint(try varint()))
    case 1:
      let b = try take(8)
      return (field, .fixed64(b.reversed().reduce(0) { $0 << 8 | UInt64($1) }))
    case 2:
      let length = try varint()
      guard length <= UInt64(Int.max) else { throw ProtoError("length too large") }
      return (field, .bytes(try take(Int(length))))
    case 5:
      let b = try take(4)
      return (field, .fixed32(b.reversed().reduce(0) { $0 << 8 | UInt32($1) }))
    default: throw ProtoError("unsupported wire type \(key & 7)")
    }
  }
}

extension ProtoReader.Value {
  func bytes() throws(ProtoError) -> [UInt8] {
    guard case .bytes(let b) = self else { throw ProtoError("expected a length-delimited field") }
    return Array(b)
  }

  func string() throws(ProtoError) -> String {
    let b = try bytes()
    guard let s = String(validating: b, as: UTF8.self) else { throw ProtoError("a string that is not UTF-8") }
    return s
  }

  /// A SHA-256 written as 64 lowercase hex digits (REAPI's `Digest.hash`), read from
  /// the field's bytes; nil when it is not one.
  func sha256() throws(ProtoError) -> SHA256Digest? {
    guard case .bytes(let b) = self else { throw ProtoError("expected a length-delimited field") }
    return SHA256Digest(hexDigits: b)
  }

  func message() throws(ProtoError) -> ProtoReader {
    guard case .bytes(let b) = self else { throw ProtoError("expected a message") }
    return ProtoReader(b)
  }

  func uint() throws(ProtoError) -> UInt64 {
    guard case .varint(let v) = self else { throw ProtoError("expected a varint") }
    return v
  }

  func int() throws(ProtoError) -> Int64 { Int64(bitPattern: try uint()) }

  func bool() throws(ProtoError) -> Bool { try uint() != 0 }

  func double() throws(ProtoError) -> Double {
    guard case .fixed64(let v) = self else { throw ProtoError("expected a 64-bit number") }
    return Double(bitPattern: v)
  }
}
