import PortholeWire

extension PortholeConfiguration {
    /// One `[[route]]`: conditions on what the ClientHello and the socket
    /// say, and what to do with a connection that meets them.
    public struct Route: Sendable, Equatable {
        public var name: String
        public var match: Match
        public var action: Action

        public init(name: String, match: Match = Match(), action: Action) {
            self.name = name
            self.match = match
            self.action = action
        }

        /// Name of the route used when none is configured.
        public static let implicitDefaultName = "default"

        /// With no `[[route]]` at all, every connection is terminated here and
        /// the client certificate is requested only from hellos without ALPN
        /// (agents send none; browsers always do, and would show a
        /// certificate prompt otherwise).
        public static func implicitDefault(alpn: [String]) -> Route {
            Route(name: implicitDefaultName,
                  action: .terminate(Terminate(certificate: nil, alpn: alpn, clientCertificate: .auto)))
        }

        /// All keys are ANDed; within a key the values are ORed; a nil key
        /// matches anything.
        public struct Match: Sendable, Hashable {
            public var serverNames: [ServerNamePattern]?
            public var alpn: [ALPNCondition]?
            public var sources: [CIDR]?
            public var listeners: [String]?

            public init(serverNames: [ServerNamePattern]? = nil, alpn: [ALPNCondition]? = nil,
                        sources: [CIDR]? = nil, listeners: [String]? = nil) {
                self.serverNames = serverNames
                self.alpn = alpn
                self.sources = sources
                self.listeners = listeners
            }

            public var isCatchAll: Bool {
                serverNames == nil && alpn == nil && sources == nil && listeners == nil
            }
        }

        public enum ALPNCondition: Sendable, Hashable, CustomStringConvertible {
            /// The hello has no ALPN extension (or offers nothing in it): the
            /// signature of Octopus agents, which never negotiate ALPN.
            case none
            case protocolID(String)

            public var description: String {
                switch self {
                case .none: return "none"
                case .protocolID(let id): return id
                }
            }
        }

        public enum Action: Sendable, Hashable {
            case passthrough(Passthrough)
            case terminate(Terminate)

            public var keyword: String {
                switch self {
                case .passthrough: return "passthrough"
                case .terminate: return "terminate"
                }
            }
        }

        /// Splice the untouched TLS bytes to an upstream that terminates TLS
        /// itself — the only way to front another agent endpoint, because
        /// agents pin the certificate of whoever terminates.
        public struct Passthrough: Sendable, Hashable {
            public var upstream: HostPort
            public var proxyProtocol: UpstreamProxyProtocol
            public var connectTimeout: Duration

            public init(upstream: HostPort, proxyProtocol: UpstreamProxyProtocol = .off,
                        connectTimeout: Duration = .seconds(5)) {
                self.upstream = upstream
                self.proxyProtocol = proxyProtocol
                self.connectTimeout = connectTimeout
            }
        }

        public struct Terminate: Sendable, Hashable {
            /// nil: choose among all certificates by SNI, else the default.
            public var certificate: String?
            public var alpn: [String]
            public var clientCertificate: ClientCertificatePolicy

            public init(certificate: String? = nil, alpn: [String] = ["h2", "http/1.1"],
                        clientCertificate: ClientCertificatePolicy = .auto) {
                self.certificate = certificate
                self.alpn = alpn
                self.clientCertificate = clientCertificate
            }
        }

        public enum UpstreamProxyProtocol: String, Sendable, Hashable, CaseIterable {
            case off
            /// Prepend a PROXY v2 header so the upstream sees the real client.
            case v2
        }

        /// Client certificates are requested in the initial handshake only —
        /// never by renegotiation (TLS 1.3 has none, and agents reject it).
        public enum ClientCertificatePolicy: String, Sendable, Hashable, CaseIterable {
            case none
            case request
            /// Request only when the hello has no ALPN extension, i.e. from
            /// agents, so browsers never see a certificate prompt.
            case auto
        }
    }
}

/// An SNI condition: an exact host name, a one-label wildcard, or "none".
///
/// `*.example.com` matches exactly one extra label — `a.example.com` but
/// neither `example.com` nor `a.b.example.com` — the same rule TLS clients
/// apply to wildcard certificates (RFC 6125 §6.4.3), so a route and the
/// certificate it serves agree on which names they cover.
public enum ServerNamePattern: Sendable, Hashable, CustomStringConvertible {
    /// The hello carries no server_name extension (clients connecting by IP).
    case none
    /// Lowercased, without a trailing dot.
    case exact(String)
    /// The part after "*.", lowercased.
    case wildcard(parent: String)

    public enum ParseError: Error, Sendable, Hashable, CustomStringConvertible {
        case empty
        /// "*" somewhere other than as the whole first label.
        case misplacedWildcard(String)
        /// SNI never carries IP literals (RFC 6066 §3).
        case ipAddress(String)
        case invalidName(String)

        public var description: String {
            switch self {
            case .empty: return "empty server name"
            case .misplacedWildcard(let text):
                return "\"\(text)\" has a wildcard that is not the whole first label"
            case .ipAddress(let text):
                return "\"\(text)\" is an IP address, and SNI never carries IP addresses (RFC 6066 §3)"
            case .invalidName(let text): return "\"\(text)\" is not a valid host name"
            }
        }
    }

    public init(parsing text: String) throws(ParseError) {
        var name = text.lowercased()
        if name.hasSuffix(".") { name.removeLast() }
        guard !name.isEmpty else { throw .empty }
        if name == "none" {
            self = .none
            return
        }
        if IPAddress(name) != nil { throw .ipAddress(text) }
        if name.hasPrefix("*.") {
            let parent = String(name.dropFirst(2))
            if parent.contains("*") { throw .misplacedWildcard(text) }
            guard HostPort.isHostName(parent) else { throw .invalidName(text) }
            self = .wildcard(parent: parent)
            return
        }
        if name.contains("*") { throw .misplacedWildcard(text) }
        guard HostPort.isHostName(name) else { throw .invalidName(text) }
        self = .exact(name)
    }

    /// Lowercase and drop a trailing dot, once per connection, so matching
    /// is plain comparison.
    public static func normalize(_ serverName: String?) -> String? {
        guard var name = serverName?.lowercased() else { return nil }
        if name.hasSuffix(".") { name.removeLast() }
        return name.isEmpty ? nil : name
    }

    /// `serverName` must already be normalised.
    public func matches(normalized serverName: String?) -> Bool {
        switch self {
        case .none:
            return serverName == nil
        case .exact(let name):
            return serverName == name
        case .wildcard(let parent):
            guard let serverName, serverName.count > parent.count + 1,
                  serverName.hasSuffix(parent) else { return false }
            let label = serverName.dropLast(parent.count)
            // `label` is "x." — exactly one non-empty label and its dot.
            return label.last == "." && !label.dropLast().isEmpty && !label.dropLast().contains(".")
        }
    }

    /// True when every SNI this pattern matches is also matched by `self`.
    public func covers(_ other: ServerNamePattern) -> Bool {
        if self == other { return true }
        if case .exact(let name) = other { return matches(normalized: name) }
        return false
    }

    public var description: String {
        switch self {
        case .none: return "none"
        case .exact(let name): return name
        case .wildcard(let parent): return "*.\(parent)"
        }
    }
}
