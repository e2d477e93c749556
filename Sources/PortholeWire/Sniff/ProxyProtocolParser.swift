/// Parses a PROXY protocol header (v1 text or v2 binary) at the start of a
/// connection from a trusted load balancer. Section numbers below refer to
/// haproxy's proxy-protocol.txt.
///
/// Feeding: stateless. Pass all bytes received so far each time (or just
/// the first `maxHeaderLength`: the parser never looks further). On
/// `.header(_, consumed:)` the connection's payload (the TLS ClientHello)
/// starts at byte `consumed`. Decisions only depend on the bytes: once a
/// prefix gives a final result, longer input gives the same one.
public enum ProxyProtocolParser {
    public enum Result: Sendable, Hashable {
        case needMoreData
        /// The bytes do not start with a PROXY header (neither signature).
        case notProxy
        case header(ProxyHeader, consumed: Int)
        /// The signature matched but the header is invalid: section 2 says
        /// such connections must be dropped.
        case malformed(Malformation)
    }

    public enum Malformation: Error, Sendable, Hashable, CustomStringConvertible {
        case v1LineTooLong
        case v1InvalidCharacter(UInt8)
        case v1BrokenLineEnding
        case v1UnknownProtocol(String)
        case v1WrongFieldCount(Int)
        case v1InvalidAddress(String)
        case v1InvalidPort(String)
        case v2UnsupportedVersion(UInt8)
        case v2UnknownCommand(UInt8)
        case v2UnknownFamilyOrTransport(UInt8)
        case v2HeaderTooLong(length: Int, limit: Int)
        case v2AddressBlockTooShort(length: Int, needed: Int)
        case v2TruncatedTLV

        public var description: String {
            switch self {
            case .v1LineTooLong:
                return "PROXY v1 line without CRLF within \(ProxyProtocolParser.v1MaxLength) bytes (section 2.1)"
            case .v1InvalidCharacter(let byte):
                return "PROXY v1 line contains byte 0x\(String(byte, radix: 16)) (only printable ASCII allowed)"
            case .v1BrokenLineEnding:
                return "PROXY v1 line must end with CRLF (section 2.1)"
            case .v1UnknownProtocol(let name):
                return "PROXY v1 protocol \"\(name)\" is not TCP4, TCP6 or UNKNOWN"
            case .v1WrongFieldCount(let count):
                return "PROXY v1 line has \(count) fields after the protocol, expected 4 separated by single spaces"
            case .v1InvalidAddress(let text):
                return "PROXY v1 address \"\(text)\" is not a valid address of the stated family"
            case .v1InvalidPort(let text):
                return "PROXY v1 port \"\(text)\" is not a decimal 0...65535 without leading zeros"
            case .v2UnsupportedVersion(let version):
                return "PROXY v2 version nibble \(version), expected 2 (section 2.2)"
            case .v2UnknownCommand(let command):
                return "PROXY v2 command \(command) is neither LOCAL (0) nor PROXY (1)"
            case .v2UnknownFamilyOrTransport(let byte):
                return "PROXY v2 family/transport byte 0x\(String(byte, radix: 16)) is not defined (section 2.2)"
            case .v2HeaderTooLong(let length, let limit):
                return "PROXY v2 header of \(length) bytes exceeds the configured limit of \(limit)"
            case .v2AddressBlockTooShort(let length, let needed):
                return "PROXY v2 address block of \(length) bytes, the family needs \(needed)"
            case .v2TruncatedTLV:
                return "PROXY v2 TLV runs past the end of the header (section 2.2)"
            }
        }
    }

