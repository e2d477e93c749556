import PortholeWire
import Testing

/// Seeded random mutation of real inputs: the parsers must never crash,
/// always terminate, and decide the same way however the bytes are chunked.
@Suite("Sniff fuzzing")
struct SniffFuzzTests {
    static let iterations = 3_000

    static let helloFixtures = [
        "python-sni-alpn-h2", "python-tls12-only", "python-tls13-psk-resumption",
        "halibut-4.3.24-agent", "synthetic-pq-x25519mlkem768",
    ]

    /// Applies 1-4 random edits: bit flips, truncations, insertions,
    /// deletions, splices, and edits of known length fields.
    static func mutate(_ input: [UInt8], lengthFields: [Int], rng: inout SniffFuzzRandom) -> [UInt8] {
        var bytes = input
        for _ in 0..<Int.random(in: 1...4, using: &rng) {
            guard !bytes.isEmpty else { return bytes }
            let position = Int.random(in: 0..<bytes.count, using: &rng)
            switch Int.random(in: 0..<7, using: &rng) {
            case 0:
                bytes[position] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &rng)
            case 1:
                bytes.removeSubrange(position...)
            case 2:
                let insert = (0..<Int.random(in: 1...16, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                bytes.insert(contentsOf: insert, at: position)
            case 3:
                bytes.removeSubrange(position..<min(bytes.count, position + Int.random(in: 1...32, using: &rng)))
            case 4:
                let field = lengthFields.randomElement(using: &rng) ?? position
                guard field < bytes.count else { continue }
                let choices: [UInt8] = [0, 1, 0x7F, 0x80, 0xFF, bytes[field] &+ 1, bytes[field] &- 1]
                bytes[field] = choices.randomElement(using: &rng)!
            case 5:
                bytes[position] = [0x00, 0xFF, 0x16, 0x0D, 0x0A, 0x20].randomElement(using: &rng)!
            default:
                let end = min(bytes.count, position + Int.random(in: 1...64, using: &rng))
                let copy = Array(bytes[position..<end])
                bytes.insert(contentsOf: copy, at: Int.random(in: 0...bytes.count, using: &rng))
            }
        }
        return bytes
    }

    /// Offsets of the length fields of a single-record hello (record,
    /// handshake, session id, cipher suites, compression, extensions and each
    /// extension), found by walking it the way the RFC lays it out.
    static func helloLengthFields(_ hello: [UInt8]) -> [Int] {
        var fields = [3, 4, 6, 7, 8]
        var offset = 9 + 2 + 32
        func byte(_ at: Int) -> Int { at < hello.count ? Int(hello[at]) : 0 }
        fields.append(offset)
        offset += 1 + byte(offset)
        fields += [offset, offset + 1]
        offset += 2 + (byte(offset) << 8 | byte(offset + 1))
        fields.append(offset)
        offset += 1 + byte(offset)
        fields += [offset, offset + 1]
        offset += 2
        while offset + 4 <= hello.count {
            fields += [offset + 2, offset + 3, offset + 5]
            offset += 4 + (byte(offset + 2) << 8 | byte(offset + 3))
        }
        return fields
    }

    @Test
    func clientHelloMutations_neverCrashAndDecideIndependentlyOfChunking() throws {
        let fixtures = try Self.helloFixtures.map { try SniffFixtures.hello($0) }
        let lengthFields = fixtures.map(Self.helloLengthFields)
        var rng = SniffFuzzRandom(seed: 0x5EED_C11E_0001)
        var outcomes: [String: Int] = [:]
        for iteration in 0..<Self.iterations {
            let which = iteration % fixtures.count
            let bytes = Self.mutate(fixtures[which], lengthFields: lengthFields[which], rng: &rng)
            let whole = ClientHelloParser.parse(bytes)
            let chunkSizes = (0..<4).map { _ in Int.random(in: 1...200, using: &rng) }
            let fed = sniffFeedInChunks(bytes, sizes: chunkSizes)
            #expect(fed.final == whole, "iteration \(iteration): chunked \(fed.final) vs whole \(whole)")
            #expect(fed.intermediate.allSatisfy { $0.isNeedMoreData })
            switch whole {
            case .complete(let info):
                outcomes["complete", default: 0] += 1
                #expect(info.consumedByteCount <= bytes.count)
                #expect(ClientHelloParser.parse(bytes[..<info.consumedByteCount]) == whole)
            case .malformed: outcomes["malformed", default: 0] += 1
            case .needMoreData: outcomes["needMoreData", default: 0] += 1
            case .notTLS: outcomes["notTLS", default: 0] += 1
            case .tooLarge: outcomes["tooLarge", default: 0] += 1
            }
        }
        // The mutations must reach both the happy path and the error paths.
        #expect(outcomes["complete", default: 0] > 50)
        #expect(outcomes["malformed", default: 0] > 500)
        #expect(outcomes["needMoreData", default: 0] > 50)
    }

    static let proxyFixtures: [[UInt8]] = [
        Array("PROXY TCP4 192.0.2.10 198.51.100.7 51234 443\r\n".utf8),
        Array("PROXY TCP6 2001:db8::1 ::ffff:192.0.2.1 65535 443\r\n".utf8),
        Array("PROXY UNKNOWN\r\n".utf8),
        ProxyProtocolParserTests.v2(0x21, 0x11, ProxyProtocolParserTests.tcp4Block
            + [0x01] + sniffU16(2) + Array("h2".utf8) + [0x04] + sniffU16(3) + [0, 0, 0]),
        ProxyProtocolParserTests.v2(0x21, 0x21, Array(repeating: 0x20, count: 32) + sniffU16(1) + sniffU16(2)),
        ProxyProtocolParserTests.v2(0x20, 0x00, []),
    ]

    @Test
    func proxyHeaderMutations_neverCrashAndDecisionsAreStable() {
        var rng = SniffFuzzRandom(seed: 0x5EED_9A0C_0002)
        let trailer = Array("\u{16}\u{03}\u{01}payload".utf8)
        var headers = 0
        var malformed = 0
        for iteration in 0..<Self.iterations {
            let fixture = Self.proxyFixtures[iteration % Self.proxyFixtures.count]
            let lengthFields = fixture.first == 0x0D ? [12, 13, 14, 15, 28, 29, 30, 33, 34] : []
            let bytes = Self.mutate(fixture + trailer, lengthFields: lengthFields, rng: &rng)
            let result = ProxyProtocolParser.parse(bytes)
            switch result {
            case .header(let header, let consumed):
                headers += 1
                #expect(consumed > 0 && consumed <= bytes.count)
                #expect(ProxyProtocolParser.parse(bytes[..<consumed]) == result, "iteration \(iteration)")
                #expect(header.source == nil || header.command == .proxy)
            case .malformed: malformed += 1
            case .needMoreData, .notProxy: break
            }
            // A decision taken on a prefix never changes with more bytes.
            let cut = Int.random(in: 0...bytes.count, using: &rng)
            let early = ProxyProtocolParser.parse(bytes[..<cut])
            if early != .needMoreData {
                #expect(early == result, "iteration \(iteration): prefix \(cut) said \(early), whole \(result)")
            }
        }
        #expect(headers > 100)
        #expect(malformed > 300)
    }

    @Test
    func decryptedStreamMutations_neverCrashAndDecisionsAreStable() {
        let seeds: [[UInt8]] = [
            DecryptedStreamClassifierTests.upgrade("/OctopusComms"),
            DecryptedStreamClassifierTests.upgrade("/portal", upgrade: nil),
            Array("MX\r\n\r\n".utf8),
            Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8),
        ]
        let classifier = DecryptedStreamClassifier()
        var rng = SniffFuzzRandom(seed: 0x5EED_D3C2_0003)
        for iteration in 0..<1_000 {
            let bytes = Self.mutate(seeds[iteration % seeds.count], lengthFields: [], rng: &rng)
            let result = classifier.classify(bytes, negotiatedALPN: nil)
            let cut = Int.random(in: 0...bytes.count, using: &rng)
            let early = classifier.classify(bytes[..<cut], negotiatedALPN: nil)
            if early != .needMoreData {
                #expect(early == result, "iteration \(iteration): prefix \(cut) said \(early), whole \(result)")
            }
            if case .complete(let head) = HTTPRequestHeadParser.parse(bytes) {
                #expect(head.byteCount <= bytes.count)
                #expect(HTTPRequestHeadParser.parse(bytes[..<head.byteCount]) == .complete(head))
            }
            _ = FirstBytesClassifier().classify(bytes)
        }
    }
}
