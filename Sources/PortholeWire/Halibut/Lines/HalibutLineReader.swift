// Text units of the Halibut stream: the preamble (spec §2.1–2.2), identity
// lines (§2.3–2.4) and control lines (§4, §7).
//
// Peers differ in line ends: 4.x and Windows agents send CRLF, 2.x on Linux
// bare LF (vectors README "Line ends"). We accept both and always write CRLF.
// Each reader consumes exactly the bytes of its unit, because whatever
// follows (a deflate stream, say) is the next unit and must not be touched.

/// Why a text unit was rejected.
public enum HalibutLineError: Error, Hashable, Sendable, CustomStringConvertible {
    /// No line end within the limit.
    case lineTooLong(limit: Int)
    /// An identity or control line is not UTF-8.
    case invalidUTF8
    /// No empty line within the spec's 20,000-character cap (§2.2). A real
    /// agent sends `MX` and two newlines, so the peer is not an agent.
    case preambleTooLong(limit: Int)
    /// The identity line is not `MX-SUBSCRIBER`, `MX-CLIENT` or `MX-SERVER`.
    case unknownIdentity(line: String)
    /// `MX-SUBSCRIBER` without a version and subscription URI.
    case missingSubscriptionURI(line: String)
    case invalidSubscriptionURI(uri: String, reason: String)
    /// The identity line must be followed by an empty line (§2.3).
    case missingBlankLineAfterIdentity(found: String)
    /// A control line other than `NEXT`, `PROCEED` or `END`.
    case unexpectedControlLine(line: String)

    public var description: String {
        switch self {
        case .lineTooLong(let limit):
            return "Halibut line longer than \(limit) bytes without a line end"
        case .invalidUTF8:
            return "Halibut identity or control line is not valid UTF-8"
        case .preambleTooLong(let limit):
            return "preamble has no empty line within \(limit) characters; the peer is not a Halibut agent (agents send \"MX\" and two newlines)"
        case .unknownIdentity(let line):
            return "unknown Halibut identity line \(String(reflecting: line)); expected MX-SUBSCRIBER, MX-CLIENT or MX-SERVER"
        case .missingSubscriptionURI(let line):
            return "identity line \(String(reflecting: line)) lacks the subscription URI; expected \"MX-SUBSCRIBER 1.0 poll://<id>/\""
        case let .invalidSubscriptionURI(uri, reason):
            return "subscription URI \(String(reflecting: uri)) is invalid: \(reason)"
        case .missingBlankLineAfterIdentity(let found):
            return "identity line must be followed by an empty line, found \(String(reflecting: found))"
        case .unexpectedControlLine(let line):
            return "unexpected Halibut control line \(String(reflecting: line)); expected NEXT, PROCEED or END"
        }
    }
}

/// What a line-based reader achieved with one input.
public enum HalibutTextProgress<Unit: Hashable & Sendable>: Hashable, Sendable {
    /// Every input byte was consumed and buffered; the unit is not complete.
    case needMoreInput
    /// The unit ended after `consumed` bytes of this input.
    case complete(Unit, consumed: Int)
}

/// Reads one line at a time (LF or CRLF), bounded in length.
public struct HalibutLineReader: Sendable {
    /// Longest accepted line, in bytes without the line end.
    public let maxLineBytes: Int
    private var pending: [UInt8] = []

    public init(maxLineBytes: Int = 20_000) {
        self.maxLineBytes = maxLineBytes
    }

    /// True when part of a line has been consumed but not its end.
    public var hasPartialLine: Bool { !pending.isEmpty }

    /// The next line without its line end (one trailing CR is dropped).
    public mutating func readLine(_ input: UnsafeRawBufferPointer) throws(HalibutLineError) -> HalibutTextProgress<String> {
        guard let newline = input.firstIndex(of: 0x0A) else {
            // +1: a CR may still be waiting for its LF.
            guard input.count <= maxLineBytes + 1 - pending.count else { throw .lineTooLong(limit: maxLineBytes) }
            pending.append(contentsOf: input)
            return .needMoreInput
        }
        var line = pending
        line.append(contentsOf: input[0..<newline])
        pending = []
        if line.last == 0x0D { line.removeLast() }
        guard line.count <= maxLineBytes else { throw .lineTooLong(limit: maxLineBytes) }
        guard let text = String(validating: line, as: UTF8.self) else { throw .invalidUTF8 }
        return .complete(text, consumed: newline + 1)
    }

