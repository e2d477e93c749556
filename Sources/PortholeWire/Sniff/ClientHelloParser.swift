/// Reassembles and parses the TLS ClientHello at the start of a connection.
///
/// Feeding: give the parser each chunk as it arrives, in order, each byte
/// once (`feed(_:)` appends to the parser's own bounded buffer). For bytes
/// that are already all in hand, `ClientHelloParser.parse(_:)` does it in one
/// call. The result only depends on the bytes, never on how they were split
/// into chunks.
///
/// A hello may be split across any number of TCP segments and across several
/// TLS records: RFC 8446 section 5.1 lets a handshake message be fragmented
/// over consecutive records of content type 22 (post-quantum hellos of
/// ~1.7-2.1 KiB are routinely split). The parser waits for the whole
/// message and never decides on a partial hello.
///
/// Decisions:
/// - `notTLS`: the first record header is not a handshake record (type 22,
///   major version 3). An SSL 2.0-compatible CLIENT-HELLO (first byte with
///   the high bit set) lands here too: it carries no extensions, so no SNI or
///   ALPN to route on, and RFC 8446 appendix D.5 forbids sending it.
/// - `malformed`: it is a TLS handshake record, but not a valid ClientHello
///   (bad lengths, wrong record type later on, an empty handshake record,
///   duplicate extensions, ...).
/// - `tooLarge`: the hello does not fit in `maxBufferedBytes` of stream bytes
///   (record headers included). Decided as soon as the handshake header
///   announces too much, or when that many bytes are buffered.
///
/// After a final result (anything but `needMoreData`) further input is
/// ignored and the same result is returned.
public struct ClientHelloParser: Sendable {
    public enum Result: Sendable, Hashable {
        case needMoreData
        case complete(ClientHelloInfo)
        case notTLS
        case malformed(Malformation)
        case tooLarge
    }

    /// Which part of the hello a malformation was found in.
    public enum Field: String, Sendable, Hashable {
        case handshakeHeader = "handshake header"
        case legacyVersion = "legacy_version"
        case random
        case sessionID = "legacy_session_id"
        case cipherSuites = "cipher_suites"
        case compressionMethods = "legacy_compression_methods"
        case extensions
        case serverName = "server_name"
        case alpn = "application_layer_protocol_negotiation"
        case supportedVersions = "supported_versions"
        case supportedGroups = "supported_groups"
        case signatureAlgorithms = "signature_algorithms"
        case keyShare = "key_share"
        case preSharedKey = "pre_shared_key"
    }

    public enum Malformation: Error, Sendable, Hashable, CustomStringConvertible {
        /// A record after the first is not a handshake record.
        case unexpectedRecordType(UInt8)
        /// A record after the first does not carry major version 3.
        case unexpectedRecordVersion(major: UInt8)
        case recordTooLong(length: Int)
        case emptyHandshakeRecord
        case notClientHello(handshakeType: UInt8)
        /// A vector's length runs past its enclosing block.
        case truncated(Field)
        /// A block has bytes left after its last element.
        case trailingBytes(Field)
        /// A length outside what the RFC allows (empty lists, odd sizes).
        case invalidLength(Field)
        /// The final record carries handshake bytes after the ClientHello.
        case trailingHandshakeData
        case duplicateExtension(type: UInt16)
        case preSharedKeyNotLast
        case duplicateServerName
        case invalidServerName

