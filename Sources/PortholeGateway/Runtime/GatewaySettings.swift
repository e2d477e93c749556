import NIOCore
import PortholeConfig
@_exported import PortholePolling
import PortholePortal
import PortholeTLS
import PortholeWire

/// The configuration in the form the running gateway uses: addresses
/// resolved, certificates loaded, the TLS context and route table built.
/// Made once at start-up by `GatewaySettings.make(from:)`; immutable after.
public struct GatewaySettings: Sendable {
    public struct Listener: Sendable {
        public var name: String
        public var address: SocketAddress
        public var proxyProtocol: ProxyProtocolMode
        public var proxyTrusted: [CIDR]
        public var dedicatedPolling: Bool
    }
    public enum ProxyProtocolMode: String, Sendable { case off, optional, required }
    public enum PlainHTTPAnswer: Sendable { case redirect(httpsPort: Int?), reject }

    public var listeners: [Listener]
    public var adminAddress: SocketAddress?
    public var adminToken: String?
    public var tlsContext: TLSServerContext
    public var certificates: [TLSCertificateEntry]
    public var routeTable: RouteTable
    /// Per route name: how to terminate or where to pass through.
    public var routeActions: [String: RouteAction]
    public var sniffTimeout: TimeAmount
    public var sniffMaxBytes: Int
    /// `[server].on_sniff_timeout`: the route that takes connections still
    /// undecided at the sniff deadline; nil closes them.
    public var sniffTimeoutRoute: String?
    /// How long a terminated connection may stay silent before its first
    /// request (stage 2). Longer than the stage-1 deadline: browsers open
    /// connections ahead of need, and the TLS handshake already cost the
    /// client something. From `[portal] idle_timeout`.
    public var firstRequestTimeout: TimeAmount
    public var handshakeTimeout: TimeAmount
    public var plainHTTP: PlainHTTPAnswer
    public var gracePeriod: TimeAmount
    public var maxConnections: Int
    public var commsPath: String
    public var friendlyPage: FriendlyPage
    public var statusPath: String
    /// The polling endpoint's settings (`[polling]`).
    public var polling: PollingSettings
    /// The web portal: upstream, limits, timeouts, access log.
    public var portal: PortalSettings
}

/// What a matched route does with the connection.
public enum RouteAction: Sendable {
    case passthrough(upstream: HostPort, connectTimeout: TimeAmount, sendProxyHeader: Bool)
    case terminate(TLSConnectionPolicy)

    var name: String {
        switch self {
        case .passthrough: return "passthrough"
        case .terminate: return "terminate"
        }
    }
}
