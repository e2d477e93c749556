import PortholeWire

/// Everything `porthole.toml` says, validated and with defaults filled in.
/// Plain values: the gateway reads it, nothing here does I/O.
public struct PortholeConfiguration: Sendable, Equatable {
    public var server: Server
    /// Shorthand `[server].listen` entries (named "listen-1", "listen-2", …)
    /// followed by the long-form `[[listener]]` tables, in file order.
    public var listeners: [Listener]
    public var tls: TLS
    /// The first one is the default for handshakes whose SNI matches none.
    /// Empty means: use the self-signed certificate in `server.stateDirectory`.
    public var certificates: [Certificate]
    public var log: Log
    public var admin: Admin
    /// Empty means: the implicit default route (see `Route.implicitDefault`).
    public var routes: [Route]
    public var portal: Portal
    public var polling: Polling
    /// The file this came from; nil for the embedded default.
    public var sourceFile: String?

    public init(
        server: Server = Server(),
        listeners: [Listener] = Listener.defaultListeners,
        tls: TLS = TLS(),
        certificates: [Certificate] = [],
        log: Log = Log(),
        admin: Admin = Admin(),
        routes: [Route] = [],
        portal: Portal = Portal(),
        polling: Polling = Polling(),
        sourceFile: String? = nil
    ) {
        self.server = server
        self.listeners = listeners
        self.tls = tls
        self.certificates = certificates
        self.log = log
        self.admin = admin
        self.routes = routes
        self.portal = portal
        self.polling = polling
        self.sourceFile = sourceFile
    }

    /// What Porthole runs with when there is no configuration file: both
    /// wildcard listeners on 443, self-signed certificate, implicit route.
    public static let embeddedDefault = PortholeConfiguration()

    /// The embedded default with another state directory (e.g. from the
    /// command line), which is where the self-signed certificate lives.
    public static func embeddedDefault(stateDirectory: String) -> PortholeConfiguration {
        var configuration = PortholeConfiguration()
        configuration.server.stateDirectory = stateDirectory
        return configuration
    }

    /// True when no `[[certificate]]` is configured, so the TLS layer must
    /// use (and on first run generate) the self-signed one in the state dir.
    public var usesSelfSignedCertificate: Bool { certificates.isEmpty }

    public var defaultCertificate: Certificate? { certificates.first }

    public func certificate(named name: String) -> Certificate? {
        certificates.first { $0.name == name }
    }

    public func listener(named name: String) -> Listener? {
        listeners.first { $0.name == name }
    }

    /// The routes ready for matching; the implicit default applies only when
    /// no route is configured.
    public var routeTable: RouteTable {
        RouteTable(routes: routes, implicitDefault: .implicitDefault(alpn: tls.alpn))
    }
}

// MARK: - [server]

extension PortholeConfiguration {
    public struct Server: Sendable, Equatable {
        public static let defaultStateDirectory = "/var/lib/porthole"

        /// Where the self-signed certificate is generated on first run.
        public var stateDirectory: String
        /// After SIGTERM, how long open connections get to finish.
        public var gracePeriod: Duration
        /// Stage-1 deadline for the first bytes / ClientHello; cleared once
        /// the connection is routed.
        public var sniffTimeout: Duration
        /// Bound on the buffered ClientHello, so a slow or hostile client
        /// cannot make the sniffer hold unbounded memory.
        public var sniffMaxBytes: Int
        public var plainHTTP: PlainHTTPPolicy
        /// Port written into redirects; nil means the default https port.
        public var httpsPort: UInt16?
        public var onSniffTimeout: SniffTimeoutAction
        public var maxConnections: Int

        public init(
            stateDirectory: String = Server.defaultStateDirectory,
            gracePeriod: Duration = .seconds(30),
            sniffTimeout: Duration = .seconds(5),
            sniffMaxBytes: Int = 16_384,
            plainHTTP: PlainHTTPPolicy = .redirect,
            httpsPort: UInt16? = nil,
            onSniffTimeout: SniffTimeoutAction = .close,
            maxConnections: Int = 100_000
        ) {
            self.stateDirectory = stateDirectory
            self.gracePeriod = gracePeriod
            self.sniffTimeout = sniffTimeout
            self.sniffMaxBytes = sniffMaxBytes
            self.plainHTTP = plainHTTP
            self.httpsPort = httpsPort
            self.onSniffTimeout = onSniffTimeout
            self.maxConnections = maxConnections
        }
    }

