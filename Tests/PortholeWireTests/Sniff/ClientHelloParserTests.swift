import PortholeWire
import Testing

@Suite("ClientHelloParser")
struct ClientHelloParserTests {
    // MARK: - Real hellos

    @Test(arguments: SniffFixtures.helloNames)
    func realHello_matchesIndependentDecoder(name: String) throws {
        let bytes = try SniffFixtures.hello(name)
        let expected = try SniffFixtures.expected(name)
        let info = try #require(ClientHelloParser.parse(bytes).info, "\(name) did not parse")
        #expect(info.serverName == expected.sni)
        #expect(info.alpnExtensionPresent == (expected.alpn != nil))
        #expect(info.alpnProtocols == (expected.alpn ?? []))
        #expect(info.legacyVersion == expected.legacyVersion)
        #expect(info.supportedVersions == expected.supportedVersions)
        #expect(info.cipherSuites == expected.cipherSuites)
        #expect(info.supportedGroups == expected.supportedGroups)
        #expect(info.keyShareGroups == expected.keyShareGroups)
        #expect(info.signatureAlgorithms == expected.signatureAlgorithms)
        #expect(info.extensionTypes == expected.extensionTypes)
        #expect(info.offersSessionTicket == expected.sessionTicketOffered)
        #expect(info.offersPreSharedKey == expected.pskOffered)
        #expect(info.offersEarlyData == expected.earlyDataOffered)
        #expect(info.consumedByteCount == expected.consumedBytes)
        #expect(info.consumedByteCount == bytes.count)
        #expect(info.handshakeLength == expected.handshakeLength)
        #expect(info.recordCount == 1)
    }

    @Test
    func browserLikeHello_givesLowerCasedSNIAndALPN() throws {
        let info = try #require(ClientHelloParser.parse(try SniffFixtures.hello("python-sni-alpn-h2")).info)
        // Sent as "Portal.Example.COM".
        #expect(info.serverName == "portal.example.com")
        #expect(info.alpnExtensionPresent)
        #expect(info.alpnProtocols == ["h2", "http/1.1"])
        #expect(info.offersTLS13)
        #expect(!info.offersResumption)
    }

    @Test(arguments: ["python-no-alpn-agent", "halibut-4.3.24-agent"])
    func agentHello_reportsALPNExtensionAbsent(name: String) throws {
        let info = try #require(ClientHelloParser.parse(try SniffFixtures.hello(name)).info)
        #expect(!info.alpnExtensionPresent)
        #expect(info.alpnProtocols.isEmpty)
        #expect(info.serverName != nil)
    }

    @Test
    func realHalibutAgentHello_isTLS12WithLocalhostSNI() throws {
        let info = try #require(ClientHelloParser.parse(try SniffFixtures.hello("halibut-4.3.24-agent")).info)
        #expect(info.serverName == "localhost")
        #expect(info.supportedVersions.isEmpty)
        #expect(!info.offersTLS13)
        #expect(info.extensionTypes == [0xFF01, 0, 23, 35, 13, 11, 10])
    }

    @Test
    func helloWithoutSNI_hasNilServerName() throws {
        let info = try #require(ClientHelloParser.parse(try SniffFixtures.hello("python-no-sni")).info)
        #expect(info.serverName == nil)
        #expect(!info.extensionTypes.contains(0))
        #expect(info.alpnProtocols == ["h2"])
    }

    @Test
    func resumptionHellos_reportTicketOrPSK() throws {
        let tls13 = try #require(ClientHelloParser.parse(try SniffFixtures.hello("python-tls13-psk-resumption")).info)
        #expect(tls13.offersPreSharedKey)
        #expect(tls13.extensionTypes.last == 41)
        #expect(tls13.offersResumption)
        let tls12 = try #require(ClientHelloParser.parse(try SniffFixtures.hello("python-tls12-ticket-resumption")).info)
        #expect(tls12.offersSessionTicket)
        #expect(!tls12.offersPreSharedKey)
    }

