import PortholeWire
import Testing

@Suite("FirstBytesClassifier and SniffProbeTable")
struct FirstBytesClassifierTests {
    static let rows: [(String, [UInt8], FirstBytesKind)] = [
        ("empty", [], .needMoreData),
        ("handshake type only", [0x16], .needMoreData),
        ("handshake record", [0x16, 0x03], .tls),
        ("TLS 1.0 record version", [0x16, 0x03, 0x01, 0x02, 0x00, 0x01], .tls),
        ("not major version 3", [0x16, 0x02], .unknown),
        ("alert record", [0x15, 0x03, 0x03], .unknown),
        ("SSLv2 hello", [0x80, 0x2E, 0x01, 0x03, 0x01], .unknown),
        ("G", Array("G".utf8), .needMoreData),
        ("GE", Array("GE".utf8), .needMoreData),
        ("GET", Array("GET".utf8), .needMoreData),
        ("GET and space", Array("GET ".utf8), .http),
        ("GET request line", Array("GET /path HTTP/1.1\r\n".utf8), .http),
        ("P could be POST/PUT/PATCH", Array("P".utf8), .needMoreData),
        ("POST", Array("POST /form HTTP/1.1\r\n".utf8), .http),
        ("HEAD", Array("HEAD / HTTP/1.0\r\n".utf8), .http),
        ("OPTIONS", Array("OPTIONS * HTTP/1.1\r\n".utf8), .http),
        ("CONNECT", Array("CONNECT example.com:443 HTTP/1.1\r\n".utf8), .http),
        ("lower-case method", Array("get / HTTP/1.1\r\n".utf8), .unknown),
        ("unknown method", Array("GETX / HTTP/1.1\r\n".utf8), .unknown),
        ("h2c preface", Array("PRI * HTTP/2.0\r\n".utf8), .unknown),
        ("SSH banner", Array("SSH-2.0-OpenSSH_9.2\r\n".utf8), .unknown),
        ("Halibut preamble in clear", Array("MX\r\n\r\n".utf8), .unknown),
        ("blank line could start a PROXY v2 signature", Array("\r\n".utf8), .needMoreData),
        ("blank lines", Array("\r\n\r\n\r\n".utf8), .unknown),
        ("PROXY v1 header", Array("PROXY TCP4 ".utf8), .proxyHeader),
        ("PROXY v1 prefix", Array("PR".utf8), .needMoreData),
        ("PROXY v2 signature", [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A, 0x21], .proxyHeader),
        ("PROXY v2 prefix", [0x0D, 0x0A, 0x0D, 0x0A, 0x00], .needMoreData),
        ("PROPFIND", Array("PROPFIND / HTTP/1.1\r\n".utf8), .unknown),
    ]

    @Test(arguments: 0..<rows.count)
    func firstBytesRow(index: Int) {
        let (name, bytes, expected) = Self.rows[index]
        #expect(FirstBytesClassifier.classify(bytes) == expected, "\(name)")
        #expect(FirstBytesClassifier().classify(bytes[...]) == expected, "\(name) as a slice")
    }

    @Test
    func classifierLooksOnlyAtTheFirstBytes() {
        let bytes = Array("GET ".utf8) + Array(repeating: UInt8(ascii: "a"), count: 100_000)
        #expect(FirstBytesClassifier().classify(bytes) == .http)
    }

    @Test
    func addingAProtocolIsAddingARow() {
        // A deployment that also wants to recognise SSH (to count it) maps it
        // to an existing outcome without touching the classifier.
        let ssh = FirstBytesClassifier.Probe(name: "ssh-banner", outcome: .unknown) { bytes in
            bytes.starts(with: "SSH-".utf8) ? .match : (Array("SSH-".utf8).starts(with: bytes) ? .needMoreData : .noMatch)
        }
        let classifier = FirstBytesClassifier(probes: FirstBytesClassifier.standardProbes + [ssh])
        #expect(classifier.table.probes.map(\.name) == ["tls-handshake-record", "http1-request-method", "proxy-protocol-header", "ssh-banner"])
        #expect(classifier.table.decide(Array("SSH-2.0".utf8)[...]) == .matched(.unknown, probe: "ssh-banner"))
        #expect(classifier.classify(Array("SS".utf8)) == .needMoreData)
    }

    @Test
    func probeTable_earlierRowWaitingBlocksALaterMatch() {
        let waits = SniffProbe<Int, String>(name: "strict", outcome: "strict") { _ in .needMoreData }
        let matches = SniffProbe<Int, String>(name: "loose", outcome: "loose") { _ in .match }
        let never = SniffProbe<Int, String>(name: "never", outcome: "never") { _ in .noMatch }
        #expect(SniffProbeTable([waits, matches]).decide(0) == .needMoreData)
        #expect(SniffProbeTable([never, matches]).decide(0) == .matched("loose", probe: "loose"))
        #expect(SniffProbeTable([never]).decide(0) == .noMatch)
        #expect(SniffProbeTable<Int, String>([]).decide(0) == .noMatch)
    }
}

@Suite("DecryptedStreamClassifier")
struct DecryptedStreamClassifierTests {
    static func upgrade(_ path: String, method: String = "GET", upgrade: String? = "websocket") -> [UInt8] {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: octopus.example.com\r\n"
        if let upgrade { head += "Connection: Upgrade\r\nUpgrade: \(upgrade)\r\nSec-WebSocket-Version: 13\r\n" }
        return Array((head + "\r\n").utf8)
    }

