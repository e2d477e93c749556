/// A minimal HTTP/1.x request head (RFC 9112 sections 3 and 5), as read by
/// the sniff stages: plain HTTP that reached the TLS port (stage 1), and the
/// WebSocket upgrade check on decrypted bytes (stage 2).
///
/// Named "Sniffed" so it never collides with `NIOHTTP1.HTTPRequestHead` in
/// files that import both; the portal's real HTTP parsing is NIO's.
public struct SniffedHTTPRequestHead: Sendable, Hashable {
    public struct Field: Sendable, Hashable {
        public var name: String
        public var value: String

        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    public var method: String
    /// The request-target as sent (origin-form "/path?query" normally).
    public var target: String
    /// "HTTP/1.1", "HTTP/1.0", ...
    public var version: String
    /// Header fields in order, values trimmed of surrounding whitespace.
    public var fields: [Field]
    /// Bytes of the head on the wire, through its empty line: a body (or
    /// the next request) starts here. 0 for heads built by hand.
    public var byteCount: Int

    public init(method: String, target: String, version: String, fields: [Field], byteCount: Int = 0) {
        self.method = method
        self.target = target
        self.version = version
        self.fields = fields
        self.byteCount = byteCount
    }

    /// The first value of a header field; names compare case-insensitively
    /// (RFC 9110 section 5.1).
    public func value(forField name: String) -> String? {
        let wanted = name.lowercased()
        return fields.first { $0.name.lowercased() == wanted }?.value
    }

    public func values(forField name: String) -> [String] {
        let wanted = name.lowercased()
        return fields.filter { $0.name.lowercased() == wanted }.map(\.value)
    }

    /// The target up to `?` (the query is not part of the path).
    public var path: String {
        String(target.prefix { $0 != "?" && $0 != "#" })
    }
}

/// Reads a `SniffedHTTPRequestHead` from the start of a byte stream.
public enum HTTPRequestHeadParser {
    public enum Result: Sendable, Hashable {
        case needMoreData
        /// The whole head; `head.byteCount` says where it ends.
        case complete(SniffedHTTPRequestHead)
        /// No complete head within the bound.
        case tooLarge
        case malformed(Malformation)
    }

    public enum Malformation: Error, Sendable, Hashable, CustomStringConvertible {
        case invalidRequestLine
        /// Line numbers count the request line as 1.
        case invalidHeaderLine(number: Int)
        case obsoleteLineFolding(number: Int)

        public var description: String {
            switch self {
            case .invalidRequestLine:
                return "request line is not `method SP target SP HTTP/d.d` (RFC 9112 section 3)"
            case .invalidHeaderLine(let number):
                return "line \(number) is not a valid `name: value` header field (RFC 9112 section 5)"
            case .obsoleteLineFolding(let number):
                return "line \(number) continues a header with obsolete line folding (RFC 9112 section 5.2)"
            }
        }
    }

    public static let defaultMaxBytes = 16 * 1024

    /// Parses a head from the start of `bytes` (all bytes received so far;
    /// only the first `maxBytes` are looked at). Lines may end in CRLF or
    /// bare LF (RFC 9112 section 2.2 lets a recipient accept LF alone). A
    /// bad line is reported as soon as it is complete, before the head ends.
    public static func parse(
        _ bytes: some Collection<UInt8>,
        maxBytes: Int = HTTPRequestHeadParser.defaultMaxBytes
    ) -> Result {
        let window = Array(bytes.prefix(maxBytes))[...]
        let incomplete: Result = window.count >= maxBytes ? .tooLarge : .needMoreData
        let requestLine: (method: ArraySlice<UInt8>, target: ArraySlice<UInt8>, version: ArraySlice<UInt8>, next: Int)
        switch SniffHTTPRequestLineScan.scan(window) {
        case .needMoreData: return incomplete
        case .invalid: return .malformed(.invalidRequestLine)
        case let .line(method, target, version, next): requestLine = (method, target, version, next)
        }

        var fields: [SniffedHTTPRequestHead.Field] = []
        var position = requestLine.next
        var lineNumber = 1
        while true {
            guard let lineFeed = window[position...].firstIndex(of: SniffASCII.lf) else { return incomplete }
            var lineEnd = lineFeed
            if lineEnd > position && window[lineEnd - 1] == SniffASCII.cr { lineEnd -= 1 }
            let line = window[position..<lineEnd]
            position = lineFeed + 1
            lineNumber += 1
            if line.isEmpty {
                return .complete(SniffedHTTPRequestHead(
                    method: SniffASCII.string(requestLine.method),
                    target: SniffASCII.string(requestLine.target),
                    version: SniffASCII.string(requestLine.version),
                    fields: fields,
                    byteCount: position - window.startIndex))
            }
            // RFC 9112 section 5.2: a server may reject obs-fold with 400,
            // and for a sniffer that is the only unambiguous choice.
            if line.first == SniffASCII.space || line.first == SniffASCII.tab {
                return .malformed(.obsoleteLineFolding(number: lineNumber))
            }
            guard let field = parseField(line) else { return .malformed(.invalidHeaderLine(number: lineNumber)) }
            fields.append(field)
        }
    }