    /// The next line that is not empty; empty lines before it are consumed
    /// and skipped, as Halibut's own reader does (§2.3).
    public mutating func readNonEmptyLine(_ input: UnsafeRawBufferPointer) throws(HalibutLineError) -> HalibutTextProgress<String> {
        var offset = 0
        while true {
            switch try readLine(UnsafeRawBufferPointer(rebasing: input[offset...])) {
            case .needMoreInput:
                return .needMoreInput
            case .complete(let line, let consumed):
                offset += consumed
                if !line.isEmpty { return .complete(line, consumed: offset) }
                if offset == input.count { return .needMoreInput }
            }
        }
    }

    public mutating func readLine<S: Sequence<UInt8>>(_ input: S) throws(HalibutLineError) -> HalibutTextProgress<String> {
        try withHalibutBytes(input) { (raw) throws(HalibutLineError) in try readLine(raw) }
    }
}

// MARK: - Preamble (§2.1–2.2)

/// The first bytes of a connection, up to the first empty line.
public struct HalibutPreamble: Hashable, Sendable {
    /// Everything read, CRs removed, without the terminating empty line
    /// (`"MX"` from an agent, `"GET / HTTP/1.1\nHost: …"` from a browser).
    public var text: String
    /// True when the connection ended before an empty line arrived.
    public var endedAtEndOfInput: Bool

    /// An agent's preamble starts with `MX`; anything else is a browser or a
    /// probe and gets the friendly page (§2.2, §3).
    public var isHalibut: Bool { text.hasPrefix("MX") }
}

/// Reads the preamble the way Halibut does (§2.2): byte by byte, ignoring
/// `\r`, until an empty line, end of input, or the 20,000-character cap.
public struct HalibutPreambleReader: Sendable {
    public static let defaultMaxCharacters = 20_000
    public let maxCharacters: Int
    private var text: [UInt8] = []
    private var lastWasNewline = false

    public init(maxCharacters: Int = HalibutPreambleReader.defaultMaxCharacters) {
        self.maxCharacters = maxCharacters
    }

    /// True when some preamble bytes have been consumed.
    public var hasStarted: Bool { !text.isEmpty }

    public mutating func feed(_ input: UnsafeRawBufferPointer) throws(HalibutLineError) -> HalibutTextProgress<HalibutPreamble> {
        for (index, byte) in input.enumerated() {
            if byte == 0x0D { continue }
            if byte == 0x0A && lastWasNewline {
                return .complete(finish(endedAtEndOfInput: false), consumed: index + 1)
            }
            guard text.count < maxCharacters else { throw .preambleTooLong(limit: maxCharacters) }
            lastWasNewline = byte == 0x0A
            text.append(byte)
        }
        return .needMoreInput
    }

    public mutating func feed<S: Sequence<UInt8>>(_ input: S) throws(HalibutLineError) -> HalibutTextProgress<HalibutPreamble> {
        try withHalibutBytes(input) { (raw) throws(HalibutLineError) in try feed(raw) }
    }

    /// The connection ended: Halibut then judges whatever it has read (§2.2).
    public mutating func finishAtEndOfInput() -> HalibutPreamble {
        finish(endedAtEndOfInput: true)
    }

    private mutating func finish(endedAtEndOfInput: Bool) -> HalibutPreamble {
        var bytes = text
        if bytes.last == 0x0A { bytes.removeLast() }
        text = []
        lastWasNewline = false
        // Only shown in logs or matched against "MX": lossy decoding is fine.
        return HalibutPreamble(text: String(decoding: bytes, as: UTF8.self), endedAtEndOfInput: endedAtEndOfInput)
    }