    @Test(arguments: ["synthetic-pq-x25519mlkem768", "synthetic-pq-padded-2100"])
    func postQuantumHello_parsesWithMLKEMKeyShare(name: String) throws {
        let bytes = try SniffFixtures.hello(name)
        #expect((1700...2100).contains(bytes.count))
        let info = try #require(ClientHelloParser.parse(bytes).info)
        #expect(info.keyShareGroups.contains(0x11EC))
        #expect(info.supportedGroups.contains(0x11EC))
        #expect(info.keyShareGroups.contains(where: ClientHelloInfo.isGREASE))
        #expect(info.serverName == "portal.example.com")
    }

    // MARK: - Reassembly across records and segments

    @Test(arguments: SniffFixtures.helloNames)
    func splitClientHelloAcrossThreeRecords_parsesSNI(name: String) throws {
        let original = try SniffFixtures.hello(name)
        let whole = try #require(ClientHelloParser.parse(original).info)
        let split = SniffTLSRecords.records(carrying: SniffTLSRecords.handshakeMessage(of: original), count: 3)
        let info = try #require(ClientHelloParser.parse(split).info)
        var expected = whole
        expected.recordCount = 3
        expected.consumedByteCount = original.count + 10
        #expect(info == expected)
        #expect(info.serverName == whole.serverName)
    }

    @Test(arguments: SniffFixtures.helloNames)
    func oneByteWrites_sameResultAsWholeAndNeverEarly(name: String) throws {
        let bytes = SniffTLSRecords.records(
            carrying: SniffTLSRecords.handshakeMessage(of: try SniffFixtures.hello(name)), count: 3)
        let whole = ClientHelloParser.parse(bytes)
        let fed = sniffFeedInChunks(bytes, sizes: [1])
        #expect(fed.final == whole)
        #expect(fed.intermediate.count == bytes.count - 1)
        #expect(fed.intermediate.allSatisfy { $0.isNeedMoreData })
        #expect(fed.parser.bufferedByteCount == bytes.count)
    }

    @Test(arguments: SniffFixtures.helloNames)
    func tenChunks_sameResultAsWhole(name: String) throws {
        let bytes = try SniffFixtures.hello(name)
        let fed = sniffFeedInChunks(bytes, sizes: [(bytes.count + 9) / 10])
        #expect(fed.final == ClientHelloParser.parse(bytes))
        #expect(fed.intermediate.count == 9)
        #expect(fed.intermediate.allSatisfy { $0.isNeedMoreData })
    }

    @Test
    func postQuantumHelloInOneByteRecords_reassembles() throws {
        let original = try SniffFixtures.hello("synthetic-pq-padded-2100")
        let message = SniffTLSRecords.handshakeMessage(of: original)
        let bytes = SniffTLSRecords.records(carrying: message, fragmentSizes: Array(repeating: 1, count: message.count))
        #expect(bytes.count == message.count * 6)
        let info = try #require(sniffFeedInChunks(bytes, sizes: [7, 1, 300, 2]).final.info)
        #expect(info.recordCount == message.count)
        #expect(info.consumedByteCount == bytes.count)
        #expect(info.keyShareGroups.contains(0x11EC))
    }

    @Test
    func unevenRecordsAndSegments_doNotAlign_stillParse() throws {
        let original = try SniffFixtures.hello("synthetic-pq-x25519mlkem768")
        let message = SniffTLSRecords.handshakeMessage(of: original)
        // Record boundaries inside the handshake header and inside the key share.
        let bytes = SniffTLSRecords.records(carrying: message, fragmentSizes: [2, 1, 700, 3, 500])
        let fed = sniffFeedInChunks(bytes, sizes: [3, 1460, 5])
        let info = try #require(fed.final.info)
        #expect(info.recordCount == 5)
        #expect(info.serverName == "portal.example.com")
    }

    @Test
    func bytesAfterTheHello_areNotConsumedButCountAsBuffered() throws {
        let hello = try SniffFixtures.hello("python-sni-alpn-h2")
        let changeCipherSpec = SniffTLSRecords.record(type: 20, version: 0x0303, payload: [1])
        let earlyData = SniffTLSRecords.record(type: 23, version: 0x0303, payload: Array(repeating: 7, count: 40))
        var parser = ClientHelloParser()
        let info = try #require(parser.feed(hello + changeCipherSpec + earlyData).info)
        #expect(info.consumedByteCount == hello.count)
        #expect(parser.bufferedByteCount == hello.count + changeCipherSpec.count + earlyData.count)
    }