        public var description: String {
            switch self {
            case .unexpectedRecordType(let type):
                return "record of content type \(type) inside the ClientHello (expected 22, handshake)"
            case .unexpectedRecordVersion(let major):
                return "record with major version \(major) inside the ClientHello (expected 3)"
            case .recordTooLong(let length):
                return "record length \(length) exceeds \(ClientHelloParser.maxRecordLength) (RFC 8446 section 5.2)"
            case .emptyHandshakeRecord:
                return "zero-length handshake record (forbidden by RFC 8446 section 5.1)"
            case .notClientHello(let type):
                return "first handshake message has type \(type), expected 1 (ClientHello)"
            case .truncated(let field):
                return "\(field.rawValue): length runs past the end of its block"
            case .trailingBytes(let field):
                return "\(field.rawValue): unexpected bytes after the last element"
            case .invalidLength(let field):
                return "\(field.rawValue): length not allowed by the RFC"
            case .trailingHandshakeData:
                return "handshake bytes after the ClientHello in the same record"
            case .duplicateExtension(let type):
                return "extension \(type) sent twice (RFC 8446 section 4.2)"
            case .preSharedKeyNotLast:
                return "pre_shared_key is not the last extension (RFC 8446 section 4.2.11)"
            case .duplicateServerName:
                return "server_name lists more than one host_name (RFC 6066 section 3)"
            case .invalidServerName:
                return "server_name host_name is empty, too long or not printable ASCII"
            }
        }
    }

    public static let defaultMaxBufferedBytes = 16 * 1024

    /// RFC 8446 section 5.1 caps a plaintext record at 2^14 bytes; we allow
    /// the 256 bytes of slack that section 5.2 grants protected records, as
    /// lenient stacks are known to round up. Anything longer is not TLS.
    public static let maxRecordLength = (1 << 14) + 256

    static let recordHeaderLength = 5
    static let handshakeHeaderLength = 4
    static let contentTypeHandshake: UInt8 = 22
    static let handshakeTypeClientHello: UInt8 = 1
    /// legacy_version + random + empty session id + one cipher suite + one
    /// compression method, without extensions (RFC 5246 section 7.4.1.2).
    static let minimumClientHelloLength = 2 + 32 + 1 + 2 + 2 + 1 + 1

    public let maxBufferedBytes: Int
    private var buffered: [UInt8] = []
    private var state: State = .reassembling(Reassembly())

    private enum State {
        case reassembling(Reassembly)
        case finished(Result)
    }

    /// Progress through the record stream: where the next record header
    /// starts, and the handshake bytes gathered from complete records.
    private struct Reassembly {
        var nextRecordStart = 0
        var handshake: [UInt8] = []
        var recordCount = 0
    }

    public init(maxBufferedBytes: Int = ClientHelloParser.defaultMaxBufferedBytes) {
        self.maxBufferedBytes = max(maxBufferedBytes, Self.recordHeaderLength)
    }

    /// Bytes fed up to and including the chunk that gave a final result.
    /// When handing the connection on, replay all of them, not just
    /// `ClientHelloInfo.consumedByteCount`: 0-RTT data or a ChangeCipherSpec
    /// may follow the hello in the same read.
    public var bufferedByteCount: Int { buffered.count }

    /// Parses bytes that are all at hand (e.g. a test vector or a peeked buffer).
    public static func parse(
        _ bytes: some Collection<UInt8>,
        maxBufferedBytes: Int = ClientHelloParser.defaultMaxBufferedBytes
    ) -> Result {
        var parser = ClientHelloParser(maxBufferedBytes: maxBufferedBytes)
        return parser.feed(bytes)
    }

    /// Appends the next chunk of the stream and tries to decide.
    public mutating func feed(_ chunk: some Collection<UInt8>) -> Result {
        var reassembly: Reassembly
        switch state {
        case .finished(let result): return result
        case .reassembling(let progress): reassembly = progress
        }
        // Park a placeholder so `reassembly` is the only owner of its buffer
        // and appending to it does not copy.
        state = .finished(.needMoreData)
        // Kept whole (the caller may want the count for replay), but
        // `advance` never looks past the bound, so the outcome does not
        // depend on how much arrived beyond it in one read.
        buffered.append(contentsOf: chunk)
        let result = advance(&reassembly)
        if case .needMoreData = result {
            state = .reassembling(reassembly)
        } else {
            state = .finished(result)
        }
        return result
    }

