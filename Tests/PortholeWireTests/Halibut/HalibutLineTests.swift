import PortholeWire
import Testing

@Suite("Halibut preamble, identity and control lines")
struct HalibutLineTests {
    @Test("the MX preamble is read from Linux and Windows agents and leaves the identity unread", arguments: [
        "MX\n\n", "MX\r\n\r\n",
    ])
    func preambleBothLineEnds(preamble: String) throws {
        let bytes = Array((preamble + "MX-SUBSCRIBER 1.0 poll://x/\r\n\r\n").utf8)
        var reader = HalibutPreambleReader()
        guard case .complete(let result, let consumed) = try reader.feed(bytes) else { Issue.record("incomplete"); return }
        #expect(result.text == "MX" && result.isHalibut && !result.endedAtEndOfInput)
        #expect(consumed == preamble.utf8.count)
    }

    @Test("a browser request is a complete non-Halibut preamble")
    func browserPreamble() throws {
        var reader = HalibutPreambleReader()
        let request = "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
        guard case .complete(let result, _) = try reader.feed(Array(request.utf8)) else { Issue.record("incomplete"); return }
        #expect(result.text == "GET / HTTP/1.1\nHost: x")
        #expect(!result.isHalibut)
    }

    @Test("end of input completes the preamble with what was read (spec §2.2)")
    func preambleAtEOF() throws {
        var reader = HalibutPreambleReader()
        #expect(try reader.feed(Array("MX\n".utf8)) == .needMoreInput)
        let result = reader.finishAtEndOfInput()
        #expect(result.text == "MX" && result.endedAtEndOfInput)
    }

    @Test("a preamble without an empty line within 20,000 characters is a typed error")
    func overLongPreamble() throws {
        var reader = HalibutPreambleReader()
        let long = [UInt8](repeating: UInt8(ascii: "A"), count: 19_999) + [0x0D, 0x0D, 0x0D]  // CRs are not counted
        #expect(try reader.feed(long) == .needMoreInput)
        #expect(try reader.feed([UInt8(ascii: "A")]) == .needMoreInput)
        #expect(throws: HalibutLineError.preambleTooLong(limit: 20_000)) { try reader.feed([UInt8(ascii: "A")]) }
        // Lines of an endless header block count too.
        var lines = HalibutPreambleReader()
        let many = Array(String(repeating: "X: y\r\n", count: 5_000).utf8)
        #expect(throws: HalibutLineError.preambleTooLong(limit: 20_000)) { try lines.feed(many) }
    }

    @Test("identity lines parse with LF or CRLF, empty lines first are skipped, and the URI is normalized", arguments: [
        ("MX-SUBSCRIBER 1.0 poll://abcdefghij0123456789/\r\n\r\n", "poll://abcdefghij0123456789/"),
        ("MX-SUBSCRIBER 1.0 poll://abcdefghij0123456789/\n\n", "poll://abcdefghij0123456789/"),
        ("\r\n\nMX-SUBSCRIBER 1.0 POLL://ABCdef\r\n\r\n", "poll://abcdef/"),
        ("MX-SUBSCRIBER  2.0  poll://Host:10943/Path?q\n\n", "poll://host:10943/Path?q"),
        ("MX-SUBSCRIBER 1.0 wss://User@Host.Example/OctopusComms\r\n\r\n", "wss://User@host.example/OctopusComms"),
        ("MX-SUBSCRIBER 1.0 poll://[::1]:5/\r\n\r\n", "poll://[::1]:5/"),
    ])
    func subscriberIdentity(text: String, uri: String) throws {
        var reader = HalibutIdentityReader()
        guard case .complete(let identity, let consumed) = try reader.feed(Array(text.utf8)) else {
            Issue.record("incomplete")
            return
        }
        #expect(identity.role == .subscriber)
        #expect(identity.subscriptionURI == uri)
        #expect(consumed == text.utf8.count)
    }