    /// What an agent sends: `MX` and two CRLFs (Windows form, §2.1).
    public static let agentPreambleBytes: [UInt8] = Array("MX\r\n\r\n".utf8)
}

// MARK: - Identity (§2.3–2.4)

/// An identity line such as `MX-SUBSCRIBER 1.0 poll://abc/`.
public struct HalibutIdentity: Hashable, Sendable {
    public enum Role: String, Hashable, Sendable {
        /// A polling agent; carries the subscription URI (the queue key).
        case subscriber = "MX-SUBSCRIBER"
        /// A caller in listening mode; not for a polling server (§2.3).
        case client = "MX-CLIENT"
        /// The server's reply.
        case server = "MX-SERVER"
    }

    public var role: Role
    /// Not checked by Halibut (§2.3); kept for logs.
    public var version: String
    /// For `.subscriber`: the normalized subscription URI.
    public var subscriptionURI: String?

    public init(role: Role, version: String = "1.0", subscriptionURI: String? = nil) {
        self.role = role
        self.version = version
        self.subscriptionURI = subscriptionURI
    }

    /// Parses an identity line (without its line end). Parts are split on
    /// spaces; the subscription URI is normalized (§2.3).
    public init(line: String) throws(HalibutLineError) {
        let parts = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        guard let first = parts.first, let role = Role(rawValue: first) else { throw .unknownIdentity(line: line) }
        self.role = role
        self.version = parts.count > 1 ? parts[1] : ""
        if role == .subscriber {
            guard parts.count > 2 else { throw .missingSubscriptionURI(line: line) }
            self.subscriptionURI = try HalibutSubscriptionURI.normalize(parts[2])
        } else {
            self.subscriptionURI = nil
        }
    }

    /// The identity line plus the empty line, always with CRLF (§2.3–2.4).
    public var encoded: [UInt8] {
        var line = role.rawValue + " " + version
        if let subscriptionURI { line += " " + subscriptionURI }
        return Array((line + "\r\n\r\n").utf8)
    }

    /// `MX-SERVER 1.0\r\n\r\n`: the server's reply, sent as one write (§2.4).
    public static let serverIdentityBytes: [UInt8] = HalibutIdentity(role: .server).encoded
}

/// Subscription URIs are queue keys, so equal URIs must compare equal as
/// text: the scheme and host are lower-cased and an empty path becomes `/`,
/// as .NET's `Uri` does (§2.3). The path keeps its case.
public enum HalibutSubscriptionURI {
    public static func normalize(_ uri: String) throws(HalibutLineError) -> String {
        guard let schemeEnd = uri.firstRange(of: "://") else {
            throw .invalidSubscriptionURI(uri: uri, reason: "expected scheme://host/, e.g. poll://abcdefghij0123456789/")
        }
        let scheme = uri[..<schemeEnd.lowerBound]
        guard let firstScheme = scheme.first, firstScheme.isASCII, firstScheme.isLetter,
              scheme.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "+-.".contains($0)) })
        else { throw .invalidSubscriptionURI(uri: uri, reason: "the scheme is not a valid URI scheme") }
        let rest = uri[schemeEnd.upperBound...]
        let authorityEnd = rest.firstIndex(where: { "/?#".contains($0) }) ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        var tail = String(rest[authorityEnd...])
        // Only the host is case-insensitive: keep userinfo and port as given.
        let hostStart = authority.lastIndex(of: "@").map { authority.index(after: $0) } ?? authority.startIndex
        let userinfo = authority[..<hostStart]
        let hostAndPort = authority[hostStart...]
        let portStart: Substring.Index
        if hostAndPort.hasPrefix("["), let close = hostAndPort.firstIndex(of: "]") {
            portStart = hostAndPort.index(after: close)  // IPv6 literal
        } else {
            portStart = hostAndPort.firstIndex(of: ":") ?? hostAndPort.endIndex
        }
        let host = hostAndPort[..<portStart]
        guard !host.isEmpty else { throw .invalidSubscriptionURI(uri: uri, reason: "the host is empty") }
        if tail.isEmpty || tail.first == "?" || tail.first == "#" { tail = "/" + tail }
        return scheme.lowercased() + "://" + userinfo + host.lowercased() + hostAndPort[portStart...] + tail
    }
}

