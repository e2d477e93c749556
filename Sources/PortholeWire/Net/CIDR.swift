/// An address block such as `10.0.0.0/8` or `2001:db8::/32`; a bare address
/// is a host route (/32 or /128).
///
/// Families meet through IPv4-mapped IPv6 (`::ffff:0:0/96`), so a block
/// matches the same peers whether the listening socket was IPv4-only or
/// dual-stack: an IPv4 block matches `::ffff:a.b.c.d`, and an IPv6 block
/// that covers the mapped range matches plain IPv4 peers.
public struct CIDR: Sendable, Hashable, CustomStringConvertible {
    /// The first address of the block (host bits are always zero).
    public let network: IPAddress
    public let prefixLength: Int

    public enum ParseError: Error, Sendable, Hashable, CustomStringConvertible {
        case empty
        /// The part before "/" is not an IPv4 or IPv6 address.
        case badAddress(String)
        /// The part after "/" is not a number in 0...maximum.
        case badPrefixLength(String, maximum: Int)
        /// e.g. "10.0.0.1/8": bits past the prefix are set. Usually a typo
        /// for the network or for a host route, so callers decide whether to
        /// accept the masked block.
        case hostBitsSet(masked: CIDR)

        public var description: String {
            switch self {
            case .empty:
                return "empty address block"
            case .badAddress(let text):
                return "\"\(text)\" is not an IPv4 or IPv6 address"
            case .badPrefixLength(let text, let maximum):
                return "prefix length \"\(text)\" is not a number from 0 to \(maximum)"
            case .hostBitsSet(let masked):
                return "address has bits set past the prefix length (the block is \(masked))"
            }
        }
    }

    /// Masks host bits away; use `parse(_:allowingHostBits:)` to be told.
    public init(network: IPAddress, prefixLength: Int) {
        let maximum = network.isIPv4 ? 32 : 128
        precondition((0...maximum).contains(prefixLength), "prefix length out of range")
        self.prefixLength = prefixLength
        self.network = Self.masked(network, prefixLength: prefixLength)
    }

    /// Lenient parse (host bits masked away), for code paths that have
    /// already been validated.
    public init?(_ text: some StringProtocol) {
        guard let block = try? Self.parse(text, allowingHostBits: true) else { return nil }
        self = block
    }

    public static func parse(_ text: some StringProtocol, allowingHostBits: Bool = false) throws(ParseError) -> CIDR {
        let string = String(text)
        guard !string.isEmpty else { throw .empty }
        let parts = string.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPAddress(parts[0]) else { throw .badAddress(String(parts[0])) }
        let maximum = address.isIPv4 ? 32 : 128
        guard parts.count == 2 else { return CIDR(network: address, prefixLength: maximum) }

        let lengthText = parts[1]
        guard lengthText.utf8.count <= 3, HostPort.isDecimal(lengthText), let length = Int(lengthText), length <= maximum
        else { throw .badPrefixLength(String(lengthText), maximum: maximum) }

        let block = CIDR(network: address, prefixLength: length)
        if !allowingHostBits && block.network != address { throw .hostBitsSet(masked: block) }
        return block
    }

    public func contains(_ address: IPAddress) -> Bool {
        switch network {
        case .v4(let base):
            guard let candidate = address.ipv4 else { return false }
            return Self.mask32(prefixLength) & candidate.value == base.value
        case .v6(let base):
            let candidate = address.ipv6
            let (highMask, lowMask) = Self.mask128(prefixLength)
            return candidate.high & highMask == base.high && candidate.low & lowMask == base.low
        }
    }

    /// True when every address in `other` is also in this block. Compared in
    /// IPv6 form so that `10.0.0.0/8` and `::ffff:10.0.0.0/104` are the same
    /// block, consistent with `contains(_: IPAddress)`.
    public func contains(_ other: CIDR) -> Bool {
        let (selfLength, otherLength) = (ipv6PrefixLength, other.ipv6PrefixLength)
        return otherLength >= selfLength && CIDR(network: .v6(network.ipv6), prefixLength: selfLength)
            .contains(.v6(other.network.ipv6))
    }

    private var ipv6PrefixLength: Int { network.isIPv4 ? prefixLength + 96 : prefixLength }

    /// Bare address for host routes, "address/length" otherwise.
    public var description: String {
        let maximum = network.isIPv4 ? 32 : 128
        return prefixLength == maximum ? network.description : "\(network)/\(prefixLength)"
    }

    private static func mask32(_ length: Int) -> UInt32 {
        length == 0 ? 0 : UInt32.max << UInt32(32 - length)
    }

    private static func mask128(_ length: Int) -> (UInt64, UInt64) {
        func mask64(_ bits: Int) -> UInt64 {
            bits <= 0 ? 0 : bits >= 64 ? UInt64.max : UInt64.max << UInt64(64 - bits)
        }
        return (mask64(length), mask64(length - 64))
    }

    private static func masked(_ address: IPAddress, prefixLength: Int) -> IPAddress {
        switch address {
        case .v4(let value):
            return .v4(IPv4Address(value.value & mask32(prefixLength)))
        case .v6(let value):
            let (highMask, lowMask) = mask128(prefixLength)
            return .v6(IPv6Address(high: value.high & highMask, low: value.low & lowMask))
        }
    }
}