    @Test("identity read one byte at a time completes only after its empty line")
    func identityByteByByte() throws {
        let bytes = Array("MX-SUBSCRIBER 1.0 poll://a/\r\n\r\nNEXT".utf8)
        var reader = HalibutIdentityReader()
        var completedAt: Int?
        for (index, byte) in bytes.enumerated() {
            if case .complete(let identity, let consumed) = try reader.feed([byte]) {
                #expect(consumed == 1)
                #expect(identity.subscriptionURI == "poll://a/")
                completedAt = index
                break
            }
        }
        #expect(completedAt == bytes.count - 5)
    }

    @Test("client and server identities parse; encoders always write CRLF")
    func otherIdentitiesAndEncoders() throws {
        #expect(try HalibutIdentity(line: "MX-CLIENT 1.0").role == .client)
        #expect(try HalibutIdentity(line: "MX-SERVER 1.0") == HalibutIdentity(role: .server, version: "1.0"))
        #expect(HalibutIdentity.serverIdentityBytes == Array("MX-SERVER 1.0\r\n\r\n".utf8))
        #expect(HalibutIdentity(role: .subscriber, subscriptionURI: "poll://a/").encoded == Array("MX-SUBSCRIBER 1.0 poll://a/\r\n\r\n".utf8))
        #expect(HalibutControlLine.proceed.encoded == Array("PROCEED\r\n".utf8))
        #expect(HalibutControlLine.next.encoded == Array("NEXT\r\n".utf8))
        #expect(HalibutControlLine.end.encoded == Array("END\r\n".utf8))
        #expect(HalibutPreambleReader.agentPreambleBytes == Array("MX\r\n\r\n".utf8))
    }

    @Test("bad identity lines give typed errors", arguments: [
        ("HELLO 1.0\r\n\r\n", HalibutLineError.unknownIdentity(line: "HELLO 1.0")),
        ("MX-SUBSCRIBER 1.0\r\n\r\n", .missingSubscriptionURI(line: "MX-SUBSCRIBER 1.0")),
        ("MX-SUBSCRIBER 1.0 abc\r\n\r\n", .invalidSubscriptionURI(uri: "abc", reason: "expected scheme://host/, e.g. poll://abcdefghij0123456789/")),
        ("MX-SUBSCRIBER 1.0 poll:///x\r\n\r\n", .invalidSubscriptionURI(uri: "poll:///x", reason: "the host is empty")),
        ("MX-SUBSCRIBER 1.0 poll://a/\r\nNEXT\r\n", .missingBlankLineAfterIdentity(found: "NEXT")),
    ])
    func badIdentity(text: String, error: HalibutLineError) {
        var reader = HalibutIdentityReader()
        #expect(throws: error) { try reader.feed(Array(text.utf8)) }
    }

    @Test("control lines parse with LF or CRLF after skipped empty lines; anything else is an error")
    func controlLines() throws {
        var reader = HalibutControlLineReader()
        #expect(try reader.feed(Array("NEXT\n".utf8)) == .complete(.next, consumed: 5))
        #expect(try reader.feed(Array("\r\nPROCEED\r\nEND".utf8)) == .complete(.proceed, consumed: 11))
        #expect(try reader.feed(Array("EN".utf8)) == .needMoreInput)
        #expect(reader.hasStarted)
        #expect(try reader.feed(Array("D\r\n".utf8)) == .complete(.end, consumed: 3))
        #expect(throws: HalibutLineError.unexpectedControlLine(line: "next")) { try reader.feed(Array("next\r\n".utf8)) }
        var long = HalibutControlLineReader(maxLineBytes: 16)
        #expect(throws: HalibutLineError.lineTooLong(limit: 16)) { try long.feed([UInt8](repeating: 0x41, count: 100)) }
        var utf8 = HalibutControlLineReader()
        #expect(throws: HalibutLineError.invalidUTF8) { try utf8.feed([0xFF, 0x0A]) }
    }

    @Test("the line reader splits several lines in one input and keeps partial ones")
    func lineReaderIncremental() throws {
        var reader = HalibutLineReader()
        let input = Array("a\r\nb\nc".utf8)
        #expect(try reader.readLine(input) == .complete("a", consumed: 3))
        #expect(try reader.readLine(input[3...]) == .complete("b", consumed: 2))
        #expect(try reader.readLine(input[5...]) == .needMoreInput)
        #expect(try reader.readLine(Array("d\r\n".utf8)) == .complete("cd", consumed: 3))
    }
}
