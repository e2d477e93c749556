/// Stage 1: what the first plaintext bytes of a connection on the shared
/// port are.
public enum FirstBytesKind: Sendable, Hashable {
    /// A TLS handshake record: hand the bytes to `ClientHelloParser`.
    case tls
    /// A plain HTTP/1.x request: answer with a redirect to https or a 400.
    case http
    /// A PROXY protocol header (v1 or v2 signature). Headers from trusted
    /// sources are consumed before classification, so one seen here came
    /// from a source that may not set its own address: refuse it.
    case proxyHeader
    /// Nothing we know: close and count it.
    case unknown
    /// Too few bytes to tell; read more (under the sniff deadline).
    case needMoreData
}

/// Stage-1 sniffing as an sslh-style probe table. Adding a protocol is
/// adding a row to `standardProbes` (and a case for its outcome).
public struct FirstBytesClassifier: Sendable {
    public typealias Probe = SniffProbe<ArraySlice<UInt8>, FirstBytesKind>

    /// Probes see at most this many leading bytes; every row decides within
    /// it (the longest, the PROXY v2 signature, needs 12).
    public static let inspectedByteCount = 64

    public static let standardProbes: [Probe] = [
        Probe(name: "tls-handshake-record", outcome: .tls, test: FirstBytesProbes.tlsHandshakeRecord),
        Probe(name: "http1-request-method", outcome: .http, test: FirstBytesProbes.httpRequestMethod),
        Probe(name: "proxy-protocol-header", outcome: .proxyHeader, test: FirstBytesProbes.proxyProtocolSignature),
    ]

    private static let standard = FirstBytesClassifier()

    /// Classifies with `standardProbes`.
    public static func classify(_ bytes: some Collection<UInt8>) -> FirstBytesKind {
        standard.classify(bytes)
    }

    public let table: SniffProbeTable<ArraySlice<UInt8>, FirstBytesKind>

    public init(probes: [Probe] = FirstBytesClassifier.standardProbes) {
        self.table = SniffProbeTable(probes)
    }

    public func classify(_ bytes: some Collection<UInt8>) -> FirstBytesKind {
        let window = ArraySlice(bytes.prefix(Self.inspectedByteCount))
        guard !window.isEmpty else { return .needMoreData }
        switch table.decide(window) {
        case .matched(let outcome, _): return outcome
        case .needMoreData: return .needMoreData
        case .noMatch: return .unknown
        }
    }
}

/// The stage-1 probe functions, public so a custom table can reuse them.
public enum FirstBytesProbes {
    /// A TLS record header starts with content type 22 (handshake) and
    /// major version 3 (RFC 8446 section 5.1; every version since SSL 3.0).
    /// Whether it really is a ClientHello is `ClientHelloParser`'s call.
    @Sendable
    public static func tlsHandshakeRecord(_ bytes: ArraySlice<UInt8>) -> SniffProbeVerdict {
        .startsWithAny(of: [[0x16, 0x03]], bytes)
    }

    /// Methods a browser or script may send to a plain http:// URL on this
    /// port (RFC 9110 section 9, plus PATCH from RFC 5789), each with its
    /// trailing space. Methods are case-sensitive.
    public static let httpMethods: [[UInt8]] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
    ].map { Array(($0 + " ").utf8) }

    /// A known method followed by a space. That is enough to commit to
    /// answering in HTTP; `HTTPRequestHeadParser` then reads the rest. A
    /// strict prefix of a method ("GE") waits for more bytes.
    @Sendable
    public static func httpRequestMethod(_ bytes: ArraySlice<UInt8>) -> SniffProbeVerdict {
        .startsWithAny(of: httpMethods, bytes)
    }

    /// "PROXY " (v1) or the 12-byte v2 signature (proxy-protocol.txt
    /// sections 2.1 and 2.2).
    @Sendable
    public static func proxyProtocolSignature(_ bytes: ArraySlice<UInt8>) -> SniffProbeVerdict {
        .startsWithAny(of: [ProxyProtocolParser.v1Prefix, ProxyProtocolParser.v2Signature], bytes)
    }
}
