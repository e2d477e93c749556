/// An IPv4 address as one big-endian 32-bit number, so masking for CIDR
/// matching is a single AND.
public struct IPv4Address: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let value: UInt32

    public init(_ value: UInt32) {
        self.value = value
    }

    public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
        self.value = UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d)
    }

    /// Strict dotted-quad: exactly four decimal parts, 0...255, no leading
    /// zeros. `inet_aton` would read "010.0.0.1" as octal and "10.1" as
    /// 10.0.0.1; in an allow-list that surprise is a security bug, so both
    /// are rejected rather than guessed at.
    public init?(_ text: some StringProtocol) {
        var result: UInt32 = 0
        var parts = 0
        var digits = 0
        var part: UInt32 = 0
        var leadingZero = false
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                if digits == 1 && leadingZero { return nil }
                if digits == 0 && byte == UInt8(ascii: "0") { leadingZero = true }
                part = part * 10 + UInt32(byte - UInt8(ascii: "0"))
                digits += 1
                if part > 255 { return nil }
            case UInt8(ascii: "."):
                guard digits > 0, parts < 3 else { return nil }
                result = result << 8 | part
                parts += 1
                part = 0
                digits = 0
                leadingZero = false
            default:
                return nil
            }
        }
        guard digits > 0, parts == 3 else { return nil }
        self.value = result << 8 | part
    }

    /// Network byte order, as a socket address or a PROXY v2 header carries it.
    public var bytes: [UInt8] {
        [UInt8(truncatingIfNeeded: value >> 24), UInt8(truncatingIfNeeded: value >> 16),
         UInt8(truncatingIfNeeded: value >> 8), UInt8(truncatingIfNeeded: value)]
    }

    public var isLoopback: Bool { value >> 24 == 127 }
    public var isUnspecified: Bool { value == 0 }

    public var description: String {
        bytes.map { String($0) }.joined(separator: ".")
    }

    public static func < (lhs: IPv4Address, rhs: IPv4Address) -> Bool { lhs.value < rhs.value }
}

/// An IPv6 address as two big-endian 64-bit halves (128 bits without a
/// dependency on `UInt128`, which needs newer OS versions on Darwin).
public struct IPv6Address: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let high: UInt64
    public let low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// Eight 16-bit groups, most significant first.
    public init(groups: [UInt16]) {
        precondition(groups.count == 8, "an IPv6 address has eight groups")
        var high: UInt64 = 0
        var low: UInt64 = 0
        for index in 0..<4 { high = high << 16 | UInt64(groups[index]) }
        for index in 4..<8 { low = low << 16 | UInt64(groups[index]) }
        self.init(high: high, low: low)
    }

    /// `::ffff:a.b.c.d` (RFC 4291 §2.5.5.2): what a dual-stack socket reports
    /// for an IPv4 peer.
    public init(mapping address: IPv4Address) {
        self.init(high: 0, low: 0x0000_FFFF_0000_0000 | UInt64(address.value))
    }

    /// RFC 4291 §2.2 text forms: full, `::`-compressed, and with a trailing
    /// dotted IPv4 part. Zone identifiers (`fe80::1%eth0`) are rejected: they
    /// are meaningless in configuration shared between hosts.
    public init?(_ text: some StringProtocol) {
        let utf8 = Array(text.utf8)
        guard !utf8.isEmpty else { return nil }

        // Split around the one permitted "::".
        var doubleColon: Int?
        var index = 0
        while index + 1 < utf8.count {
            if utf8[index] == UInt8(ascii: ":") && utf8[index + 1] == UInt8(ascii: ":") {
                if doubleColon != nil { return nil }
                doubleColon = index
                index += 2
            } else {
                index += 1
            }
        }

        let headBytes: ArraySlice<UInt8>
        let tailBytes: ArraySlice<UInt8>
        if let position = doubleColon {
            headBytes = utf8[0..<position]
            tailBytes = utf8[(position + 2)...]
        } else {
            headBytes = utf8[...]
            tailBytes = []
        }

        // Only the very last group of the whole address may be dotted IPv4.
        guard let head = Self.parseGroups(headBytes, mayEndWithIPv4: doubleColon == nil),
              let tail = Self.parseGroups(tailBytes, mayEndWithIPv4: true)
        else { return nil }

        var groups: [UInt16]
        if doubleColon != nil {
            // "::" stands for at least one zero group (RFC 4291 §2.2 item 2).
            guard head.count + tail.count <= 7 else { return nil }
            groups = head + Array(repeating: 0, count: 8 - head.count - tail.count) + tail
        } else {
            guard head.count == 8 else { return nil }
            groups = head
        }
        self.init(groups: groups)
    }

    private static func parseGroups(_ bytes: ArraySlice<UInt8>, mayEndWithIPv4: Bool) -> [UInt16]? {
        if bytes.isEmpty { return [] }
        let pieces = bytes.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false)
        var groups: [UInt16] = []
        for (offset, piece) in pieces.enumerated() {
            let isLast = offset == pieces.count - 1
            if isLast && mayEndWithIPv4 && piece.contains(UInt8(ascii: ".")) {
                guard let v4 = IPv4Address(String(decoding: piece, as: UTF8.self)) else { return nil }
                groups.append(UInt16(truncatingIfNeeded: v4.value >> 16))
                groups.append(UInt16(truncatingIfNeeded: v4.value))
                continue
            }
            guard (1...4).contains(piece.count) else { return nil }
            var group: UInt16 = 0
            for byte in piece {
                guard let nibble = hexValue(byte) else { return nil }
                group = group << 4 | UInt16(nibble)
            }
            groups.append(group)
        }
        return groups
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    public var groups: [UInt16] {
        (0..<4).map { UInt16(truncatingIfNeeded: high >> (48 - 16 * UInt64($0))) }
            + (0..<4).map { UInt16(truncatingIfNeeded: low >> (48 - 16 * UInt64($0))) }
    }

    /// Network byte order.
    public var bytes: [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: high >> (56 - 8 * UInt64($0))) }
            + (0..<8).map { UInt8(truncatingIfNeeded: low >> (56 - 8 * UInt64($0))) }
    }

    /// The IPv4 address inside `::ffff:a.b.c.d`, if this is one.
    public var mappedIPv4: IPv4Address? {
        guard high == 0, low >> 32 == 0xFFFF else { return nil }
        return IPv4Address(UInt32(truncatingIfNeeded: low))
    }

    public var isLoopback: Bool { high == 0 && low == 1 }
    public var isUnspecified: Bool { high == 0 && low == 0 }

    /// RFC 5952 §4: lowercase, no leading zeros, the longest run (two or more)
    /// of zero groups compressed to "::" — the first such run on a tie — and
    /// §5: IPv4-mapped addresses in mixed notation.
    public var description: String {
        if let v4 = mappedIPv4 { return "::ffff:\(v4)" }
        let groups = self.groups

        var bestStart = -1
        var bestLength = 0
        var runStart = -1
        for index in 0...8 {
            if index < 8 && groups[index] == 0 {
                if runStart < 0 { runStart = index }
            } else if runStart >= 0 {
                let length = index - runStart
                if length > bestLength {
                    bestStart = runStart
                    bestLength = length
                }
                runStart = -1
            }
        }

        func hex(_ range: Range<Int>) -> String {
            groups[range].map { String($0, radix: 16) }.joined(separator: ":")
        }
        guard bestLength >= 2 else { return hex(0..<8) }
        return hex(0..<bestStart) + "::" + hex((bestStart + bestLength)..<8)
    }

    public static func < (lhs: IPv6Address, rhs: IPv6Address) -> Bool {
        (lhs.high, lhs.low) < (rhs.high, rhs.low)
    }
}