    /// Section 2.1: the longest v1 line ("UNKNOWN" with two full IPv6
    /// addresses), CRLF included.
    public static let v1MaxLength = 107
    /// Section 2.2: the 12-byte binary signature, chosen to never look like
    /// the start of a text protocol.
    public static let v2Signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]
    static let v1Prefix = Array("PROXY ".utf8)
    static let v2FixedLength = 16
    /// Two AF_UNIX paths (section 2.2): the largest address block.
    static let v2LargestAddressBlock = 216
    /// Room for any address block plus a few KiB of TLVs (SSL info,
    /// authority, cloud endpoint ids); the format allows 64 KiB, which no
    /// balancer needs and nobody should be able to make us buffer.
    public static let defaultMaxV2HeaderBytes = 4096

    /// The most bytes `parse` looks at with the default limit.
    public static let maxHeaderLength = max(v1MaxLength, defaultMaxV2HeaderBytes)

    /// - Parameter maxV2HeaderBytes: the largest v2 header (16 + block
    ///   length) accepted; raised to at least 232 so every address family fits.
    public static func parse(
        _ bytes: some Collection<UInt8>,
        maxV2HeaderBytes: Int = ProxyProtocolParser.defaultMaxV2HeaderBytes
    ) -> Result {
        let limit = max(maxV2HeaderBytes, v2FixedLength + v2LargestAddressBlock)
        let window = Array(bytes.prefix(max(v1MaxLength, limit)))[...]
        switch SniffASCII.compare(window, toLiteral: v1Prefix) {
        case .complete: return parseV1(window)
        case .prefix: return .needMoreData
        case .differs: break
        }
        switch SniffASCII.compare(window, toLiteral: v2Signature) {
        case .complete: return parseV2(window, limit: limit)
        case .prefix: return .needMoreData
        case .differs: return .notProxy
        }
    }

    // MARK: - v1 (section 2.1)

    private static func parseV1(_ window: ArraySlice<UInt8>) -> Result {
        let start = window.startIndex
        // The CR must leave room for its LF within the 107 bytes.
        let lastPossibleCR = start + v1MaxLength - 2
        var index = start + v1Prefix.count
        var lineEnd: Int?
        while index < window.endIndex {
            guard index <= lastPossibleCR else { return .malformed(.v1LineTooLong) }
            let byte = window[index]
            if byte == SniffASCII.cr {
                guard index + 1 < window.endIndex else { return .needMoreData }
                guard window[index + 1] == SniffASCII.lf else { return .malformed(.v1BrokenLineEnding) }
                lineEnd = index
                break
            }
            if byte == SniffASCII.lf { return .malformed(.v1BrokenLineEnding) }
            guard (0x20...0x7E).contains(byte) else { return .malformed(.v1InvalidCharacter(byte)) }
            index += 1
        }
        guard let lineEnd else { return .needMoreData }
        let consumed = lineEnd + 2 - start

        // "exactly one space" between fields: empty fields are errors.
        let fields = window[(start + v1Prefix.count)..<lineEnd]
            .split(separator: SniffASCII.space, omittingEmptySubsequences: false)
        let protocolName = SniffASCII.string(fields[0])
        let transport: ProxyHeader.Transport
        switch protocolName {
        case "UNKNOWN":
            // "the receiver must ignore anything presented before the CRLF"
            // and use the real connection endpoints.
            let header = ProxyHeader(version: .v1, command: .proxy, transport: .unspecified,
                                     source: nil, destination: nil)
            return .header(header, consumed: consumed)
        case "TCP4": transport = .tcp4
        case "TCP6": transport = .tcp6
        default: return .malformed(.v1UnknownProtocol(protocolName))
        }
        guard fields.count == 5 else { return .malformed(.v1WrongFieldCount(fields.count - 1)) }

        // Net's parsers are as strict as section 2.1 asks (no leading
        // zeros, exactly 128 bits) and print IPv6 per RFC 5952.
        func address(_ text: ArraySlice<UInt8>) -> String? {
            let string = SniffASCII.string(text)
            if transport == .tcp4 { return IPv4Address(string)?.description }
            return IPv6Address(string)?.description
        }
        guard let sourceHost = address(fields[1]) else {
            return .malformed(.v1InvalidAddress(SniffASCII.string(fields[1])))
        }
        guard let destinationHost = address(fields[2]) else {
            return .malformed(.v1InvalidAddress(SniffASCII.string(fields[2])))
        }
        guard let sourcePort = parsePort(fields[3]) else {
            return .malformed(.v1InvalidPort(SniffASCII.string(fields[3])))
        }
        guard let destinationPort = parsePort(fields[4]) else {
            return .malformed(.v1InvalidPort(SniffASCII.string(fields[4])))
        }
        let header = ProxyHeader(
            version: .v1, command: .proxy, transport: transport,
            source: ProxyEndpoint(host: sourceHost, port: sourcePort),
            destination: ProxyEndpoint(host: destinationHost, port: destinationPort))
        return .header(header, consumed: consumed)
    }

    /// Decimal 0...65535; "heading zeroes are not permitted" (section 2.1).
    private static func parsePort(_ text: ArraySlice<UInt8>) -> UInt16? {
        guard (1...5).contains(text.count), text.allSatisfy(SniffASCII.isDigit) else { return nil }
        guard text.count == 1 || text.first != 0x30 else { return nil }
        let value = text.reduce(0) { $0 * 10 + Int($1 - 0x30) }
        return value <= Int(UInt16.max) ? UInt16(value) : nil
    }

    // MARK: - v2 (section 2.2)

    /// Valid family/transport bytes (section 2.2): UNSPEC, TCP/UDP over
    /// IPv4 and IPv6, UNIX stream/datagram. "Other values are unspecified
    /// and must be rejected as invalid by receivers."
    private static func addressBlockLength(familyAndTransport byte: UInt8) -> Int? {
        switch byte {
        case 0x00: return 0
        case 0x11, 0x12: return 12
        case 0x21, 0x22: return 36
        case 0x31, 0x32: return 216
        default: return nil
        }
    }

    private static func parseV2(_ window: ArraySlice<UInt8>, limit: Int) -> Result {
        let start = window.startIndex
        let available = window.count
        let versionAndCommand: UInt8? = available > 12 ? window[start + 12] : nil
        let familyAndTransport: UInt8? = available > 13 ? window[start + 13] : nil

        var isLocal = false
        if let versionAndCommand {
            // "The highest four bits contains the version ... must always be
            // sent as \x2 and the receiver must only accept this value."
            guard versionAndCommand >> 4 == 2 else { return .malformed(.v2UnsupportedVersion(versionAndCommand >> 4)) }
            switch versionAndCommand & 0x0F {
            case 0: isLocal = true
            case 1: isLocal = false
            default: return .malformed(.v2UnknownCommand(versionAndCommand & 0x0F))
            }
        }
        // LOCAL: "discard the protocol block including the family which is
        // ignored", so its family byte is not checked.
        if let familyAndTransport, !isLocal,
           Self.addressBlockLength(familyAndTransport: familyAndTransport) == nil {
            return .malformed(.v2UnknownFamilyOrTransport(familyAndTransport))
        }
        guard available >= Self.v2FixedLength else { return .needMoreData }

        let blockLength = Int(window[start + 14]) << 8 | Int(window[start + 15])
        let total = Self.v2FixedLength + blockLength
        guard total <= limit else {
            return .malformed(.v2HeaderTooLong(length: total, limit: limit))
        }
        guard available >= total else { return .needMoreData }
        if isLocal {
            let header = ProxyHeader(version: .v2, command: .local, transport: .unspecified,
                                     source: nil, destination: nil)
            return .header(header, consumed: total)
        }

        let family = familyAndTransport ?? 0
        let needed = Self.addressBlockLength(familyAndTransport: family) ?? 0
        guard blockLength >= needed else {
            return .malformed(.v2AddressBlockTooShort(length: blockLength, needed: needed))
        }
        let block = window[(start + Self.v2FixedLength)..<(start + total)]
        let addresses = block.prefix(needed)
        let transport: ProxyHeader.Transport
        var source: ProxyEndpoint?
        var destination: ProxyEndpoint?
        func port(_ offset: Int) -> UInt16 {
            UInt16(addresses[addresses.startIndex + offset]) << 8 | UInt16(addresses[addresses.startIndex + offset + 1])
        }
        func slice(_ offset: Int, _ count: Int) -> ArraySlice<UInt8> {
            addresses[(addresses.startIndex + offset)..<(addresses.startIndex + offset + count)]
        }
        func host(_ offset: Int, _ count: Int) -> String {
            IPAddress(bytes: slice(offset, count))?.description ?? ""
        }
        switch family {
        case 0x11, 0x12:
            transport = family == 0x11 ? .tcp4 : .udp4
            source = ProxyEndpoint(host: host(0, 4), port: port(8))
            destination = ProxyEndpoint(host: host(4, 4), port: port(10))
        case 0x21, 0x22:
            transport = family == 0x21 ? .tcp6 : .udp6
            source = ProxyEndpoint(host: host(0, 16), port: port(32))
            destination = ProxyEndpoint(host: host(16, 16), port: port(34))
        case 0x31, 0x32:
            transport = family == 0x31 ? .unixStream : .unixDatagram
            // sun_path-style: 108 bytes each, NUL-padded.
            func path(_ bytes: ArraySlice<UInt8>) -> String {
                SniffASCII.string(bytes.prefix { $0 != 0 })
            }
            source = ProxyEndpoint(host: path(slice(0, 108)), port: 0)
            destination = ProxyEndpoint(host: path(slice(108, 108)), port: 0)
        default:
            // AF_UNSPEC: "the receiver should ignore address information".
            transport = .unspecified
        }

        // Section 2.2: the rest of the block is TLVs (type, 16-bit length,
        // value). We do not use them, but a TLV that runs past the header
        // means the sender and we disagree on framing, so drop.
        var tlvs = SniffByteReader(block.dropFirst(needed))
        while !tlvs.isAtEnd {
            guard tlvs.readUInt8() != nil, tlvs.readLengthPrefixed(prefixSize: 2) != nil else {
                return .malformed(.v2TruncatedTLV)
            }
        }
        let header = ProxyHeader(version: .v2, command: .proxy, transport: transport,
                                 source: source, destination: destination)
        return .header(header, consumed: total)
    }
}