    /// What to do with plain HTTP arriving on the TLS port.
    public enum PlainHTTPPolicy: String, Sendable, Hashable, CaseIterable {
        /// 308 to the https:// URL (keeps the method, unlike 301/302).
        case redirect
        /// A 400 page explaining that this port speaks TLS.
        case reject
    }

    /// What happens to a connection that sends no decidable first bytes in time.
    public enum SniffTimeoutAction: Sendable, Hashable, CustomStringConvertible {
        case close
        /// Hand it to the named route, e.g. a server-speaks-first service.
        case route(String)

        public var description: String {
            switch self {
            case .close: return "close"
            case .route(let name): return "route \"\(name)\""
            }
        }
    }
}

// MARK: - listeners

extension PortholeConfiguration {
    public struct Listener: Sendable, Equatable {
        public var name: String
        public var address: IPAddress
        public var port: UInt16
        public var proxyProtocol: ProxyProtocolPolicy
        /// PROXY headers are believed only from these peers; from anyone
        /// else they would let a client forge its source address.
        public var proxyTrusted: [CIDR]
        public var mode: ListenerMode

        public init(
            name: String,
            address: IPAddress,
            port: UInt16,
            proxyProtocol: ProxyProtocolPolicy = .off,
            proxyTrusted: [CIDR] = [],
            mode: ListenerMode = .shared
        ) {
            self.name = name
            self.address = address
            self.port = port
            self.proxyProtocol = proxyProtocol
            self.proxyTrusted = proxyTrusted
            self.mode = mode
        }

        public var endpoint: HostPort { HostPort(address: address, port: port) }

        /// The names shorthand `listen` entries get, in order: "listen-1", …
        public static func shorthandName(index: Int) -> String { "listen-\(index + 1)" }

        /// "0.0.0.0:443" and "[::]:443": IPv4 and IPv6 wildcards as separate
        /// sockets, so the IPv6 one can be v6-only and both families work
        /// regardless of the host's bindv6only setting.
        public static let defaultListeners: [Listener] = [
            Listener(name: shorthandName(index: 0), address: .v4(IPv4Address(0)), port: 443),
            Listener(name: shorthandName(index: 1), address: .v6(IPv6Address(high: 0, low: 0)), port: 443),
        ]
    }

    public enum ProxyProtocolPolicy: String, Sendable, Hashable, CaseIterable {
        case off
        /// Accept a PROXY v1/v2 header from trusted peers, plain connections too.
        case optional
        /// Trusted peers must send a PROXY header; others are refused.
        case required
    }

    public enum ListenerMode: String, Sendable, Hashable, CaseIterable {
        /// Sniff the first bytes and apply the route table.
        case shared
        /// A dedicated polling port (like Octopus' 10943): terminate TLS and
        /// speak the polling protocol without sniffing or routes.
        case polling
    }
}

// MARK: - [tls]

extension PortholeConfiguration {
    public struct TLS: Sendable, Equatable {
        /// Mozilla "intermediate" TLS 1.2 suites (forward secret AEAD only),
        /// plus ECDHE-RSA-AES256-GCM-SHA384, which Mono-based agents need.
        public static let defaultCiphers = [
            "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
            "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
            "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
        ].joined(separator: ":")
        public static let defaultCiphersuites = [
            "TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256",
        ].joined(separator: ":")

        public var minVersion: TLSVersion
        /// TLS 1.0/1.1 are refused unless this is set, so an old agent fleet
        /// is a deliberate choice rather than a typo.
        public var legacyVersions: Bool
        /// OpenSSL cipher list for TLS 1.2 and below.
        public var ciphers: String
        /// OpenSSL TLS 1.3 ciphersuites.
        public var ciphersuites: String
        public var groups: [String]
        /// Offered by terminate routes that do not set their own.
        public var alpn: [String]
        public var sessionTickets: Bool
        public var handshakeTimeout: Duration