/// An IP address of either family. Text parsing never guesses the family from
/// context: an address with a colon is IPv6, one with only dots is IPv4.
public enum IPAddress: Sendable, Hashable, CustomStringConvertible {
    case v4(IPv4Address)
    case v6(IPv6Address)

    public init?(_ text: some StringProtocol) {
        if text.utf8.contains(UInt8(ascii: ":")) {
            guard let address = IPv6Address(text) else { return nil }
            self = .v6(address)
        } else {
            guard let address = IPv4Address(text) else { return nil }
            self = .v4(address)
        }
    }

    /// From network-byte-order bytes: 4 for IPv4, 16 for IPv6.
    public init?(bytes: some Collection<UInt8>) {
        let array = Array(bytes)
        switch array.count {
        case 4:
            self = .v4(IPv4Address(array[0], array[1], array[2], array[3]))
        case 16:
            var high: UInt64 = 0
            var low: UInt64 = 0
            for byte in array[0..<8] { high = high << 8 | UInt64(byte) }
            for byte in array[8..<16] { low = low << 8 | UInt64(byte) }
            self = .v6(IPv6Address(high: high, low: low))
        default:
            return nil
        }
    }

    public var bytes: [UInt8] {
        switch self {
        case .v4(let address): return address.bytes
        case .v6(let address): return address.bytes
        }
    }

    /// The IPv4 address this is, directly or as an IPv4-mapped IPv6 address.
    public var ipv4: IPv4Address? {
        switch self {
        case .v4(let address): return address
        case .v6(let address): return address.mappedIPv4
        }
    }

    /// The IPv6 form: IPv4 addresses become IPv4-mapped, which is what a
    /// dual-stack socket would have reported for the same peer.
    public var ipv6: IPv6Address {
        switch self {
        case .v4(let address): return IPv6Address(mapping: address)
        case .v6(let address): return address
        }
    }

    /// IPv4-mapped IPv6 addresses unwrapped to IPv4; everything else as is.
    /// Use this before logging or comparing peers from dual-stack sockets.
    public var unmapped: IPAddress {
        if case .v6(let address) = self, let v4 = address.mappedIPv4 { return .v4(v4) }
        return self
    }

    public var isIPv4: Bool {
        if case .v4 = self { return true }
        return false
    }

    public var isLoopback: Bool {
        switch unmapped {
        case .v4(let address): return address.isLoopback
        case .v6(let address): return address.isLoopback
        }
    }

    public var isUnspecified: Bool {
        switch self {
        case .v4(let address): return address.isUnspecified
        case .v6(let address): return address.isUnspecified
        }
    }

    public var description: String {
        switch self {
        case .v4(let address): return address.description
        case .v6(let address): return address.description
        }
    }
}
