import Testing
import PortholeWire

@Suite struct IPAddressTests {
    @Test(arguments: [
        ("0.0.0.0", "0.0.0.0"),
        ("192.0.2.255", "192.0.2.255"),
        ("::", "::"),
        ("::1", "::1"),
        ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
        ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),   // RFC 5952 §4.2.3: first of equal runs
        ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"), // §4.2.2: a single zero group stays
        ("2001:0db8:0000:0000:0000:ff00:0042:8329", "2001:db8::ff00:42:8329"),
        ("fe80::", "fe80::"),
        ("1:0:0:2:0:0:0:3", "1:0:0:2::3"),                // longest run wins
        ("::ffff:192.0.2.1", "::ffff:192.0.2.1"),         // §5: mapped in mixed notation
        ("::FFFF:c000:0201", "::ffff:192.0.2.1"),
        ("64:ff9b::192.0.2.33", "64:ff9b::c000:221"),
    ])
    func test_parse_printsRFC5952Form(input: String, expected: String) {
        #expect(IPAddress(input)?.description == expected)
    }

    @Test(arguments: [
        "", "1.2.3", "1.2.3.4.5", "256.0.0.1", "01.2.3.4", "1.2.3.-4", " 1.2.3.4", "1..2.3",
        ":", ":::", "1::2::3", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "12345::", "::g", ":1::", "1::2:",
        "fe80::1%eth0", "::1.2.3", "1.2.3.4::", "1:2:3:4:5:6:7::8",
    ])
    func test_parse_rejectsMalformed(input: String) {
        #expect(IPAddress(input) == nil)
    }

    @Test func test_bytesRoundTrip() {
        let v6 = IPAddress("2001:db8::1")!
        #expect(v6.bytes.count == 16)
        #expect(IPAddress(bytes: v6.bytes) == v6)
        #expect(IPAddress(bytes: [10, 0, 0, 1]) == IPAddress("10.0.0.1"))
        #expect(IPAddress(bytes: [1, 2, 3]) == nil)
    }

    @Test func test_mappedAddress_unmapsToIPv4() {
        let mapped = IPAddress("::ffff:10.1.2.3")!
        #expect(mapped.ipv4 == IPv4Address(10, 1, 2, 3))
        #expect(mapped.unmapped == .v4(IPv4Address(10, 1, 2, 3)))
        #expect(IPAddress("::ffff:127.0.0.1")!.isLoopback)
        #expect(IPAddress("::1")!.isLoopback)
        #expect(!IPAddress("10.0.0.1")!.isLoopback)
    }
}

@Suite struct CIDRTests {
    @Test func test_parseBlocksAndHostRoutes() throws {
        #expect(try CIDR.parse("10.0.0.0/8").prefixLength == 8)
        #expect(try CIDR.parse("::1/128").description == "::1")
        #expect(try CIDR.parse("192.0.2.7").prefixLength == 32)
        #expect(try CIDR.parse("2001:db8::1").prefixLength == 128)
        #expect(try CIDR.parse("0.0.0.0/0").description == "0.0.0.0/0")
        #expect(try CIDR.parse("2001:db8::/32").description == "2001:db8::/32")
    }

    @Test func test_parseErrors() {
        #expect(throws: CIDR.ParseError.badPrefixLength("33", maximum: 32)) { try CIDR.parse("10.0.0.0/33") }
        #expect(throws: CIDR.ParseError.badPrefixLength("+8", maximum: 32)) { try CIDR.parse("10.0.0.0/+8") }
        #expect(throws: CIDR.ParseError.badPrefixLength("", maximum: 128)) { try CIDR.parse("::/") }
        #expect(throws: CIDR.ParseError.badAddress("10.0.0")) { try CIDR.parse("10.0.0/8") }
        #expect(throws: CIDR.ParseError.empty) { try CIDR.parse("") }
        #expect(throws: CIDR.ParseError.hostBitsSet(masked: CIDR("10.0.0.0/8")!)) { try CIDR.parse("10.0.0.1/8") }
        #expect(CIDR("10.0.0.1/8") == CIDR("10.0.0.0/8"))
    }

