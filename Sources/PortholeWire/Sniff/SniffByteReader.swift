/// A bounds-checked cursor over untrusted bytes, shared by the Sniff parsers.
///
/// Every read returns `nil` instead of trapping when the bytes run out, so a
/// length field that points past its enclosing block becomes a parse failure
/// ("malformed"), never a crash. Sub-readers for length-prefixed vectors
/// (TLS `opaque x<a..b>`, RFC 8446 section 3.4) only see their own block, so
/// an inner length can never reach into a sibling field.
struct SniffByteReader {
    private let bytes: ArraySlice<UInt8>
    private(set) var position: Int

    init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        self.position = bytes.startIndex
    }

    var remainingCount: Int { bytes.endIndex - position }
    var isAtEnd: Bool { position == bytes.endIndex }

    mutating func readUInt8() -> UInt8? {
        guard remainingCount >= 1 else { return nil }
        defer { position += 1 }
        return bytes[position]
    }

    mutating func readUInt16() -> UInt16? {
        guard remainingCount >= 2 else { return nil }
        defer { position += 2 }
        return UInt16(bytes[position]) << 8 | UInt16(bytes[position + 1])
    }

    mutating func readBytes(_ count: Int) -> ArraySlice<UInt8>? {
        guard count >= 0, remainingCount >= count else { return nil }
        defer { position += count }
        return bytes[position..<(position + count)]
    }

    mutating func skip(_ count: Int) -> Bool {
        readBytes(count) != nil
    }

    /// Reads a vector whose length prefix is `prefixSize` (1 or 2) bytes and
    /// returns a reader confined to it.
    mutating func readLengthPrefixed(prefixSize: Int) -> SniffByteReader? {
        let saved = position
        let length: Int?
        switch prefixSize {
        case 1: length = readUInt8().map(Int.init)
        case 2: length = readUInt16().map(Int.init)
        default: length = nil
        }
        guard let length, let body = readBytes(length) else {
            position = saved
            return nil
        }
        return SniffByteReader(body)
    }

    /// Reads the rest as big-endian 16-bit values (cipher suites, groups,
    /// signature schemes): `nil` if an odd byte would be left over.
    mutating func readUInt16List() -> [UInt16]? {
        guard remainingCount % 2 == 0 else { return nil }
        var values: [UInt16] = []
        values.reserveCapacity(remainingCount / 2)
        while let value = readUInt16() { values.append(value) }
        return values
    }
}

/// Small ASCII helpers shared by the text parsers (PROXY v1, HTTP heads).
enum SniffASCII {
    static let cr: UInt8 = 0x0D
    static let lf: UInt8 = 0x0A
    static let space: UInt8 = 0x20
    static let tab: UInt8 = 0x09
    static let colon: UInt8 = 0x3A

    static func isDigit(_ byte: UInt8) -> Bool { (0x30...0x39).contains(byte) }

    static func lowercased(_ byte: UInt8) -> UInt8 {
        (0x41...0x5A).contains(byte) ? byte + 0x20 : byte
    }

    /// RFC 9110 section 5.6.2 `tchar`: the characters of a method or a
    /// header field name.
    static func isTokenCharacter(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"),
             UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"),
             UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"),
             UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            return true
        default: return false
        }
    }

    /// Case-insensitive ASCII comparison; non-ASCII bytes compare exactly.
    static func equalsIgnoringCase(_ lhs: some Collection<UInt8>, _ rhs: some Collection<UInt8>) -> Bool {
        guard lhs.count == rhs.count else { return false }
        return zip(lhs, rhs).allSatisfy { lowercased($0) == lowercased($1) }
    }

    /// How `bytes` relates to an expected literal: all of the literal is
    /// there, the bytes so far are a strict prefix of it, or they differ.
    static func compare(_ bytes: ArraySlice<UInt8>, toLiteral literal: [UInt8]) -> LiteralComparison {
        let shared = min(bytes.count, literal.count)
        for offset in 0..<shared where bytes[bytes.startIndex + offset] != literal[offset] {
            return .differs
        }
        return bytes.count >= literal.count ? .complete : .prefix
    }

    enum LiteralComparison {
        case complete
        case prefix
        case differs
    }

    static func string(_ bytes: some Collection<UInt8>) -> String {
        String(decoding: bytes, as: UTF8.self)
    }
}