    private func advance(_ progress: inout Reassembly) -> Result {
        let limit = min(buffered.count, maxBufferedBytes)
        while true {
            let recordStart = progress.nextRecordStart
            let headerEnd = recordStart + Self.recordHeaderLength
            let header = buffered[recordStart..<min(headerEnd, limit)]
            if let failure = Self.check(recordHeader: header, isFirstRecord: progress.recordCount == 0) {
                return failure
            }
            guard headerEnd <= limit else { return waitForMore() }

            let recordLength = Int(buffered[recordStart + 3]) << 8 | Int(buffered[recordStart + 4])
            let recordEnd = headerEnd + recordLength
            let fragment = buffered[headerEnd..<min(recordEnd, limit)]
            // Look at the handshake header as soon as its bytes exist, even
            // mid-record, so a non-hello or an oversized announcement fails
            // fast instead of after 16 KiB.
            if progress.handshake.count < Self.handshakeHeaderLength {
                let missing = Self.handshakeHeaderLength - progress.handshake.count
                let header = progress.handshake + fragment.prefix(missing)
                if let failure = check(handshakeHeader: header) { return failure }
            }
            guard recordEnd <= limit else { return waitForMore() }

            progress.handshake.append(contentsOf: fragment)
            progress.recordCount += 1
            progress.nextRecordStart = recordEnd
            guard progress.handshake.count >= Self.handshakeHeaderLength else { continue }

            let messageEnd = Self.handshakeHeaderLength + Self.uint24(progress.handshake, at: 1)
            guard progress.handshake.count >= messageEnd else { continue }
            // A ClientHello is the client's only handshake message before
            // the ServerHello; anything after it in the same record would
            // have to be another flight, which cannot exist yet.
            guard progress.handshake.count == messageEnd else {
                return .malformed(.trailingHandshakeData)
            }
            let body = progress.handshake[Self.handshakeHeaderLength...]
            do throws(Malformation) {
                var info = try Self.parseClientHelloBody(body)
                info.handshakeLength = body.count
                info.recordCount = progress.recordCount
                info.consumedByteCount = recordEnd
                return .complete(info)
            } catch {
                return .malformed(error)
            }
        }
    }

    private func waitForMore() -> Result {
        buffered.count >= maxBufferedBytes ? .tooLarge : .needMoreData
    }

    /// Checks as much of a record header (RFC 8446 section 5.1) as has
    /// arrived; `nil` means "fine so far".
    private static func check(recordHeader header: ArraySlice<UInt8>, isFirstRecord: Bool) -> Result? {
        guard let contentType = header.first else { return nil }
        if contentType != contentTypeHandshake {
            return isFirstRecord ? .notTLS : .malformed(.unexpectedRecordType(contentType))
        }
        guard header.count >= 2 else { return nil }
        // legacy_record_version is 0x0301 or 0x0303 in practice and "MUST be
        // ignored for all purposes"; only the major byte tells TLS apart.
        let major = header[header.startIndex + 1]
        if major != 3 {
            return isFirstRecord ? .notTLS : .malformed(.unexpectedRecordVersion(major: major))
        }
        guard header.count >= recordHeaderLength else { return nil }
        let length = Int(header[header.startIndex + 3]) << 8 | Int(header[header.startIndex + 4])
        if length == 0 { return .malformed(.emptyHandshakeRecord) }
        if length > maxRecordLength { return .malformed(.recordTooLong(length: length)) }
        return nil
    }

    /// Checks as much of the handshake header (RFC 8446 section 4) as has arrived.
    private func check(handshakeHeader header: [UInt8]) -> Result? {
        guard let type = header.first else { return nil }
        if type != Self.handshakeTypeClientHello {
            return .malformed(.notClientHello(handshakeType: type))
        }
        guard header.count >= Self.handshakeHeaderLength else { return nil }
        let length = Self.uint24(header, at: 1)
        if length < Self.minimumClientHelloLength { return .malformed(.invalidLength(.handshakeHeader)) }
        // Even in a single record the hello needs both headers on top of its body.
        if Self.recordHeaderLength + Self.handshakeHeaderLength + length > maxBufferedBytes {
            return .tooLarge
        }
        return nil
    }

    private static func uint24(_ bytes: [UInt8], at offset: Int) -> Int {
        Int(bytes[offset]) << 16 | Int(bytes[offset + 1]) << 8 | Int(bytes[offset + 2])
    }

