import KilnCore
import KilnHash
import Testing

@testable import KilnRemoteCache

/// The build's bundle's listing (`NetworkRemoteCache+Bundle`): what a writer encodes a
/// reader decodes to the same places, the packs grow from 32 KiB to 1 MiB in the order
/// the entries came, and bytes that are not a listing are an error, never a crash.
@Suite struct BundleListingTests {
  static func entries(_ count: Int, size: Int) -> (known: [SHA256Digest: [UInt8]], order: [SHA256Digest]) {
    var known: [SHA256Digest: [UInt8]] = [:], order: [SHA256Digest] = []
    for i in 0..<count {
      let key = SHA256Hasher.digest(Array("key \(i)".utf8))
      known[key] = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ i) }
      order.append(key)
    }
    return (known, order)
  }

  @Test func everyEntryIsFoundAtItsPlaceInItsPack() throws {
    let (known, order) = Self.entries(500, size: 5000)
    let (bytes, packs) = NetworkRemoteCache.encodeListing(known, order: order)
    let listing = try NetworkRemoteCache.decodeListing(bytes)
    #expect(listing.items.map(\.key) == order, "in the order the entries came")
    #expect(Set(listing.packs) == Set(packs.keys))
    for (key, item) in listing.items {
      let pack = try #require(packs[listing.packs[item.pack]])
      let slice = Array(pack[Int(item.offset)..<Int(item.offset + item.digest.size)])
      #expect(slice == known[key] && SHA256Hasher.digest(slice) == item.digest.sha)
    }
    // 2.5 MB: packs of up to 32, 64, ... KiB, then 1 MiB each; the entries in order.
    let sizes = listing.packs.map(\.size)
    for (k, size) in sizes.enumerated() { #expect(size <= NetworkRemoteCache.packLimit(k)) }
    #expect(sizes.count == 7, "\(sizes)")
    #expect(listing.items.map(\.item.pack) == listing.items.map(\.item.pack).sorted())
  }

  @Test func aResultLargerThanAPackHasOneOfItsOwn() throws {
    var (known, order) = Self.entries(3, size: 100)
    let big = SHA256Hasher.digest(Array("big".utf8))
    known[big] = [UInt8](repeating: 1, count: 200 << 10)
    order.insert(big, at: 1)
    let (bytes, packs) = NetworkRemoteCache.encodeListing(known, order: order)
    let listing = try NetworkRemoteCache.decodeListing(bytes)
    #expect(listing.packs.map(\.size) == [100, 200 << 10, 200])
    #expect(packs.count == 3)
  }

  @Test func bytesThatAreNotAListingAreAnError() {
    let (known, order) = Self.entries(20, size: 300)
    let (bytes, _) = NetworkRemoteCache.encodeListing(known, order: order)
    var errors = 0
    for cut in stride(from: 0, to: bytes.count, by: 7) {
      if (try? NetworkRemoteCache.decodeListing(Array(bytes[..<cut]))) == nil { errors += 1 }
    }
    #expect(errors > 0, "a truncated listing is an error, not a shorter one, at most cuts")
    #expect((try? NetworkRemoteCache.decodeListing(Array("garbage \u{1}\u{2}".utf8))) == nil)
  }
}