        public init(
            minVersion: TLSVersion = .v1_2,
            legacyVersions: Bool = false,
            ciphers: String = TLS.defaultCiphers,
            ciphersuites: String = TLS.defaultCiphersuites,
            groups: [String] = ["X25519", "P-256"],
            alpn: [String] = ["h2", "http/1.1"],
            sessionTickets: Bool = true,
            handshakeTimeout: Duration = .seconds(10)
        ) {
            self.minVersion = minVersion
            self.legacyVersions = legacyVersions
            self.ciphers = ciphers
            self.ciphersuites = ciphersuites
            self.groups = groups
            self.alpn = alpn
            self.sessionTickets = sessionTickets
            self.handshakeTimeout = handshakeTimeout
        }
    }

    public enum TLSVersion: String, Sendable, Hashable, CaseIterable, Comparable {
        case v1_0 = "1.0"
        case v1_1 = "1.1"
        case v1_2 = "1.2"
        case v1_3 = "1.3"

        /// Versions deprecated by RFC 8996.
        public var isLegacy: Bool { self < .v1_2 }

        public static func < (lhs: TLSVersion, rhs: TLSVersion) -> Bool {
            allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
        }
    }
}

// MARK: - [[certificate]]

extension PortholeConfiguration {
    public struct Certificate: Sendable, Equatable {
        public enum Source: Sendable, Hashable {
            /// PEM chain (leaf first) and PEM private key.
            case pem(certificateFile: String, keyFile: String)
            /// PKCS#12 bundle and the file holding its password.
            case pkcs12(file: String, passwordFile: String)
        }

        public var name: String
        public var source: Source
        /// Which SNI values select this certificate; empty means it is only
        /// used as the default or when a route names it.
        public var serverNames: [ServerNamePattern]

        public init(name: String, source: Source, serverNames: [ServerNamePattern] = []) {
            self.name = name
            self.source = source
            self.serverNames = serverNames
        }
    }
}

// MARK: - [log], [admin]

extension PortholeConfiguration {
    public struct Log: Sendable, Equatable {
        public var level: LogLevel
        public var format: LogFormat
        public var accessLog: Bool

        public init(level: LogLevel = .info, format: LogFormat = .text, accessLog: Bool = true) {
            self.level = level
            self.format = format
            self.accessLog = accessLog
        }
    }

    /// swift-log's levels, spelled as in its `Logger.Level`.
    public enum LogLevel: String, Sendable, Hashable, CaseIterable {
        case trace, debug, info, notice, warning, error, critical
    }

    public enum LogFormat: String, Sendable, Hashable, CaseIterable {
        case text, json
    }

    public struct Admin: Sendable, Equatable {
        public var endpoint: AdminEndpoint
        /// File holding the bearer token; read by the admin server, not here.
        public var tokenFile: String?

        public init(endpoint: AdminEndpoint = .tcp(HostPort(address: .v4(IPv4Address(127, 0, 0, 1)), port: 9090)),
                    tokenFile: String? = nil) {
            self.endpoint = endpoint
            self.tokenFile = tokenFile
        }
    }

    public enum AdminEndpoint: Sendable, Hashable, CustomStringConvertible {
        case disabled
        /// Always an IP literal, so "is it loopback?" has a definite answer.
        case tcp(HostPort)
        case unix(path: String)

        public var description: String {
            switch self {
            case .disabled: return "disabled"
            case .tcp(let endpoint): return endpoint.description
            case .unix(let path): return "unix:\(path)"
            }
        }

        /// Reachable only from this host: loopback TCP or a Unix socket.
        public var isLocalOnly: Bool {
            switch self {
            case .disabled, .unix: return true
            case .tcp(let endpoint):
                if case .address(let address) = endpoint.host { return address.isLoopback }
                return false
            }
        }
    }
}

// MARK: - [portal]