/// Reads an identity line and the empty line that follows it (§2.3: one
/// write, "line end + empty line"). Empty lines before it are skipped.
public struct HalibutIdentityReader: Sendable {
    private enum State: Sendable {
        case awaitingIdentityLine
        case awaitingBlankLine(HalibutIdentity)
    }

    private var state: State = .awaitingIdentityLine
    private var lines: HalibutLineReader

    public init(maxLineBytes: Int = 20_000) {
        lines = HalibutLineReader(maxLineBytes: maxLineBytes)
    }

    /// True when part of the unit has been consumed.
    public var hasStarted: Bool {
        if case .awaitingBlankLine = state { return true }
        return lines.hasPartialLine
    }

    public mutating func feed(_ input: UnsafeRawBufferPointer) throws(HalibutLineError) -> HalibutTextProgress<HalibutIdentity> {
        var offset = 0
        if case .awaitingIdentityLine = state {
            switch try lines.readNonEmptyLine(input) {
            case .needMoreInput:
                return .needMoreInput
            case .complete(let line, let consumed):
                offset = consumed
                state = .awaitingBlankLine(try HalibutIdentity(line: line))
            }
        }
        guard case .awaitingBlankLine(let identity) = state else { return .needMoreInput }
        switch try lines.readLine(UnsafeRawBufferPointer(rebasing: input[offset...])) {
        case .needMoreInput:
            return .needMoreInput
        case .complete(let line, let consumed):
            guard line.isEmpty else { throw .missingBlankLineAfterIdentity(found: line) }
            state = .awaitingIdentityLine
            return .complete(identity, consumed: offset + consumed)
        }
    }

    public mutating func feed<S: Sequence<UInt8>>(_ input: S) throws(HalibutLineError) -> HalibutTextProgress<HalibutIdentity> {
        try withHalibutBytes(input) { (raw) throws(HalibutLineError) in try feed(raw) }
    }
}

// MARK: - Control lines (§4, §7)

/// The three control lines of the polling loop.
public enum HalibutControlLine: String, Hashable, Sendable, CaseIterable {
    /// Agent → server: ready for the next request.
    case next = "NEXT"
    /// Server → agent: answer to NEXT.
    case proceed = "PROCEED"
    /// Agent → server: closing (EOF means the same).
    case end = "END"

    /// The line with CRLF, which is what we always write (§2.3).
    public var encoded: [UInt8] { Array((rawValue + "\r\n").utf8) }
}

/// Reads one control line, skipping empty lines before it as Halibut does.
/// Matching is exact, as in Halibut (`"NEXT"`, not `"next"`).
public struct HalibutControlLineReader: Sendable {
    private var lines: HalibutLineReader

    public init(maxLineBytes: Int = 1024) {
        lines = HalibutLineReader(maxLineBytes: maxLineBytes)
    }

    /// True when part of a line has been consumed.
    public var hasStarted: Bool { lines.hasPartialLine }

    public mutating func feed(_ input: UnsafeRawBufferPointer) throws(HalibutLineError) -> HalibutTextProgress<HalibutControlLine> {
        switch try lines.readNonEmptyLine(input) {
        case .needMoreInput:
            return .needMoreInput
        case .complete(let line, let consumed):
            guard let control = HalibutControlLine(rawValue: line) else { throw .unexpectedControlLine(line: line) }
            return .complete(control, consumed: consumed)
        }
    }

    public mutating func feed<S: Sequence<UInt8>>(_ input: S) throws(HalibutLineError) -> HalibutTextProgress<HalibutControlLine> {
        try withHalibutBytes(input) { (raw) throws(HalibutLineError) in try feed(raw) }
    }
}
