import Foundation
import PortholeWire

/// Fixtures live next to this file (see Fixtures/make_fixtures.py for how
/// they were made). Found through #filePath, not SwiftPM resources, so the
/// tests run the same from the main package and from a scratch package.
enum SniffFixtures {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    /// Every ClientHello fixture, by name.
    static let helloNames = [
        "python-sni-alpn-h2",
        "python-no-alpn-agent",
        "python-tls12-only",
        "python-no-sni",
        "python-tls13-psk-resumption",
        "python-tls12-ticket-resumption",
        "openssl-s-client-alpn-http11",
        "halibut-4.3.24-agent",
        "synthetic-pq-x25519mlkem768",
        "synthetic-pq-padded-2100",
    ]

    static func hello(_ name: String) throws -> [UInt8] {
        let text = try String(contentsOf: directory.appendingPathComponent(name + ".hex"), encoding: .utf8)
        return try SniffHex.decode(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    static func expected(_ name: String) throws -> ExpectedHello {
        let data = try Data(contentsOf: directory.appendingPathComponent(name + ".expected.json"))
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(ExpectedHello.self, from: data)
    }
}

/// What the fixture generator's independent Python decoder read.
struct ExpectedHello: Decodable {
    var sni: String?
    var alpn: [String]?
    var legacyVersion: UInt16
    var supportedVersions: [UInt16]
    var cipherSuites: [UInt16]
    var supportedGroups: [UInt16]
    var keyShareGroups: [UInt16]
    var signatureAlgorithms: [UInt16]
    var extensionTypes: [UInt16]
    var sessionTicketOffered: Bool
    var pskOffered: Bool
    var earlyDataOffered: Bool
    var consumedBytes: Int
    var handshakeLength: Int
}

enum SniffHex {
    struct InvalidHex: Error {}

    static func decode(_ text: String) throws -> [UInt8] {
        let digits = Array(text.utf8)
        guard digits.count % 2 == 0 else { throw InvalidHex() }
        return try stride(from: 0, to: digits.count, by: 2).map { index in
            guard let byte = UInt8(String(decoding: digits[index..<index + 2], as: UTF8.self), radix: 16) else {
                throw InvalidHex()
            }
            return byte
        }
    }
}

/// Re-framing of handshake messages into TLS records (RFC 8446 section 5.1).
enum SniffTLSRecords {
    static func record(type: UInt8 = 22, version: UInt16 = 0x0301, payload: [UInt8]) -> [UInt8] {
        [type, UInt8(version >> 8), UInt8(version & 0xFF), UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
            + payload
    }

    /// The handshake bytes carried by a stream of type-22 records.
    static func handshakeMessage(of records: [UInt8]) -> [UInt8] {
        var message: [UInt8] = []
        var offset = 0
        while offset + 5 <= records.count {
            let length = Int(records[offset + 3]) << 8 | Int(records[offset + 4])
            message += records[(offset + 5)..<min(offset + 5 + length, records.count)]
            offset += 5 + length
        }
        return message
    }

    /// `message` spread over records holding the given fragment sizes (the
    /// last fragment takes whatever is left).
    static func records(carrying message: [UInt8], fragmentSizes: [Int]) -> [UInt8] {
        var output: [UInt8] = []
        var offset = 0
        for (index, size) in fragmentSizes.enumerated() {
            let end = index == fragmentSizes.count - 1 ? message.count : min(offset + size, message.count)
            output += record(payload: Array(message[offset..<end]))
            offset = end
        }
        return output
    }

    /// `message` split into `count` records of nearly equal size.
    static func records(carrying message: [UInt8], count: Int) -> [UInt8] {
        let size = (message.count + count - 1) / count
        return records(carrying: message, fragmentSizes: Array(repeating: size, count: count))
    }
}

/// Builds ClientHello messages from parts, to make the variants (valid and
/// malformed) that real clients never send.
struct SniffHelloBuilder {
    var legacyVersion: UInt16 = 0x0303
    var sessionID: [UInt8] = Array(repeating: 0xAB, count: 32)
    /// Raw bytes of the cipher_suites vector (without its length prefix).
    var cipherSuiteBytes: [UInt8] = [0x13, 0x01, 0x13, 0x02, 0xC0, 0x2F]
    var compressionMethods: [UInt8] = [0]
    /// `nil`: no extensions block at all (allowed for TLS 1.2 hellos).
    var extensions: [(type: UInt16, data: [UInt8])]? = [
        (0, SniffHelloBuilder.serverNameData(["example.com"])),
        (43, [0x04, 0x03, 0x04, 0x03, 0x03]),
    ]

    var body: [UInt8] {
        var body = sniffU16(legacyVersion) + Array(repeating: 0x11, count: 32)
        body += [UInt8(sessionID.count)] + sessionID
        body += sniffU16(UInt16(cipherSuiteBytes.count)) + cipherSuiteBytes
        body += [UInt8(compressionMethods.count)] + compressionMethods
        if let extensions {
            let block = extensions.flatMap { sniffU16($0.type) + sniffU16(UInt16($0.data.count)) + $0.data }
            body += sniffU16(UInt16(block.count)) + block
        }
        return body
    }

    var handshake: [UInt8] {
        let body = self.body
        return [1, UInt8(body.count >> 16), UInt8((body.count >> 8) & 0xFF), UInt8(body.count & 0xFF)] + body
    }

    var record: [UInt8] { SniffTLSRecords.record(payload: handshake) }

    static func serverNameData(_ names: [String], nameType: UInt8 = 0) -> [UInt8] {
        let list = names.flatMap { [nameType] + sniffU16(UInt16($0.utf8.count)) + Array($0.utf8) }
        return sniffU16(UInt16(list.count)) + list
    }

    static func alpnData(_ names: [[UInt8]]) -> [UInt8] {
        let list = names.flatMap { [UInt8($0.count)] + $0 }
        return sniffU16(UInt16(list.count)) + list
    }

    /// identities<7..> with one identity, binders<33..> with one binder.
    static let preSharedKeyData: [UInt8] = {
        let identity = sniffU16(4) + [1, 2, 3, 4] + [0, 0, 0, 1]
        let binder = [UInt8(32)] + Array(repeating: 0x42, count: 32)
        return sniffU16(UInt16(identity.count)) + identity + sniffU16(UInt16(binder.count)) + binder
    }()
}

func sniffU16(_ value: UInt16) -> [UInt8] { [UInt8(value >> 8), UInt8(value & 0xFF)] }

/// Feeds `bytes` to a fresh parser in chunks of the given sizes (cycled),
/// recording every intermediate result.
func sniffFeedInChunks(
    _ bytes: [UInt8],
    sizes: [Int],
    maxBufferedBytes: Int = ClientHelloParser.defaultMaxBufferedBytes
) -> (final: ClientHelloParser.Result, intermediate: [ClientHelloParser.Result], parser: ClientHelloParser) {
    var parser = ClientHelloParser(maxBufferedBytes: maxBufferedBytes)
    var results: [ClientHelloParser.Result] = []
    var offset = 0
    var index = 0
    while offset < bytes.count {
        let size = max(1, sizes[index % sizes.count])
        let end = min(offset + size, bytes.count)
        results.append(parser.feed(bytes[offset..<end]))
        offset = end
        index += 1
        if case .needMoreData = results.last! { continue }
        break
    }
    let final = results.last ?? parser.feed([UInt8]())
    return (final, Array(results.dropLast()), parser)
}

/// SplitMix64: a tiny seeded generator so fuzz runs are reproducible.
struct SniffFuzzRandom: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension ClientHelloParser.Result {
    var info: ClientHelloInfo? {
        if case .complete(let info) = self { return info }
        return nil
    }

    var isNeedMoreData: Bool {
        if case .needMoreData = self { return true }
        return false
    }
}