    // MARK: - ClientHello body (RFC 8446 section 4.1.2, RFC 5246 section 7.4.1.2)

    static func parseClientHelloBody(_ body: ArraySlice<UInt8>) throws(Malformation) -> ClientHelloInfo {
        var reader = SniffByteReader(body)
        var info = ClientHelloInfo()
        guard let legacyVersion = reader.readUInt16() else { throw .truncated(.legacyVersion) }
        info.legacyVersion = legacyVersion
        guard reader.skip(32) else { throw .truncated(.random) }
        guard let sessionID = reader.readLengthPrefixed(prefixSize: 1) else { throw .truncated(.sessionID) }
        guard sessionID.remainingCount <= 32 else { throw .invalidLength(.sessionID) }
        guard var suites = reader.readLengthPrefixed(prefixSize: 2) else { throw .truncated(.cipherSuites) }
        guard suites.remainingCount >= 2, let cipherSuites = suites.readUInt16List() else {
            throw .invalidLength(.cipherSuites)
        }
        info.cipherSuites = cipherSuites
        guard let compression = reader.readLengthPrefixed(prefixSize: 1) else {
            throw .truncated(.compressionMethods)
        }
        guard compression.remainingCount >= 1 else { throw .invalidLength(.compressionMethods) }
        // RFC 5246 section 7.4.1.2: a TLS 1.2 hello may end here, without an
        // extensions block at all.
        if reader.isAtEnd { return info }
        guard var extensions = reader.readLengthPrefixed(prefixSize: 2) else { throw .truncated(.extensions) }
        guard reader.isAtEnd else { throw .trailingBytes(.extensions) }
        try parseExtensions(&extensions, into: &info)
        return info
    }

    private static func parseExtensions(
        _ extensions: inout SniffByteReader,
        into info: inout ClientHelloInfo
    ) throws(Malformation) {
        var seen: Set<UInt16> = []
        while !extensions.isAtEnd {
            guard let type = extensions.readUInt16(),
                  var data = extensions.readLengthPrefixed(prefixSize: 2)
            else { throw .truncated(.extensions) }
            // RFC 8446 section 4.2.11: pre_shared_key MUST be last, because
            // its binders cover everything before it.
            if info.offersPreSharedKey { throw .preSharedKeyNotLast }
            // RFC 8446 section 4.2: at most one extension of each type. Two
            // server_names could make us route on one while the upstream
            // answers the other.
            guard seen.insert(type).inserted else { throw .duplicateExtension(type: type) }
            info.extensionTypes.append(type)

            switch type {
            case 0:
                info.serverName = try parseServerName(&data)
            case 16:
                info.alpnExtensionPresent = true
                info.alpnProtocols = try parseALPN(&data)
            case 43:
                // ProtocolVersion versions<2..254> (RFC 8446 section 4.2.1).
                guard var list = data.readLengthPrefixed(prefixSize: 1), list.remainingCount >= 2,
                      let versions = list.readUInt16List()
                else { throw .invalidLength(.supportedVersions) }
                info.supportedVersions = versions
                try expectEnd(data, .supportedVersions)
            case 10:
                info.supportedGroups = try parseUInt16Vector(&data, .supportedGroups)
            case 13:
                info.signatureAlgorithms = try parseUInt16Vector(&data, .signatureAlgorithms)
            case 51:
                info.keyShareGroups = try parseKeyShareGroups(&data)
            case 35:
                info.offersSessionTicket = data.remainingCount > 0
                _ = data.skip(data.remainingCount)
            case 41:
                try validatePreSharedKey(&data)
                info.offersPreSharedKey = true
            case 42:
                info.offersEarlyData = true
                _ = data.skip(data.remainingCount)
            default:
                // Unknown extensions are opaque to us (and GREASE ones are
                // meant to be ignored, RFC 8701).
                _ = data.skip(data.remainingCount)
            }
        }
    }

