/// Stage 2: what a terminated TLS connection carries, from its first
/// decrypted bytes and the ALPN protocol the handshake settled on.
public enum DecryptedStreamKind: Sendable, Hashable {
    /// ALPN "h2" or the HTTP/2 connection preface: the portal's HTTP/2 side.
    case http2
    /// The Halibut "MX" preamble (protocol/halibut.md section 2): polling
    /// over raw TLS.
    case pollingRaw
    /// An HTTP/1.x GET to the comms path with `Upgrade: websocket`:
    /// polling over WebSocket (protocol/halibut.md section 8).
    case pollingWebSocket
    /// Any other HTTP/1.x request: the portal. This includes a browser's
    /// GET to the comms path *without* an upgrade; the polling handler's
    /// friendly page for that case is served from the HTTP/1 side later.
    case http1
    /// None of the above (e.g. `HELLO\r\n\r\n`): friendly page, close.
    case unknown
    case needMoreData
}

/// What a stage-2 probe looks at.
public struct DecryptedStreamSample: Sendable {
    public var bytes: ArraySlice<UInt8>
    public var negotiatedALPN: String?
    public var commsPath: String
    public var maxHeadBytes: Int

    public init(bytes: ArraySlice<UInt8>, negotiatedALPN: String?, commsPath: String, maxHeadBytes: Int) {
        self.bytes = bytes
        self.negotiatedALPN = negotiatedALPN
        self.commsPath = commsPath
        self.maxHeadBytes = maxHeadBytes
    }
}

/// Stage-2 sniffing as a probe table (see `SniffProbeTable` for the
/// first-decisive-row rule that keeps the WebSocket row ahead of plain
/// HTTP/1.x).
public struct DecryptedStreamClassifier: Sendable {
    public typealias Probe = SniffProbe<DecryptedStreamSample, DecryptedStreamKind>

    /// Halibut's default WebSocket endpoint path.
    public static let defaultCommsPath = "/OctopusComms"

    public static let standardProbes: [Probe] = [
        Probe(name: "alpn-h2", outcome: .http2, test: DecryptedStreamProbes.negotiatedH2),
        Probe(name: "h2-preface", outcome: .http2, test: DecryptedStreamProbes.http2Preface),
        Probe(name: "halibut-mx-preamble", outcome: .pollingRaw, test: DecryptedStreamProbes.halibutPreamble),
        Probe(name: "polling-websocket-upgrade", outcome: .pollingWebSocket,
              test: DecryptedStreamProbes.pollingWebSocketUpgrade),
        Probe(name: "http1-request-line", outcome: .http1, test: DecryptedStreamProbes.http1RequestLine),
    ]

    public let commsPath: String
    public let maxHeadBytes: Int
    public let table: SniffProbeTable<DecryptedStreamSample, DecryptedStreamKind>

    public init(
        commsPath: String = DecryptedStreamClassifier.defaultCommsPath,
        maxHeadBytes: Int = HTTPRequestHeadParser.defaultMaxBytes,
        probes: [Probe] = DecryptedStreamClassifier.standardProbes
    ) {
        self.commsPath = commsPath
        self.maxHeadBytes = maxHeadBytes
        self.table = SniffProbeTable(probes)
    }

    /// Classifies with `standardProbes` and the default head bound.
    public static func classify(
        _ bytes: some Collection<UInt8>,
        negotiatedALPN: String?,
        commsPath: String = DecryptedStreamClassifier.defaultCommsPath
    ) -> DecryptedStreamKind {
        DecryptedStreamClassifier(commsPath: commsPath).classify(bytes, negotiatedALPN: negotiatedALPN)
    }

    public func classify(_ bytes: some Collection<UInt8>, negotiatedALPN: String?) -> DecryptedStreamKind {
        let sample = DecryptedStreamSample(
            bytes: ArraySlice(bytes.prefix(maxHeadBytes)), negotiatedALPN: negotiatedALPN,
            commsPath: commsPath, maxHeadBytes: maxHeadBytes)
        switch table.decide(sample) {
        case .matched(let outcome, _): return outcome
        case .needMoreData: return .needMoreData
        case .noMatch: return .unknown
        }
    }
}

