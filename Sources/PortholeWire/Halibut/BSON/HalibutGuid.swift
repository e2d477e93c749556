// .NET Guid as Halibut puts it on the wire (spec §5, §6).
//
// Json.NET writes a `Guid` as BSON binary subtype 0x04 holding
// `Guid.ToByteArray()`, which is *not* RFC 4122 order: the first three groups
// (4, 2 and 2 bytes) are little-endian. DataStream frames use the same 16
// bytes (§6). Getting this wrong silently mismatches every activity and
// stream id, so the conversion lives in exactly one place.

#if canImport(FoundationEssentials)
import FoundationEssentials
#elseif canImport(Foundation)
import Foundation
#endif

/// A 128-bit identifier, stored in textual (RFC 4122) byte order.
public struct HalibutGuid: Hashable, Sendable, CustomStringConvertible {
    /// The 16 bytes in the order the canonical string shows them.
    public let rfcBytes: [UInt8]

    /// From 16 bytes in textual order; `nil` for any other count.
    public init?(rfcBytes: [UInt8]) {
        guard rfcBytes.count == 16 else { return nil }
        self.rfcBytes = rfcBytes
    }

    /// From 16 bytes in .NET `Guid.ToByteArray()` order; `nil` for any other count.
    public init?(dotNetBytes: [UInt8]) {
        guard dotNetBytes.count == 16 else { return nil }
        self.rfcBytes = HalibutGuid.swapDotNetOrder(dotNetBytes)
    }

    /// Parses `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (either case).
    public init?(_ text: String) {
        let utf8 = Array(text.utf8)
        guard utf8.count == 36 else { return nil }
        var hex: [UInt8] = []
        for (index, c) in utf8.enumerated() {
            if [8, 13, 18, 23].contains(index) {
                guard c == UInt8(ascii: "-") else { return nil }
            } else {
                hex.append(c)
            }
        }
        guard let bytes = BSONHex.decode(String(decoding: hex, as: UTF8.self)) else { return nil }
        self.rfcBytes = bytes
    }

    /// The all-zero Guid (`Guid.Empty`).
    public static let zero = HalibutGuid(rfcBytes: [UInt8](repeating: 0, count: 16))!

    /// A random version-4 Guid from the system generator.
    public static func random() -> HalibutGuid {
        var generator = SystemRandomNumberGenerator()
        return random(using: &generator)
    }

    public static func random<G: RandomNumberGenerator>(using generator: inout G) -> HalibutGuid {
        var bytes = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
        bytes[6] = (bytes[6] & 0x0F) | 0x40  // version 4
        bytes[8] = (bytes[8] & 0x3F) | 0x80  // RFC 4122 variant
        return HalibutGuid(rfcBytes: bytes)!
    }

    /// The 16 bytes as .NET writes them (§5: first three groups little-endian).
    public var dotNetBytes: [UInt8] { HalibutGuid.swapDotNetOrder(rfcBytes) }

    /// Lower-case `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, like .NET's `ToString()`.
    public var description: String {
        let hex = BSONHex.encode(rfcBytes)
        let u = Array(hex.utf8)
        let groups = [u[0..<8], u[8..<12], u[12..<16], u[16..<20], u[20..<32]]
        return groups.map { String(decoding: $0, as: UTF8.self) }.joined(separator: "-")
    }

    /// The BSON form Json.NET writes: binary subtype 0x04, .NET byte order.
    public var bsonValue: BSONValue { .binary(subtype: BSONBinarySubtype.uuid, bytes: dotNetBytes) }

    /// Reads a Json.NET Guid (binary subtype 0x04, 16 bytes); `nil` otherwise.
    public init?(bsonValue: BSONValue) {
        guard case let .binary(subtype, bytes) = bsonValue, subtype == BSONBinarySubtype.uuid else { return nil }
        self.init(dotNetBytes: bytes)
    }

    /// Swapping is its own inverse: reverse bytes 0–3, 4–5 and 6–7.
    private static func swapDotNetOrder(_ b: [UInt8]) -> [UInt8] {
        [b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6]] + b[8..<16]
    }
}

#if canImport(FoundationEssentials) || canImport(Foundation)
extension HalibutGuid {
    /// The same identifier as a Foundation `UUID` (which uses textual order).
    public init(uuid: UUID) {
        let u = uuid.uuid
        self.rfcBytes = [u.0, u.1, u.2, u.3, u.4, u.5, u.6, u.7, u.8, u.9, u.10, u.11, u.12, u.13, u.14, u.15]
    }

    public var uuid: UUID {
        let b = rfcBytes
        return UUID(uuid: (b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
                           b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]))
    }
}
#endif
