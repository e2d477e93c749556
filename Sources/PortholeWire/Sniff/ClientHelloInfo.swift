/// The facts stage 1 records from a TLS ClientHello, for routing and logs.
///
/// Sniffing only records; deciding is the route table's job and acting the
/// handler's (see STYLE.md). Values are as the client sent them, in its
/// order, GREASE values (RFC 8701) included, so fingerprints stay possible.
public struct ClientHelloInfo: Sendable, Hashable {
    /// The `host_name` from server_name (RFC 6066 section 3), ASCII
    /// lower-cased because DNS names compare case-insensitively; `nil` when
    /// the extension is absent (clients connecting by IP address).
    public var serverName: String?
    /// Whether the ALPN extension (RFC 7301 section 3.1) is present at all.
    /// Polling agents send none, so routes can match on "no ALPN".
    public var alpnExtensionPresent: Bool
    /// ALPN protocol names in the client's preference order (empty if the
    /// extension is absent). Names are bytes on the wire; invalid UTF-8 is
    /// decoded with replacement characters, which never equals a configured
    /// ASCII name.
    public var alpnProtocols: [String]
    /// `legacy_version` (0x0303 for TLS 1.2 and 1.3 hellos, RFC 8446 section 4.1.2).
    public var legacyVersion: UInt16
    /// supported_versions (RFC 8446 section 4.2.1); empty if absent (TLS 1.2 clients).
    public var supportedVersions: [UInt16]
    public var cipherSuites: [UInt16]
    /// supported_groups (RFC 8446 section 4.2.7).
    public var supportedGroups: [UInt16]
    /// Groups of the key_share entries (RFC 8446 section 4.2.8), e.g. 0x11EC
    /// for X25519MLKEM768.
    public var keyShareGroups: [UInt16]
    /// signature_algorithms (RFC 8446 section 4.2.3).
    public var signatureAlgorithms: [UInt16]
    /// Extension types in the order sent.
    public var extensionTypes: [UInt16]
    /// A non-empty session_ticket extension: a TLS 1.2 resumption attempt
    /// (RFC 5077 section 3.2; an empty one only asks for a new ticket).
    public var offersSessionTicket: Bool
    /// pre_shared_key present: a TLS 1.3 resumption attempt (RFC 8446 section 4.2.11).
    public var offersPreSharedKey: Bool
    /// early_data present (RFC 8446 section 4.2.10): 0-RTT records may follow.
    public var offersEarlyData: Bool
    /// Length of the ClientHello handshake body (without its 4-byte header).
    public var handshakeLength: Int
    /// Number of TLS records the hello was spread over.
    public var recordCount: Int
    /// Bytes from the start of the stream to the end of the record holding
    /// the hello's last byte (record headers included). The caller replays
    /// everything it buffered, which may be more than this (0-RTT data, a
    /// ChangeCipherSpec), to the upstream or into the TLS engine.
    public var consumedByteCount: Int

    public init(
        serverName: String? = nil,
        alpnExtensionPresent: Bool = false,
        alpnProtocols: [String] = [],
        legacyVersion: UInt16 = 0x0303,
        supportedVersions: [UInt16] = [],
        cipherSuites: [UInt16] = [],
        supportedGroups: [UInt16] = [],
        keyShareGroups: [UInt16] = [],
        signatureAlgorithms: [UInt16] = [],
        extensionTypes: [UInt16] = [],
        offersSessionTicket: Bool = false,
        offersPreSharedKey: Bool = false,
        offersEarlyData: Bool = false,
        handshakeLength: Int = 0,
        recordCount: Int = 1,
        consumedByteCount: Int = 0
    ) {
        self.serverName = serverName
        self.alpnExtensionPresent = alpnExtensionPresent
        self.alpnProtocols = alpnProtocols
        self.legacyVersion = legacyVersion
        self.supportedVersions = supportedVersions
        self.cipherSuites = cipherSuites
        self.supportedGroups = supportedGroups
        self.keyShareGroups = keyShareGroups
        self.signatureAlgorithms = signatureAlgorithms
        self.extensionTypes = extensionTypes
        self.offersSessionTicket = offersSessionTicket
        self.offersPreSharedKey = offersPreSharedKey
        self.offersEarlyData = offersEarlyData
        self.handshakeLength = handshakeLength
        self.recordCount = recordCount
        self.consumedByteCount = consumedByteCount
    }

    /// TLS 1.3 offered (0x0304 in supported_versions; RFC 8446 section 4.2.1
    /// makes that the only way to offer it).
    public var offersTLS13: Bool { supportedVersions.contains(0x0304) }

    /// Either kind of resumption attempt.
    public var offersResumption: Bool { offersSessionTicket || offersPreSharedKey }

    /// RFC 8701 GREASE values (0x?A?A) that clients sprinkle into lists.
    public static func isGREASE(_ value: UInt16) -> Bool {
        value & 0x0F0F == 0x0A0A && value >> 8 == value & 0xFF
    }
}