/// Writes PROXY v2 headers for connections Porthole passes through to an
/// upstream that wants to know the real client (section 2.2).
public enum ProxyProtocolV2Encoder {
    public enum EncodingError: Error, Sendable, Hashable, CustomStringConvertible {
        case invalidAddress(String)

        public var description: String {
            switch self {
            case .invalidAddress(let text):
                return "PROXY v2: \"\(text)\" is not an IPv4 or IPv6 address"
            }
        }
    }

    /// A PROXY command for a TCP connection. Hosts are IPv4 or IPv6 text
    /// (brackets allowed). When the two ends are of different families the
    /// IPv4 one is written IPv4-mapped (::ffff:a.b.c.d) so both fit AF_INET6.
    public static func encode(
        source: (host: String, port: UInt16),
        destination: (host: String, port: UInt16)
    ) -> [UInt8]? {
        try? encode(source: ProxyEndpoint(host: source.host, port: source.port),
                    destination: ProxyEndpoint(host: destination.host, port: destination.port))
    }

    /// As above, saying which address was not usable.
    public static func encode(source: ProxyEndpoint, destination: ProxyEndpoint) throws(EncodingError) -> [UInt8] {
        let sourceAddress = try address(source.host)
        let destinationAddress = try address(destination.host)
        let familyAndTransport: UInt8
        let addressBytes: [UInt8]
        if sourceAddress.isIPv4 && destinationAddress.isIPv4 {
            familyAndTransport = 0x11
            addressBytes = sourceAddress.bytes + destinationAddress.bytes
        } else {
            familyAndTransport = 0x21
            addressBytes = sourceAddress.ipv6.bytes + destinationAddress.ipv6.bytes
        }
        let block = addressBytes + bigEndian(source.port) + bigEndian(destination.port)
        return ProxyProtocolParser.v2Signature + [0x21, familyAndTransport] + bigEndian(UInt16(block.count)) + block
    }

    /// A LOCAL command (health checks): the receiver uses the real endpoints.
    public static func encodeLocal() -> [UInt8] {
        ProxyProtocolParser.v2Signature + [0x20, 0x00, 0x00, 0x00]
    }

    private static func address(_ host: String) throws(EncodingError) -> IPAddress {
        var text = host[...]
        if text.hasPrefix("["), text.hasSuffix("]") {
            text = text.dropFirst().dropLast()
        }
        guard let address = IPAddress(text) else { throw .invalidAddress(host) }
        return address
    }

    private static func bigEndian(_ value: UInt16) -> [UInt8] {
        [UInt8(value >> 8), UInt8(value & 0xFF)]
    }
}