    @Test
    func afterFinalResult_furtherInputIsIgnored() throws {
        var parser = ClientHelloParser()
        let hello = try SniffFixtures.hello("python-no-sni")
        let first = parser.feed(hello)
        #expect(first.info != nil)
        #expect(parser.feed([0x16, 0x03, 0x03]) == first)
        #expect(parser.bufferedByteCount == hello.count)
        var rejected = ClientHelloParser()
        #expect(rejected.feed(Array("GET / HTTP/1.1\r\n".utf8)) == .notTLS)
        #expect(rejected.feed(hello) == .notTLS)
    }

    @Test
    func minimalTLS12HelloWithoutExtensions_parses() throws {
        var builder = SniffHelloBuilder()
        builder.extensions = nil
        let info = try #require(ClientHelloParser.parse(builder.record).info)
        #expect(info.extensionTypes.isEmpty)
        #expect(info.serverName == nil)
        #expect(!info.alpnExtensionPresent)
        #expect(info.cipherSuites == [0x1301, 0x1302, 0xC02F])
    }

    @Test
    func unknownServerNameType_isSkipped() throws {
        var builder = SniffHelloBuilder()
        builder.extensions = [(0, SniffHelloBuilder.serverNameData(["opaque"], nameType: 7))]
        let info = try #require(ClientHelloParser.parse(builder.record).info)
        #expect(info.serverName == nil)
        #expect(info.extensionTypes == [0])
    }

    // MARK: - Not TLS, too large

    @Test(arguments: [
        Array("GET / HTTP/1.1\r\n".utf8),
        Array("SSH-2.0-OpenSSH_9.2\r\n".utf8),
        [0x16, 0x02, 0x00],
        // SSL 2.0-compatible CLIENT-HELLO: 2-byte length with the high bit, msg type 1.
        [0x80, 0x2E, 0x01, 0x03, 0x01, 0x00, 0x15, 0x00, 0x00, 0x00, 0x10],
        [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28],
    ])
    func nonHandshakeFirstBytes_areNotTLS(bytes: [UInt8]) {
        #expect(ClientHelloParser.parse(bytes) == .notTLS)
        #expect(sniffFeedInChunks(bytes, sizes: [1]).final == .notTLS)
    }

    @Test(arguments: [[], [0x16], [0x16, 0x03], [0x16, 0x03, 0x01, 0x02], [0x16, 0x03, 0x01, 0x02, 0x00, 0x01]])
    func tooFewBytes_needMoreData(bytes: [UInt8]) {
        #expect(ClientHelloParser.parse(bytes) == .needMoreData)
    }

    @Test
    func helloAnnouncingMoreThanTheBound_isTooLargeFromItsHeader() throws {
        let bytes = try SniffFixtures.hello("synthetic-pq-padded-2100")
        // 9 bytes (record + handshake header) are enough to know.
        let fed = sniffFeedInChunks(bytes, sizes: [1], maxBufferedBytes: 1024)
        #expect(fed.final == .tooLarge)
        #expect(fed.intermediate.count == 8)
        #expect(ClientHelloParser.parse(bytes, maxBufferedBytes: 1024) == .tooLarge)
    }

    @Test
    func helloWhoseRecordOverheadExceedsTheBound_isTooLarge() throws {
        let message = SniffTLSRecords.handshakeMessage(of: try SniffFixtures.hello("synthetic-pq-padded-2100"))
        let bytes = SniffTLSRecords.records(carrying: message, fragmentSizes: Array(repeating: 1, count: message.count))
        // The announced length fits in 4 KiB, the 1-byte records do not.
        #expect(ClientHelloParser.parse(bytes, maxBufferedBytes: 4096) == .tooLarge)
        let fed = sniffFeedInChunks(bytes, sizes: [1], maxBufferedBytes: 4096)
        #expect(fed.final == .tooLarge)
        #expect(fed.intermediate.count == 4095)
    }