    /// ServerNameList (RFC 6066 section 3): only name_type host_name (0) is
    /// defined; other types are skipped.
    private static func parseServerName(_ data: inout SniffByteReader) throws(Malformation) -> String? {
        guard var list = data.readLengthPrefixed(prefixSize: 2) else { throw .truncated(.serverName) }
        guard !list.isAtEnd else { throw .invalidLength(.serverName) }
        try expectEnd(data, .serverName)
        var hostName: String?
        while !list.isAtEnd {
            guard let nameType = list.readUInt8(),
                  var name = list.readLengthPrefixed(prefixSize: 2)
            else { throw .truncated(.serverName) }
            guard nameType == 0 else { continue }
            guard hostName == nil else { throw .duplicateServerName }
            // DNS names are at most 255 octets; the ASCII-only rule keeps
            // IDNs in their A-label form and rules out NUL tricks.
            let count = name.remainingCount
            guard (1...255).contains(count), let bytes = name.readBytes(count),
                  bytes.allSatisfy({ (0x21...0x7E).contains($0) })
            else { throw .invalidServerName }
            hostName = SniffASCII.string(bytes.map(SniffASCII.lowercased))
        }
        return hostName
    }

    /// ProtocolNameList (RFC 7301 section 3.1): names of 1..255 bytes, list
    /// of at least one name.
    private static func parseALPN(_ data: inout SniffByteReader) throws(Malformation) -> [String] {
        guard var list = data.readLengthPrefixed(prefixSize: 2) else { throw .truncated(.alpn) }
        guard !list.isAtEnd else { throw .invalidLength(.alpn) }
        try expectEnd(data, .alpn)
        var names: [String] = []
        while !list.isAtEnd {
            guard var name = list.readLengthPrefixed(prefixSize: 1) else { throw .truncated(.alpn) }
            guard name.remainingCount > 0, let bytes = name.readBytes(name.remainingCount) else {
                throw .invalidLength(.alpn)
            }
            names.append(SniffASCII.string(bytes))
        }
        return names
    }

    /// A `uint16 list<2..2^16-2>` (supported_groups, signature_algorithms).
    private static func parseUInt16Vector(
        _ data: inout SniffByteReader,
        _ field: Field
    ) throws(Malformation) -> [UInt16] {
        guard var list = data.readLengthPrefixed(prefixSize: 2) else { throw .truncated(field) }
        guard list.remainingCount >= 2, let values = list.readUInt16List() else { throw .invalidLength(field) }
        try expectEnd(data, field)
        return values
    }

    /// KeyShareClientHello (RFC 8446 section 4.2.8): entries of a group and
    /// a non-empty key; the list itself may be empty (asking for an HRR).
    private static func parseKeyShareGroups(_ data: inout SniffByteReader) throws(Malformation) -> [UInt16] {
        guard var shares = data.readLengthPrefixed(prefixSize: 2) else { throw .truncated(.keyShare) }
        try expectEnd(data, .keyShare)
        var groups: [UInt16] = []
        while !shares.isAtEnd {
            guard let group = shares.readUInt16(),
                  let key = shares.readLengthPrefixed(prefixSize: 2)
            else { throw .truncated(.keyShare) }
            guard key.remainingCount > 0 else { throw .invalidLength(.keyShare) }
            groups.append(group)
        }
        return groups
    }

    /// OfferedPsks (RFC 8446 section 4.2.11): identities<7..2^16-1> then
    /// binders<33..2^16-1>. Only the framing is checked; the contents are
    /// the TLS engine's business.
    private static func validatePreSharedKey(_ data: inout SniffByteReader) throws(Malformation) {
        guard let identities = data.readLengthPrefixed(prefixSize: 2),
              let binders = data.readLengthPrefixed(prefixSize: 2)
        else { throw .truncated(.preSharedKey) }
        guard identities.remainingCount >= 7, binders.remainingCount >= 33 else {
            throw .invalidLength(.preSharedKey)
        }
        try expectEnd(data, .preSharedKey)
    }

    private static func expectEnd(_ reader: SniffByteReader, _ field: Field) throws(Malformation) {
        guard reader.isAtEnd else { throw .trailingBytes(field) }
    }
}