    /// `field-name ":" OWS field-value OWS` (RFC 9112 section 5.1). No
    /// whitespace is allowed before the colon (a request smuggling vector
    /// the RFC says to reject with 400).
    private static func parseField(_ line: ArraySlice<UInt8>) -> SniffedHTTPRequestHead.Field? {
        guard let colon = line.firstIndex(of: SniffASCII.colon), colon > line.startIndex else { return nil }
        let name = line[..<colon]
        guard name.allSatisfy(SniffASCII.isTokenCharacter) else { return nil }
        let isWhitespace = { (byte: UInt8) in byte == SniffASCII.space || byte == SniffASCII.tab }
        var value = line[(colon + 1)...]
        while let first = value.first, isWhitespace(first) { value = value.dropFirst() }
        while let last = value.last, isWhitespace(last) { value = value.dropLast() }
        // field-vchar / obs-text / SP / HTAB; CR, NUL and other controls are errors.
        guard value.allSatisfy({ $0 == SniffASCII.tab || ($0 >= 0x20 && $0 != 0x7F) }) else { return nil }
        return SniffedHTTPRequestHead.Field(name: SniffASCII.string(name), value: SniffASCII.string(value))
    }
}

/// Incremental scan of an HTTP/1.x request line (RFC 9112 section 3):
/// `method SP request-target SP HTTP-version CRLF`, bare LF accepted. It can
/// rule a line out before it is complete, which is what the probes need.
enum SniffHTTPRequestLineScan {
    case needMoreData
    case invalid
    /// `next` is the index just after the line's LF.
    case line(method: ArraySlice<UInt8>, target: ArraySlice<UInt8>, version: ArraySlice<UInt8>, next: Int)

    private static let versionPrefix = Array("HTTP/".utf8)

    static func scan(_ bytes: ArraySlice<UInt8>) -> SniffHTTPRequestLineScan {
        var index = bytes.startIndex
        // method: 1*tchar, then exactly one SP.
        while index < bytes.endIndex, SniffASCII.isTokenCharacter(bytes[index]) { index += 1 }
        guard index < bytes.endIndex else { return .needMoreData }
        guard index > bytes.startIndex, bytes[index] == SniffASCII.space else { return .invalid }
        let method = bytes[bytes.startIndex..<index]
        index += 1

        // request-target: visible ASCII, then exactly one SP. (HTTP/0.9's
        // "GET /" without a version is not supported.)
        let targetStart = index
        while index < bytes.endIndex, (0x21...0x7E).contains(bytes[index]) { index += 1 }
        guard index < bytes.endIndex else { return .needMoreData }
        guard index > targetStart, bytes[index] == SniffASCII.space else { return .invalid }
        let target = bytes[targetStart..<index]
        index += 1

        // HTTP-version: "HTTP/" DIGIT "." DIGIT.
        let versionStart = index
        let pattern = versionPrefix.map { Optional($0) } + [nil, UInt8(ascii: "."), nil]
        for expected in pattern {
            guard index < bytes.endIndex else { return .needMoreData }
            let byte = bytes[index]
            if let expected {
                guard byte == expected else { return .invalid }
            } else {
                guard SniffASCII.isDigit(byte) else { return .invalid }
            }
            index += 1
        }
        let version = bytes[versionStart..<index]
        guard index < bytes.endIndex else { return .needMoreData }
        if bytes[index] == SniffASCII.cr {
            index += 1
            guard index < bytes.endIndex else { return .needMoreData }
        }
        guard bytes[index] == SniffASCII.lf else { return .invalid }
        return .line(method: method, target: target, version: version, next: index + 1)
    }
}