    @Test
    func helloLargerThanDefaultBound_isTooLarge() {
        var builder = SniffHelloBuilder()
        builder.extensions = [(21, Array(repeating: 0, count: 20_000))]
        let message = builder.handshake
        let bytes = SniffTLSRecords.records(carrying: message, fragmentSizes: [16_000, 16_000])
        #expect(ClientHelloParser.parse(bytes) == .tooLarge)
        #expect(ClientHelloParser.parse(bytes, maxBufferedBytes: 32 * 1024).info != nil)
    }

    // MARK: - Malformed

    @Test
    func laterRecordOfAnotherContentType_isMalformed() throws {
        let message = SniffTLSRecords.handshakeMessage(of: try SniffFixtures.hello("python-sni-alpn-h2"))
        var bytes = SniffTLSRecords.records(carrying: message, count: 3)
        let secondRecord = 5 + Int(bytes[3]) << 8 + Int(bytes[4])
        bytes[secondRecord] = 23
        #expect(ClientHelloParser.parse(bytes) == .malformed(.unexpectedRecordType(23)))
        bytes[secondRecord] = 22
        bytes[secondRecord + 1] = 2
        #expect(ClientHelloParser.parse(bytes) == .malformed(.unexpectedRecordVersion(major: 2)))
    }

    @Test
    func zeroLengthHandshakeRecord_isMalformed() throws {
        let hello = try SniffFixtures.hello("python-no-sni")
        let empty = SniffTLSRecords.record(payload: [])
        #expect(ClientHelloParser.parse(empty + hello) == .malformed(.emptyHandshakeRecord))
    }

    @Test
    func recordLongerThanTLSAllows_isMalformed() {
        #expect(ClientHelloParser.parse([0x16, 0x03, 0x01, 0x42, 0x01, 0x01]) == .malformed(.recordTooLong(length: 0x4201)))
    }

