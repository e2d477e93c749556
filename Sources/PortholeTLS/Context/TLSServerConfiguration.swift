/// Protocol versions Porthole can offer. TLS 1.0/1.1 exist only for very old
/// agents and are refused unless the operator turns on the legacy switch.
public enum TLSProtocolVersion: String, Sendable, Comparable, CaseIterable {
    case tls1_0 = "1.0"
    case tls1_1 = "1.1"
    case tls1_2 = "1.2"
    case tls1_3 = "1.3"

    var openSSLValue: Int32 {
        switch self {
        case .tls1_0: return TLS1_VERSION
        case .tls1_1: return TLS1_1_VERSION
        case .tls1_2: return TLS1_2_VERSION
        case .tls1_3: return TLS1_3_VERSION
        }
    }

    init?(openSSLValue: Int32) {
        guard let match = Self.allCases.first(where: { $0.openSSLValue == openSSLValue }) else { return nil }
        self = match
    }

    private var order: Int { Self.allCases.firstIndex(of: self)! }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.order < rhs.order }
}

/// Whether the server asks the client for a certificate in the initial
/// handshake. Agents authenticate by certificate thumbprint, browsers must
/// never see a certificate prompt, hence `auto`.
public enum ClientCertificatePolicy: String, Sendable, CaseIterable {
    /// Never ask.
    case none
    /// Ask with an empty CA list, accept any chain, and let the handshake
    /// finish without one (halibut.md §1).
    case request
    /// `request` when the ClientHello offers no ALPN (how agents connect),
    /// otherwise `none`.
    case auto
}

/// A certificate the server can present, and the SNI names it answers for.
public struct TLSCertificateEntry: Sendable {
    public var name: String
    public var identity: CertificateIdentity
    /// Exact names or one-label wildcards (`*.example.com`), compared
    /// case-insensitively. Empty: only reachable as the default.
    public var serverNames: [String]

    public init(name: String, identity: CertificateIdentity, serverNames: [String]) {
        self.name = name
        self.identity = identity
        self.serverNames = serverNames
    }
}

/// Settings shared by every connection the context serves.
public struct TLSServerConfiguration: Sendable {
    public var minimumVersion: TLSProtocolVersion = .tls1_2
    public var maximumVersion: TLSProtocolVersion = .tls1_3
    /// TLS 1.2 cipher list (OpenSSL syntax). ECDHE-RSA-AES256-GCM-SHA384 is
    /// what Mono-based agents negotiate (halibut.md §1).
    public var cipherList = TLSServerConfiguration.defaultCipherList
    /// TLS 1.3 cipher suites.
    public var cipherSuites = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
    public var groups = ["X25519", "P-256"]
    public var sessionTickets = true
    /// The first entry is the default certificate (no SNI, or an unknown one).
    public var certificates: [TLSCertificateEntry]

    public static let defaultCipherList =
        "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" +
        "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" +
        "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
    /// Appended when legacy versions are enabled: TLS 1.0/1.1 clients have no
    /// AEAD suites.
    public static let legacyCipherList = "ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA:AES128-SHA:AES256-SHA"

    public init(certificates: [TLSCertificateEntry]) {
        self.certificates = certificates
    }
}

/// Per-connection choices, made by the route before the handshake starts.
public struct TLSConnectionPolicy: Sendable {
    /// Server preference order; empty: no ALPN negotiated.
    public var alpnProtocols: [String]
    public var clientCertificate: ClientCertificatePolicy
    /// Name of the certificate to present whatever the SNI; nil: select by SNI.
    public var certificateName: String?

    public init(alpnProtocols: [String] = ["h2", "http/1.1"], clientCertificate: ClientCertificatePolicy = .auto, certificateName: String? = nil) {
        self.alpnProtocols = alpnProtocols
        self.clientCertificate = clientCertificate
        self.certificateName = certificateName
    }
}

import COpenSSL