/// The stage-2 probe functions, public so a custom table can reuse them.
public enum DecryptedStreamProbes {
    /// RFC 9113 section 3.4: the client connection preface.
    public static let http2ConnectionPreface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    /// RFC 9113 section 3.3: with ALPN "h2" the client speaks HTTP/2 from
    /// its first byte, so no bytes are needed.
    @Sendable
    public static func negotiatedH2(_ sample: DecryptedStreamSample) -> SniffProbeVerdict {
        sample.negotiatedALPN == "h2" ? .match : .noMatch
    }

    /// Prior knowledge HTTP/2 (no ALPN) opens with the preface.
    @Sendable
    public static func http2Preface(_ sample: DecryptedStreamSample) -> SniffProbeVerdict {
        .startsWithAny(of: [http2ConnectionPreface], sample.bytes)
    }

    /// `MX` then the agent's newline (`MX\r\n\r\n` from Windows, `MX\n\n`
    /// from Linux/Mono). The byte after `MX` must be CR or LF: HTTP methods
    /// that start with M (MKCOL, MOVE, MERGE, M-SEARCH) must not match, and
    /// `MX` alone waits.
    @Sendable
    public static func halibutPreamble(_ sample: DecryptedStreamSample) -> SniffProbeVerdict {
        let bytes = sample.bytes
        switch SniffASCII.compare(bytes, toLiteral: Array("MX".utf8)) {
        case .prefix: return .needMoreData
        case .differs: return .noMatch
        case .complete:
            guard bytes.count > 2 else { return .needMoreData }
            let next = bytes[bytes.startIndex + 2]
            return next == SniffASCII.cr || next == SniffASCII.lf ? .match : .noMatch
        }
    }

    /// An HTTP/1.x `GET` to the comms path (compared case-insensitively,
    /// query ignored, as Halibut's listener does) whose Upgrade header lists
    /// `websocket` (RFC 6455 section 4.1). Needs the whole head, so it waits
    /// for it once the request line names the comms path.
    @Sendable
    public static func pollingWebSocketUpgrade(_ sample: DecryptedStreamSample) -> SniffProbeVerdict {
        let requestLine: (method: ArraySlice<UInt8>, target: ArraySlice<UInt8>, version: ArraySlice<UInt8>)
        switch SniffHTTPRequestLineScan.scan(sample.bytes) {
        case .needMoreData: return waitUnlessFull(sample)
        case .invalid: return .noMatch
        case let .line(method, target, version, _): requestLine = (method, target, version)
        }
        let path = requestLine.target.prefix { $0 != UInt8(ascii: "?") }
        guard isHTTP1(requestLine.version),
              requestLine.method.elementsEqual("GET".utf8),
              SniffASCII.equalsIgnoringCase(path, sample.commsPath.utf8)
        else { return .noMatch }
        switch HTTPRequestHeadParser.parse(sample.bytes, maxBytes: sample.maxHeadBytes) {
        case .needMoreData: return .needMoreData
        case .tooLarge, .malformed: return .noMatch
        case .complete(let head):
            // Upgrade is a comma-separated list of protocols (RFC 9110 section 7.8).
            let offersWebSocket = head.values(forField: "Upgrade")
                .flatMap { $0.split(separator: ",") }
                .contains { $0.trimmingSpaces().lowercased() == "websocket" }
            return offersWebSocket ? .match : .noMatch
        }
    }

    /// Any syntactically valid HTTP/1.x request line, any method.
    @Sendable
    public static func http1RequestLine(_ sample: DecryptedStreamSample) -> SniffProbeVerdict {
        switch SniffHTTPRequestLineScan.scan(sample.bytes) {
        case .needMoreData: return waitUnlessFull(sample)
        case .invalid: return .noMatch
        case .line(_, _, let version, _): return isHTTP1(version) ? .match : .noMatch
        }
    }

    private static func isHTTP1(_ version: ArraySlice<UInt8>) -> Bool {
        version.dropFirst(5).first == UInt8(ascii: "1")
    }

    /// A request line longer than the head bound is not one we serve.
    private static func waitUnlessFull(_ sample: DecryptedStreamSample) -> SniffProbeVerdict {
        sample.bytes.count >= sample.maxHeadBytes ? .noMatch : .needMoreData
    }
}

extension Substring {
    fileprivate func trimmingSpaces() -> Substring {
        var trimmed = self
        while trimmed.first == " " || trimmed.first == "\t" { trimmed = trimmed.dropFirst() }
        while trimmed.last == " " || trimmed.last == "\t" { trimmed = trimmed.dropLast() }
        return trimmed
    }
}