    @Test
    func handshakeOtherThanClientHello_isMalformed() {
        // A ServerHello (type 2) where a ClientHello should be.
        #expect(ClientHelloParser.parse([0x16, 0x03, 0x03, 0x00, 0x30, 0x02, 0x00, 0x00, 0x2C])
            == .malformed(.notClientHello(handshakeType: 2)))
    }

    @Test
    func handshakeLengthTooShortForAHello_isMalformed() {
        #expect(ClientHelloParser.parse([0x16, 0x03, 0x01, 0x00, 0x0E, 0x01, 0x00, 0x00, 0x0A] + Array(repeating: 0, count: 10))
            == .malformed(.invalidLength(.handshakeHeader)))
    }

    @Test
    func extraHandshakeBytesAfterTheHello_isMalformed() {
        let record = SniffTLSRecords.record(payload: SniffHelloBuilder().handshake + [0x0B, 0x00])
        #expect(ClientHelloParser.parse(record) == .malformed(.trailingHandshakeData))
    }

    /// Builder variants that real clients never produce, and what they must give.
    static let malformedVariants: [(String, @Sendable (inout SniffHelloBuilder) -> Void, ClientHelloParser.Malformation)] = [
        ("odd cipher suites", { $0.cipherSuiteBytes = [0x13, 0x01, 0x13] }, .invalidLength(.cipherSuites)),
        ("no cipher suites", { $0.cipherSuiteBytes = [] }, .invalidLength(.cipherSuites)),
        ("no compression method", { $0.compressionMethods = [] }, .invalidLength(.compressionMethods)),
        ("33-byte session id", { $0.sessionID = Array(repeating: 1, count: 33) }, .invalidLength(.sessionID)),
        ("duplicate extension", { $0.extensions = [(23, []), (23, [])] }, .duplicateExtension(type: 23)),
        ("psk not last", {
            $0.extensions = [(41, SniffHelloBuilder.preSharedKeyData), (43, [0x02, 0x03, 0x04])]
        }, .preSharedKeyNotLast),
        ("two host names", {
            $0.extensions = [(0, SniffHelloBuilder.serverNameData(["a.example", "b.example"]))]
        }, .duplicateServerName),
        ("NUL in host name", {
            $0.extensions = [(0, SniffHelloBuilder.serverNameData(["evil.example\u{0}.good.example"]))]
        }, .invalidServerName),
        ("empty host name", { $0.extensions = [(0, SniffHelloBuilder.serverNameData([""]))] }, .invalidServerName),
        ("empty server name list", { $0.extensions = [(0, [0x00, 0x00])] }, .invalidLength(.serverName)),
        ("server name list overruns", { $0.extensions = [(0, [0x00, 0x09, 0x00, 0x00, 0x01, 0x61])] }, .truncated(.serverName)),
        ("empty ALPN name", {
            $0.extensions = [(16, SniffHelloBuilder.alpnData([Array("h2".utf8), []]))]
        }, .invalidLength(.alpn)),
        ("empty ALPN list", { $0.extensions = [(16, [0x00, 0x00])] }, .invalidLength(.alpn)),
        ("ALPN trailing byte", {
            $0.extensions = [(16, SniffHelloBuilder.alpnData([Array("h2".utf8)]) + [0])]
        }, .trailingBytes(.alpn)),
        ("odd supported_versions", { $0.extensions = [(43, [0x03, 0x03, 0x04, 0x03])] }, .invalidLength(.supportedVersions)),
        ("odd supported_groups", { $0.extensions = [(10, [0x00, 0x03, 0x00, 0x1D, 0x00])] }, .invalidLength(.supportedGroups)),
        ("empty signature_algorithms", { $0.extensions = [(13, [0x00, 0x00])] }, .invalidLength(.signatureAlgorithms)),
        ("key share overruns", { $0.extensions = [(51, [0x00, 0x06, 0x00, 0x1D, 0x00, 0x20, 0x01, 0x02])] }, .truncated(.keyShare)),
        ("empty key exchange", { $0.extensions = [(51, [0x00, 0x04, 0x00, 0x1D, 0x00, 0x00])] }, .invalidLength(.keyShare)),
        ("psk without binders", { $0.extensions = [(41, [0x00, 0x00, 0x00, 0x00])] }, .invalidLength(.preSharedKey)),
    ]

    @Test(arguments: 0..<malformedVariants.count)
    func malformedHelloVariant_isMalformedNotCrash(index: Int) {
        let (name, edit, expected) = Self.malformedVariants[index]
        var builder = SniffHelloBuilder()
        edit(&builder)
        let record = builder.record
        #expect(ClientHelloParser.parse(record) == .malformed(expected), "\(name)")
        #expect(sniffFeedInChunks(record, sizes: [1]).final == .malformed(expected), "\(name) fed bytewise")
    }

    @Test
    func truncatedExtension_isMalformed() throws {
        // Cut the last extension short but keep every outer length consistent.
        var builder = SniffHelloBuilder()
        builder.extensions = [(0, SniffHelloBuilder.serverNameData(["example.com"]))]
        var body = builder.body
        body.removeLast(3)
        let extensionsLengthOffset = 2 + 32 + 1 + 32 + 2 + 6 + 1 + 1
        let blockLength = body.count - extensionsLengthOffset - 2
        body[extensionsLengthOffset] = UInt8(blockLength >> 8)
        body[extensionsLengthOffset + 1] = UInt8(blockLength & 0xFF)
        let handshake = [1, 0, UInt8(body.count >> 8), UInt8(body.count & 0xFF)] + body
        #expect(ClientHelloParser.parse(SniffTLSRecords.record(payload: handshake)) == .malformed(.truncated(.extensions)))
    }

    @Test
    func bytesAfterExtensionsBlock_isMalformed() {
        var body = SniffHelloBuilder().body
        body += [0xEE]
        let handshake = [1, 0, UInt8(body.count >> 8), UInt8(body.count & 0xFF)] + body
        #expect(ClientHelloParser.parse(SniffTLSRecords.record(payload: handshake)) == .malformed(.trailingBytes(.extensions)))
    }

    @Test
    func malformationDescriptions_nameTheProblem() {
        #expect(ClientHelloParser.Malformation.duplicateExtension(type: 0).description.contains("RFC 8446"))
        #expect(ClientHelloParser.Malformation.truncated(.keyShare).description.hasPrefix("key_share"))
    }
}