    @Test func test_containsIPv4() {
        let block = CIDR("192.0.2.0/24")!
        #expect(block.contains(IPAddress("192.0.2.0")!))
        #expect(block.contains(IPAddress("192.0.2.255")!))
        #expect(!block.contains(IPAddress("192.0.3.0")!))
        #expect(CIDR("0.0.0.0/0")!.contains(IPAddress("203.0.113.9")!))
        #expect(!block.contains(IPAddress("2001:db8::1")!))
    }

    @Test func test_containsIPv6() {
        let block = CIDR("2001:db8:ab00::/40")!
        #expect(block.contains(IPAddress("2001:db8:abff:ffff::1")!))
        #expect(!block.contains(IPAddress("2001:db8:ac00::")!))
        #expect(CIDR("::1/128")!.contains(IPAddress("::1")!))
        #expect(!CIDR("::1/128")!.contains(IPAddress("::2")!))
        #expect(CIDR("2001:db8::/64")!.contains(IPAddress("2001:db8::ffff:ffff:ffff:ffff")!))
        #expect(!CIDR("2001:db8::/65")!.contains(IPAddress("2001:db8::8000:0:0:0")!))
    }

    @Test func test_ipv4Block_matchesMappedIPv6Peer_andMappedBlockMatchesIPv4Peer() {
        #expect(CIDR("10.0.0.0/8")!.contains(IPAddress("::ffff:10.200.1.1")!))
        #expect(!CIDR("10.0.0.0/8")!.contains(IPAddress("::ffff:11.0.0.1")!))
        #expect(CIDR("::ffff:10.0.0.0/104")!.contains(IPAddress("10.9.9.9")!))
        // An IPv4-compatible (not mapped) address is not an IPv4 peer.
        #expect(!CIDR("10.0.0.0/8")!.contains(IPAddress("::10.0.0.1")!))
    }

    @Test func test_blockContainsBlock() {
        #expect(CIDR("10.0.0.0/8")!.contains(CIDR("10.1.0.0/16")!))
        #expect(!CIDR("10.1.0.0/16")!.contains(CIDR("10.0.0.0/8")!))
        #expect(CIDR("10.0.0.0/8")!.contains(CIDR("::ffff:10.1.0.0/112")!))
        #expect(!CIDR("10.0.0.0/8")!.contains(CIDR("2001:db8::/32")!))
    }
}

@Suite struct HostPortTests {
    @Test func test_parseForms() throws {
        #expect(try HostPort.parse("127.0.0.1:10943") == HostPort(address: IPAddress("127.0.0.1")!, port: 10943))
        #expect(try HostPort.parse("[::1]:443") == HostPort(address: IPAddress("::1")!, port: 443))
        #expect(try HostPort.parse("Backend.Internal:8443") == HostPort(host: .name("backend.internal"), port: 8443))
        #expect(try HostPort.parse("[::]:443").description == "[::]:443")
    }

    @Test func test_parseErrors() {
        #expect(throws: HostPort.ParseError.missingPort(host: "localhost")) { try HostPort.parse("localhost") }
        #expect(throws: HostPort.ParseError.missingPort(host: "[::1]")) { try HostPort.parse("[::1]") }
        #expect(throws: HostPort.ParseError.ipv6NeedsBrackets("::1:443")) { try HostPort.parse("::1:443") }
        #expect(throws: HostPort.ParseError.badPort("0")) { try HostPort.parse("10.0.0.1:0") }
        #expect(throws: HostPort.ParseError.badPort("65536")) { try HostPort.parse("10.0.0.1:65536") }
        #expect(throws: HostPort.ParseError.badPort("")) { try HostPort.parse("10.0.0.1:") }
        #expect(throws: HostPort.ParseError.badHost("10.0.0")) { try HostPort.parse("10.0.0:80") }
        #expect(throws: HostPort.ParseError.badBrackets("[::1")) { try HostPort.parse("[::1") }
        #expect(throws: HostPort.ParseError.badIPv6("1.2.3.4")) { try HostPort.parse("[1.2.3.4]:80") }
        #expect(throws: HostPort.ParseError.badHost("-bad-.example")) { try HostPort.parse("-bad-.example:80") }
    }
}
