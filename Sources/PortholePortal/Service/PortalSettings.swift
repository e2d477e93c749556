import NIOCore

/// The portal's configuration in the form it runs with (built from
/// `[portal]` and `[log]` by the gateway).
public struct PortalSettings: Sendable {
    /// Where the portal listens in plain HTTP/1.1; nil serves only the
    /// built-in status page.
    public enum Upstream: Sendable, Equatable {
        case tcp(host: String, port: Int)
        case unix(path: String)
    }

    public var upstream: Upstream?
    /// Where the status page is served even when an upstream is set; with no
    /// upstream it is also served at "/".
    public var statusPath: String
    public var connectTimeout: TimeAmount
    /// From the request's end until the response head arrives.
    public var responseTimeout: TimeAmount
    /// How long a pooled upstream connection may sit unused.
    public var idleTimeout: TimeAmount
    public var maxBody: Int
    public var maxHeaderBytes: Int
    public var maxConcurrentStreams: Int
    public var accessLog: Bool
    /// Pooled keep-alive connections kept per event loop.
    public var maxIdleConnectionsPerLoop: Int
    /// A browser (no Upgrade) on the agents' comms path gets Halibut's
    /// friendly page, upstream or not.
    public var friendly: FriendlyPageRoute?

    public init(upstream: Upstream?, statusPath: String = "/porthole/status", connectTimeout: TimeAmount = .seconds(5),
                responseTimeout: TimeAmount = .seconds(60), idleTimeout: TimeAmount = .seconds(120), maxBody: Int = 100 << 20,
                maxHeaderBytes: Int = 65_536, maxConcurrentStreams: Int = 100, accessLog: Bool = true,
                maxIdleConnectionsPerLoop: Int = 64, friendly: FriendlyPageRoute? = nil) {
        self.upstream = upstream
        self.statusPath = statusPath
        self.connectTimeout = connectTimeout
        self.responseTimeout = responseTimeout
        self.idleTimeout = idleTimeout
        self.maxBody = maxBody
        self.maxHeaderBytes = maxHeaderBytes
        self.maxConcurrentStreams = maxConcurrentStreams
        self.accessLog = accessLog
        self.maxIdleConnectionsPerLoop = maxIdleConnectionsPerLoop
        self.friendly = friendly
    }
}

/// What the portal knows about one client connection.
public struct PortalConnection: Sendable {
    /// "203.0.113.7:51234" or "[2001:db8::1]:51234", PROXY-corrected.
    public var clientAddress: String
    /// TLS SNI, when the client sent one (421 checks use it).
    public var serverName: String?

    public init(clientAddress: String, serverName: String?) {
        self.clientAddress = clientAddress
        self.serverName = serverName
    }
}