    static let rows: [(String, [UInt8], String?, DecryptedStreamKind)] = [
        ("ALPN h2 decides without bytes", [], "h2", .http2),
        ("ALPN h2 with preface", Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8), "h2", .http2),
        ("prior-knowledge preface", Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8) + [0, 0, 0x12, 4], nil, .http2),
        ("partial preface", Array("PRI * HTTP/2".utf8), nil, .needMoreData),
        ("no bytes, no ALPN", [], nil, .needMoreData),
        ("Windows agent preamble", Array("MX\r\n\r\n".utf8), nil, .pollingRaw),
        ("Linux agent preamble", [0x4D, 0x58, 0x0A, 0x0A], nil, .pollingRaw),
        ("preamble with http/1.1 ALPN", Array("MX\n\n".utf8), "http/1.1", .pollingRaw),
        ("M alone", Array("M".utf8), nil, .needMoreData),
        ("MX alone", Array("MX".utf8), nil, .needMoreData),
        ("MK could be MKCOL", Array("MK".utf8), nil, .needMoreData),
        ("MKCOL", Array("MKCOL /dav/new HTTP/1.1\r\nHost: x\r\n\r\n".utf8), nil, .http1),
        ("MOVE", Array("MOVE /a HTTP/1.1\r\n".utf8), nil, .http1),
        ("MERGE", Array("MERGE /repo HTTP/1.1\r\n".utf8), nil, .http1),
        ("M-SEARCH", Array("M-SEARCH * HTTP/1.1\r\n".utf8), nil, .http1),
        ("MX- identity without preamble", Array("MX-SUBSCRIBER 1.0 poll://abc/\r\n\r\n".utf8), nil, .unknown),
        ("websocket upgrade on comms path", upgrade("/OctopusComms"), nil, .pollingWebSocket),
        ("comms path case and query ignored", upgrade("/octopuscomms?agent=1"), nil, .pollingWebSocket),
        ("Upgrade value case-insensitive", upgrade("/OctopusComms", upgrade: "WebSocket"), nil, .pollingWebSocket),
        ("Upgrade list", upgrade("/OctopusComms", upgrade: "h2c, websocket"), nil, .pollingWebSocket),
        ("upgrade with http/1.1 ALPN", upgrade("/OctopusComms"), "http/1.1", .pollingWebSocket),
        ("browser GET to comms path", upgrade("/OctopusComms", upgrade: nil), nil, .http1),
        ("other Upgrade protocol", upgrade("/OctopusComms", upgrade: "h2c"), nil, .http1),
        ("POST to comms path", upgrade("/OctopusComms", method: "POST"), nil, .http1),
        ("portal websocket", upgrade("/api/live"), nil, .http1),
        ("comms path prefix only", upgrade("/OctopusComms/extra"), nil, .http1),
        ("comms path head incomplete", Array("GET /OctopusComms HTTP/1.1\r\nUpgrade: websocket\r\n".utf8), nil, .needMoreData),
        ("other path head incomplete", Array("GET /index.html HTTP/1.1\r\nHost: x\r\n".utf8), nil, .http1),
        ("request line incomplete", Array("GET /index.ht".utf8), nil, .needMoreData),
        ("HTTP/1.0", Array("GET / HTTP/1.0\n\n".utf8), nil, .http1),
        ("HTTP/2.0 request line", Array("GET / HTTP/2.0\r\n\r\n".utf8), nil, .unknown),
        ("HELLO probe", Array("HELLO\r\n\r\n".utf8), nil, .unknown),
        ("binary", [0x00, 0x01, 0x02, 0x03], nil, .unknown),
        ("TLS inside TLS", [0x16, 0x03, 0x01, 0x00, 0x10], nil, .unknown),
    ]

    @Test(arguments: 0..<rows.count)
    func decryptedStreamRow(index: Int) {
        let (name, bytes, alpn, expected) = Self.rows[index]
        #expect(DecryptedStreamClassifier.classify(bytes, negotiatedALPN: alpn) == expected, "\(name)")
    }

    @Test
    func realHalibutPreambleUnit_isPollingRaw() throws {
        // Unit 0 of shared/vectors/halibut/client-4.3.24-keepalive.json.
        let preamble = try SniffHex.decode("4d580a0a")
        #expect(DecryptedStreamClassifier().classify(preamble, negotiatedALPN: nil) == .pollingRaw)
    }

    @Test
    func customCommsPath_isHonoured() {
        let classifier = DecryptedStreamClassifier(commsPath: "/agents/poll")
        #expect(classifier.classify(Self.upgrade("/agents/poll"), negotiatedALPN: nil) == .pollingWebSocket)
        #expect(classifier.classify(Self.upgrade("/OctopusComms"), negotiatedALPN: nil) == .http1)
        #expect(DecryptedStreamClassifier.classify(Self.upgrade("/Agents/Poll"), negotiatedALPN: nil, commsPath: "/agents/poll")
            == .pollingWebSocket)
    }

    @Test
    func oversizedHeadOnCommsPath_fallsBackToHTTP1() {
        let classifier = DecryptedStreamClassifier(maxHeadBytes: 256)
        let bytes = Array("GET /OctopusComms HTTP/1.1\r\nX-Big: \(String(repeating: "a", count: 400))\r\n".utf8)
        #expect(classifier.classify(bytes, negotiatedALPN: nil) == .http1)
        let longLine = Array("GET /\(String(repeating: "a", count: 400))".utf8)
        #expect(classifier.classify(longLine, negotiatedALPN: nil) == .unknown)
    }

    @Test
    func everyPrefixOfAnUpgrade_waitsThenMatches() {
        let bytes = Self.upgrade("/OctopusComms")
        let classifier = DecryptedStreamClassifier()
        for end in 0..<bytes.count {
            #expect(classifier.classify(bytes[..<end], negotiatedALPN: nil) == .needMoreData, "prefix \(end)")
        }
        #expect(classifier.classify(bytes, negotiatedALPN: nil) == .pollingWebSocket)
    }
}