extension PortholeConfiguration {
    public struct Portal: Sendable, Equatable {
        public var upstream: PortalUpstream
        public var statusPath: String
        public var connectTimeout: Duration
        public var responseTimeout: Duration
        public var idleTimeout: Duration
        public var maxBody: Int
        public var maxHeaderBytes: Int
        public var maxConcurrentStreams: Int

        public init(
            upstream: PortalUpstream = .statusPage,
            statusPath: String = "/porthole/status",
            connectTimeout: Duration = .seconds(5),
            responseTimeout: Duration = .seconds(60),
            idleTimeout: Duration = .seconds(120),
            maxBody: Int = 100 << 20,
            maxHeaderBytes: Int = 65_536,
            maxConcurrentStreams: Int = 100
        ) {
            self.upstream = upstream
            self.statusPath = statusPath
            self.connectTimeout = connectTimeout
            self.responseTimeout = responseTimeout
            self.idleTimeout = idleTimeout
            self.maxBody = maxBody
            self.maxHeaderBytes = maxHeaderBytes
            self.maxConcurrentStreams = maxConcurrentStreams
        }
    }

    public enum PortalUpstream: Sendable, Hashable, CustomStringConvertible {
        /// No upstream: serve the built-in status page.
        case statusPage
        /// Plain HTTP/1.1 to host:port (the portal is on a trusted network;
        /// agents' TLS is never re-encrypted, see DESIGN "no SSL offloading").
        case http(HostPort)
        case unix(path: String)

        public var description: String {
            switch self {
            case .statusPage: return "built-in status page"
            case .http(let endpoint): return "http://\(endpoint)"
            case .unix(let path): return "unix:\(path)"
            }
        }
    }
}

// MARK: - [polling]

extension PortholeConfiguration {
    public struct Polling: Sendable, Equatable {
        public struct Agent: Sendable, Hashable {
            /// Normalised to "poll://<id>/".
            public var subscription: String
            public var thumbprint: CertificateThumbprint

            public init(subscription: String, thumbprint: CertificateThumbprint) {
                self.subscription = subscription
                self.thumbprint = thumbprint
            }
        }

        public struct HeaderField: Sendable, Hashable {
            public var name: String
            public var value: String

            public init(name: String, value: String) {
                self.name = name
                self.value = value
            }
        }

        public static let defaultFriendlyHTML = "<html><body><p>Hello!</p></body></html>"

        public var commsPath: String
        public var trustedThumbprints: [CertificateThumbprint]
        /// One thumbprint per line; read by the polling module, not here.
        public var trustFile: String?
        public var keepaliveInterval: Duration
        public var collectionTimeout: Duration
        public var responseTimeout: Duration
        public var nextTimeout: Duration
        public var maxMessageSize: Int
        public var maxConnectionsPerSubscription: Int
        /// What a browser or an unknown client sees on a terminated connection
        /// that is neither portal nor agent traffic.
        public var friendlyHTML: String
        public var friendlyHeaders: [HeaderField]
        public var agents: [Agent]

        public init(
            commsPath: String = "/OctopusComms",
            trustedThumbprints: [CertificateThumbprint] = [],
            trustFile: String? = nil,
            keepaliveInterval: Duration = .seconds(30),
            collectionTimeout: Duration = .seconds(120),
            responseTimeout: Duration = .seconds(600),
            nextTimeout: Duration = .seconds(60),
            maxMessageSize: Int = 64 << 20,
            maxConnectionsPerSubscription: Int = 16,
            friendlyHTML: String = Polling.defaultFriendlyHTML,
            friendlyHeaders: [HeaderField] = [],
            agents: [Agent] = []
        ) {
            self.commsPath = commsPath
            self.trustedThumbprints = trustedThumbprints
            self.trustFile = trustFile
            self.keepaliveInterval = keepaliveInterval
            self.collectionTimeout = collectionTimeout
            self.responseTimeout = responseTimeout
            self.nextTimeout = nextTimeout
            self.maxMessageSize = maxMessageSize
            self.maxConnectionsPerSubscription = maxConnectionsPerSubscription
            self.friendlyHTML = friendlyHTML
            self.friendlyHeaders = friendlyHeaders
            self.agents = agents
        }
    }
}
