import PortholeWire
import Testing

/// Vectors written from haproxy's proxy-protocol.txt (sections 2.1 and 2.2).
@Suite("ProxyProtocolParser")
struct ProxyProtocolParserTests {
    static let signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]

    static func v2(_ versionCommand: UInt8, _ family: UInt8, _ block: [UInt8]) -> [UInt8] {
        signature + [versionCommand, family] + sniffU16(UInt16(block.count)) + block
    }

    static let tcp4Block: [UInt8] = [192, 0, 2, 10, 198, 51, 100, 7] + sniffU16(51_234) + sniffU16(443)

    // MARK: - v1

    @Test
    func v1TCP4_givesEndpointsAndConsumedLength() {
        let line = Array("PROXY TCP4 192.0.2.10 198.51.100.7 51234 443\r\n".utf8)
        let payload: [UInt8] = [0x16, 0x03, 0x01]
        let expected = ProxyHeader(
            version: .v1, command: .proxy, transport: .tcp4,
            source: ProxyEndpoint(host: "192.0.2.10", port: 51_234),
            destination: ProxyEndpoint(host: "198.51.100.7", port: 443))
        #expect(ProxyProtocolParser.parse(line + payload) == .header(expected, consumed: line.count))
    }

    @Test
    func v1TCP6_formatsAddressesPerRFC5952() {
        let line = Array("PROXY TCP6 2001:DB8:0:0:0:0:0:1 0:0:0:0:0:FFFF:C000:0201 65535 0\r\n".utf8)
        let expected = ProxyHeader(
            version: .v1, command: .proxy, transport: .tcp6,
            source: ProxyEndpoint(host: "2001:db8::1", port: 65535),
            destination: ProxyEndpoint(host: "::ffff:192.0.2.1", port: 0))
        #expect(ProxyProtocolParser.parse(line) == .header(expected, consumed: line.count))
    }

    @Test(arguments: [
        ("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
        ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),
        ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),
        ("2001:db8::", "2001:db8::"),
        ("::", "::"),
        ("::1", "::1"),
        ("fe80::1:2", "fe80::1:2"),
        ("1:0:0:2:0:0:0:3", "1:0:0:2::3"),
        ("::192.0.2.1", "::c000:201"),
        ("ABCD:EF01:2345:6789:ABCD:EF01:2345:6789", "abcd:ef01:2345:6789:abcd:ef01:2345:6789"),
    ])
    func v1IPv6Text_isCanonicalized(input: String, canonical: String) {
        let line = Array("PROXY TCP6 \(input) ::1 1 2\r\n".utf8)
        guard case .header(let header, _) = ProxyProtocolParser.parse(line) else {
            Issue.record("\(input) did not parse")
            return
        }
        #expect(header.source?.host == canonical)
    }

    @Test
    func v1Unknown_hasNoAddresses() {
        let short = Array("PROXY UNKNOWN\r\n".utf8)
        let unknown = ProxyHeader(version: .v1, command: .proxy, transport: .unspecified, source: nil, destination: nil)
        #expect(ProxyProtocolParser.parse(short) == .header(unknown, consumed: 15))
        // The worst case of section 2.1: exactly 107 bytes.
        let full = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
        let longest = Array("PROXY UNKNOWN \(full) \(full) 65535 65535\r\n".utf8)
        #expect(longest.count == 107)
        #expect(ProxyProtocolParser.parse(longest) == .header(unknown, consumed: 107))
    }

    @Test
    func v1FedByteByByte_needsMoreUntilCRLF() {
        let line = Array("PROXY TCP4 10.0.0.1 10.0.0.2 1000 2000\r\n".utf8)
        for end in 0..<line.count {
            #expect(ProxyProtocolParser.parse(line[..<end]) == .needMoreData, "prefix of \(end) bytes")
        }
        guard case .header(_, let consumed) = ProxyProtocolParser.parse(line) else {
            Issue.record("full line did not parse")
            return
        }
        #expect(consumed == line.count)
    }

    @Test(arguments: [
        ("PROXY TCP4 1.2.3.4 5.6.7.8 111\r\n", ProxyProtocolParser.Malformation.v1WrongFieldCount(3)),
        ("PROXY TCP4 1.2.3.4  5.6.7.8 111 222\r\n", .v1WrongFieldCount(5)),
        ("PROXY TCP4 1.2.3.4 5.6.7.8 0443 222\r\n", .v1InvalidPort("0443")),
        ("PROXY TCP4 1.2.3.4 5.6.7.8 65536 222\r\n", .v1InvalidPort("65536")),
        ("PROXY TCP4 1.2.3.4 5.6.7.8 -1 222\r\n", .v1InvalidPort("-1")),
        ("PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n", .v1InvalidAddress("01.2.3.4")),
        ("PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n", .v1InvalidAddress("1.2.3.256")),
        ("PROXY TCP4 ::1 5.6.7.8 1 2\r\n", .v1InvalidAddress("::1")),
        ("PROXY TCP6 1.2.3.4 ::1 1 2\r\n", .v1InvalidAddress("1.2.3.4")),
        ("PROXY TCP6 1::2::3 ::1 1 2\r\n", .v1InvalidAddress("1::2::3")),
        ("PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n", .v1InvalidAddress("1:2:3:4:5:6:7:8:9")),
        ("PROXY TCP6 12345::1 ::1 1 2\r\n", .v1InvalidAddress("12345::1")),
        ("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", .v1UnknownProtocol("UDP4")),
        ("PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n", .v1UnknownProtocol("tcp4")),
        ("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", .v1BrokenLineEnding),
        ("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX", .v1BrokenLineEnding),
        ("PROXY TCP4 1.2.3.4\u{0} 5.6.7.8 1 2\r\n", .v1InvalidCharacter(0)),
    ])
    func v1Malformed_isRejectedWithReason(line: String, reason: ProxyProtocolParser.Malformation) {
        #expect(ProxyProtocolParser.parse(Array(line.utf8)) == .malformed(reason))
    }

    @Test
    func v1WithoutCRLFWithin107Bytes_isTooLong() {
        let endless = Array("PROXY UNKNOWN ".utf8) + Array(repeating: UInt8(ascii: "a"), count: 100)
        #expect(ProxyProtocolParser.parse(endless) == .malformed(.v1LineTooLong))
        #expect(ProxyProtocolParser.parse(endless[..<106]) == .needMoreData)
        // A CR as byte 107 leaves no room for its LF.
        let crAtTheEnd = Array("PROXY UNKNOWN ".utf8) + Array(repeating: UInt8(ascii: "a"), count: 92) + [0x0D]
        #expect(crAtTheEnd.count == 107)
        #expect(ProxyProtocolParser.parse(crAtTheEnd) == .malformed(.v1LineTooLong))
    }

    // MARK: - Not a PROXY header

    @Test(arguments: [
        Array("GET / HTTP/1.1\r\n".utf8),
        [0x16, 0x03, 0x01, 0x02, 0x00],
        Array("PROXZ".utf8),
        Array("PROPFIND / HTTP/1.1".utf8),
        Array("PROXY\r\n".utf8),
        [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x58],
        [0x0D, 0x0A, 0x0D, 0x0A, 0x0D, 0x0A],
    ])
    func otherProtocols_areNotProxy(bytes: [UInt8]) {
        #expect(ProxyProtocolParser.parse(bytes) == .notProxy)
    }

    @Test(arguments: [[], Array("P".utf8), Array("PROXY".utf8), [0x0D, 0x0A, 0x0D, 0x0A, 0x00]])
    func prefixesOfASignature_needMoreData(bytes: [UInt8]) {
        #expect(ProxyProtocolParser.parse(bytes) == .needMoreData)
    }

    // MARK: - v2

    @Test
    func v2TCP4_givesEndpoints() {
        let header = Self.v2(0x21, 0x11, Self.tcp4Block)
        let expected = ProxyHeader(
            version: .v2, command: .proxy, transport: .tcp4,
            source: ProxyEndpoint(host: "192.0.2.10", port: 51_234),
            destination: ProxyEndpoint(host: "198.51.100.7", port: 443))
        #expect(ProxyProtocolParser.parse(header + [0x16, 0x03]) == .header(expected, consumed: 28))
    }

    @Test
    func v2WithTLVs_skipsThemAndConsumesThem() {
        let alpn: [UInt8] = [0x01] + sniffU16(2) + Array("h2".utf8)
        let authority: [UInt8] = [0x02] + sniffU16(11) + Array("example.com".utf8)
        let noop: [UInt8] = [0x04] + sniffU16(3) + [0, 0, 0]
        let empty: [UInt8] = [0x05] + sniffU16(0)
        let bytes = Self.v2(0x21, 0x11, Self.tcp4Block + alpn + authority + noop + empty)
        guard case .header(let header, let consumed) = ProxyProtocolParser.parse(bytes + Array("payload".utf8)) else {
            Issue.record("did not parse")
            return
        }
        #expect(consumed == bytes.count)
        #expect(header.source == ProxyEndpoint(host: "192.0.2.10", port: 51_234))
    }

    @Test
    func v2TCP6AndUDP_giveTransportAndRFC5952Text() {
        let source: [UInt8] = [0x20, 0x01, 0x0D, 0xB8] + Array(repeating: 0, count: 11) + [1]
        let mapped: [UInt8] = Array(repeating: 0, count: 10) + [0xFF, 0xFF, 192, 0, 2, 1]
        let block = source + mapped + sniffU16(1) + sniffU16(2)
        let tcp6 = ProxyHeader(
            version: .v2, command: .proxy, transport: .tcp6,
            source: ProxyEndpoint(host: "2001:db8::1", port: 1),
            destination: ProxyEndpoint(host: "::ffff:192.0.2.1", port: 2))
        #expect(ProxyProtocolParser.parse(Self.v2(0x21, 0x21, block)) == .header(tcp6, consumed: 52))
        var udp6 = tcp6
        udp6.transport = .udp6
        #expect(ProxyProtocolParser.parse(Self.v2(0x21, 0x22, block)) == .header(udp6, consumed: 52))
        guard case .header(let udp4, _) = ProxyProtocolParser.parse(Self.v2(0x21, 0x12, Self.tcp4Block)) else {
            Issue.record("UDP4 did not parse")
            return
        }
        #expect(udp4.transport == .udp4)
    }

    @Test
    func v2Unix_givesSocketPaths() {
        func path(_ text: String) -> [UInt8] {
            let bytes = Array(text.utf8)
            return bytes + Array(repeating: 0, count: 108 - bytes.count)
        }
        let bytes = Self.v2(0x21, 0x31, path("/run/lb.sock") + path("/run/porthole.sock"))
        let expected = ProxyHeader(
            version: .v2, command: .proxy, transport: .unixStream,
            source: ProxyEndpoint(host: "/run/lb.sock", port: 0),
            destination: ProxyEndpoint(host: "/run/porthole.sock", port: 0))
        #expect(ProxyProtocolParser.parse(bytes) == .header(expected, consumed: 16 + 216))
    }

    @Test
    func v2Local_ignoresTheBlockIncludingItsFamily() {
        let local = ProxyHeader(version: .v2, command: .local, transport: .unspecified, source: nil, destination: nil)
        #expect(ProxyProtocolParser.parse(Self.v2(0x20, 0x00, [])) == .header(local, consumed: 16))
        // "discard the protocol block including the family which is ignored"
        #expect(ProxyProtocolParser.parse(Self.v2(0x20, 0xFF, [1, 2, 3, 4, 5])) == .header(local, consumed: 21))
    }

    @Test
    func v2ProxyWithUnspecifiedFamily_hasNoAddresses() {
        let unspecified = ProxyHeader(version: .v2, command: .proxy, transport: .unspecified, source: nil, destination: nil)
        #expect(ProxyProtocolParser.parse(Self.v2(0x21, 0x00, [])) == .header(unspecified, consumed: 16))
    }

    @Test
    func v2FedByteByByte_needsMoreUntilComplete() {
        let bytes = Self.v2(0x21, 0x11, Self.tcp4Block + [0x04] + sniffU16(2) + [0, 0])
        for end in 0..<bytes.count {
            #expect(ProxyProtocolParser.parse(bytes[..<end]) == .needMoreData, "prefix of \(end) bytes")
        }
        guard case .header(_, let consumed) = ProxyProtocolParser.parse(bytes) else {
            Issue.record("did not parse")
            return
        }
        #expect(consumed == bytes.count)
    }

    @Test(arguments: [
        (ProxyProtocolParserTests.v2(0x11, 0x11, ProxyProtocolParserTests.tcp4Block), ProxyProtocolParser.Malformation.v2UnsupportedVersion(1)),
        (ProxyProtocolParserTests.v2(0x22, 0x11, ProxyProtocolParserTests.tcp4Block), .v2UnknownCommand(2)),
        (ProxyProtocolParserTests.v2(0x2F, 0x11, ProxyProtocolParserTests.tcp4Block), .v2UnknownCommand(15)),
        (ProxyProtocolParserTests.v2(0x21, 0x41, ProxyProtocolParserTests.tcp4Block), .v2UnknownFamilyOrTransport(0x41)),
        (ProxyProtocolParserTests.v2(0x21, 0x13, ProxyProtocolParserTests.tcp4Block), .v2UnknownFamilyOrTransport(0x13)),
        (ProxyProtocolParserTests.v2(0x21, 0x10, ProxyProtocolParserTests.tcp4Block), .v2UnknownFamilyOrTransport(0x10)),
        (ProxyProtocolParserTests.v2(0x21, 0x11, Array(ProxyProtocolParserTests.tcp4Block.prefix(8))), .v2AddressBlockTooShort(length: 8, needed: 12)),
        (ProxyProtocolParserTests.v2(0x21, 0x21, ProxyProtocolParserTests.tcp4Block), .v2AddressBlockTooShort(length: 12, needed: 36)),
        (ProxyProtocolParserTests.v2(0x21, 0x11, ProxyProtocolParserTests.tcp4Block + [0x01, 0x00, 0x05, 0x68]), .v2TruncatedTLV),
        (ProxyProtocolParserTests.v2(0x21, 0x11, ProxyProtocolParserTests.tcp4Block + [0x01, 0x00]), .v2TruncatedTLV),
        (ProxyProtocolParserTests.signature + [0x21, 0x11, 0xFF, 0xFF], .v2HeaderTooLong(length: 16 + 0xFFFF, limit: 4096)),
    ])
    func v2Malformed_isRejectedWithReason(bytes: [UInt8], reason: ProxyProtocolParser.Malformation) {
        #expect(ProxyProtocolParser.parse(bytes) == .malformed(reason))
    }

    @Test
    func v2BadVersionByte_failsBeforeTheFixedHeaderIsComplete() {
        #expect(ProxyProtocolParser.parse(Self.signature + [0x31]) == .malformed(.v2UnsupportedVersion(3)))
        #expect(ProxyProtocolParser.parse(Self.signature + [0x21, 0x51]) == .malformed(.v2UnknownFamilyOrTransport(0x51)))
    }

    @Test
    func v2LengthLimit_isConfigurable() {
        let padded = Self.v2(0x21, 0x11, Self.tcp4Block + [0x04] + sniffU16(600) + Array(repeating: 0, count: 600))
        #expect(ProxyProtocolParser.parse(padded, maxV2HeaderBytes: 512)
            == .malformed(.v2HeaderTooLong(length: padded.count, limit: 512)))
        guard case .header = ProxyProtocolParser.parse(padded, maxV2HeaderBytes: 1024) else {
            Issue.record("1 KiB limit should accept a 631-byte header")
            return
        }
    }

    @Test
    func payloadAfterHeader_startsAtConsumed() throws {
        let hello = try SniffFixtures.hello("python-sni-alpn-h2")
        let stream = Self.v2(0x21, 0x11, Self.tcp4Block) + hello
        guard case .header(_, let consumed) = ProxyProtocolParser.parse(stream) else {
            Issue.record("did not parse")
            return
        }
        let info = try #require(ClientHelloParser.parse(stream[consumed...]).info)
        #expect(info.serverName == "portal.example.com")
    }

    // MARK: - Encoder

    @Test
    func encoderIPv4_writesTheSpecLayout() throws {
        let bytes = try ProxyProtocolV2Encoder.encode(
            source: ProxyEndpoint(host: "192.0.2.10", port: 51_234),
            destination: ProxyEndpoint(host: "198.51.100.7", port: 443))
        #expect(bytes == Self.v2(0x21, 0x11, Self.tcp4Block))
    }

    @Test(arguments: [
        ("203.0.113.5", "10.1.2.3", ProxyHeader.Transport.tcp4, "203.0.113.5", "10.1.2.3"),
        ("2001:DB8::5", "[::1]", .tcp6, "2001:db8::5", "::1"),
        ("203.0.113.5", "2001:db8::1", .tcp6, "::ffff:203.0.113.5", "2001:db8::1"),
        ("::ffff:10.0.0.1", "10.0.0.2", .tcp6, "::ffff:10.0.0.1", "::ffff:10.0.0.2"),
    ])
    func encoderRoundTrip_throughParser(
        source: String, destination: String, transport: ProxyHeader.Transport,
        parsedSource: String, parsedDestination: String
    ) throws {
        let bytes = try ProxyProtocolV2Encoder.encode(
            source: ProxyEndpoint(host: source, port: 40_000),
            destination: ProxyEndpoint(host: destination, port: 10_943))
        let expected = ProxyHeader(
            version: .v2, command: .proxy, transport: transport,
            source: ProxyEndpoint(host: parsedSource, port: 40_000),
            destination: ProxyEndpoint(host: parsedDestination, port: 10_943))
        #expect(ProxyProtocolParser.parse(bytes) == .header(expected, consumed: bytes.count))
    }

    @Test
    func encoderTupleForm_returnsNilForNonAddresses() {
        let bytes = ProxyProtocolV2Encoder.encode(source: (host: "192.0.2.10", port: 51_234),
                                                  destination: (host: "198.51.100.7", port: 443))
        #expect(bytes == Self.v2(0x21, 0x11, Self.tcp4Block))
        #expect(ProxyProtocolV2Encoder.encode(source: (host: "localhost", port: 1), destination: (host: "::1", port: 2)) == nil)
    }

    @Test
    func onlyTheFirstMaxHeaderLengthBytesMatter() {
        let line = Array("PROXY UNKNOWN\r\n".utf8)
        let stream = line + Array(repeating: 0xEE, count: 100_000)
        #expect(ProxyProtocolParser.parse(stream) == ProxyProtocolParser.parse(stream.prefix(ProxyProtocolParser.maxHeaderLength)))
    }

    @Test
    func encoderLocal_roundTrips() {
        let bytes = ProxyProtocolV2Encoder.encodeLocal()
        #expect(bytes.count == 16)
        let local = ProxyHeader(version: .v2, command: .local, transport: .unspecified, source: nil, destination: nil)
        #expect(ProxyProtocolParser.parse(bytes) == .header(local, consumed: 16))
    }

    @Test(arguments: ["example.com", "1.2.3", "::1%eth0", "", "[1.2.3.4"])
    func encoderRejectsNonAddresses(host: String) {
        #expect(throws: ProxyProtocolV2Encoder.EncodingError.invalidAddress(host)) {
            try ProxyProtocolV2Encoder.encode(
                source: ProxyEndpoint(host: host, port: 1), destination: ProxyEndpoint(host: "10.0.0.1", port: 2))
        }
    }

    @Test
    func endpointDescription_bracketsIPv6() {
        #expect(ProxyEndpoint(host: "2001:db8::1", port: 443).description == "[2001:db8::1]:443")
        #expect(ProxyEndpoint(host: "192.0.2.1", port: 80).description == "192.0.2.1:80")
    }
}
