import Logging
import NIOCore
import NIOHTTP1
import PortholeHTTP2

/// The web portal behind the shared port: installs the HTTP/1.1 or HTTP/2
/// server side on a decrypted connection and decides, per request, between
/// the status page, an error page and the reverse proxy.
public final class PortalService: Sendable {
    public let settings: PortalSettings
    let logger: Logger
    let pool: UpstreamPool?
    private let statusPages: StatusPageCache
    private let counter: @Sendable (String, String) -> Void

    /// - Parameters:
    ///   - snapshot: what the status page shows, gathered at most once per
    ///     second (see `StatusPageCache`).
    ///   - count: increments a counter (`name`, `reason` label).
    public init(settings: PortalSettings, logger: Logger, snapshot: @escaping @Sendable () -> StatusSnapshot,
                count: @escaping @Sendable (_ name: String, _ reason: String) -> Void = { _, _ in }) {
        self.settings = settings
        self.logger = logger
        self.statusPages = StatusPageCache(snapshot: snapshot)
        self.counter = count
        self.pool = settings.upstream.map { UpstreamPool(upstream: $0, settings: settings) }
    }

    // MARK: Installing

    /// HTTP/1.1 (keep-alive, pipelining, chunked bodies, 100-continue,
    /// WebSocket upgrades) after `after`, on the connection's event loop.
    public func installHTTP1(into pipeline: ChannelPipeline.SynchronousOperations, after: ChannelHandler,
                             connection: PortalConnection) throws {
        let encoder = HTTPResponseEncoder()
        // forwardBytes: bytes after an upgrade request's head belong to the
        // WebSocket and go on to the splice.
        let decoder = ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .forwardBytes))
        let pipelining = HTTPServerPipelineHandler()
        let errors = HTTPServerProtocolErrorHandler()
        let portal = HTTP1PortalHandler(service: self, connection: connection)
        try pipeline.addHandler(encoder, position: .after(after))
        try pipeline.addHandler(decoder, position: .after(encoder))
        try pipeline.addHandler(pipelining, position: .after(decoder))
        try pipeline.addHandler(errors, position: .after(pipelining))
        try pipeline.addHandler(portal, position: .after(errors))
        portal.httpHandlers = HTTP1PortalHandler.HTTPHandlers(encoder: encoder, decoder: decoder, pipelining: pipelining, errors: errors)
    }

    /// HTTP/2 on nghttp2 after `after`.
    public func installHTTP2(into pipeline: ChannelPipeline.SynchronousOperations, after: ChannelHandler,
                             connection: PortalConnection) throws {
        let delegate = HTTP2PortalDelegate(service: self, connection: connection)
        let handler = try HTTP2ServerHandler(settings: .init(maxConcurrentStreams: UInt32(settings.maxConcurrentStreams),
                                                             maxHeaderListBytes: settings.maxHeaderBytes),
                                             delegate: delegate)
        try pipeline.addHandler(handler, position: .after(after))
    }

    // MARK: Deciding

    enum Decision {
        case statusPage
        case reject(SimpleHTTPResponse)
        case proxy(UpstreamPool)
    }

    /// What to do with a request, from its head alone (RFC 9110 order:
    /// can we read it, is it for us, is it too big, who answers).
    func decide(path: String, authority: String?, headerBytes: Int, contentLength: Int?, connection: PortalConnection) -> Decision {
        if headerBytes > settings.maxHeaderBytes {
            count("porthole_portal_rejected_total", "431")
            return .reject(.page(status: .requestHeaderFieldsTooLarge, title: "Request headers too large",
                                 message: "The request's header fields add up to more than \(settings.maxHeaderBytes) bytes. Clearing this site's cookies usually helps."))
        }
        let (bare, _) = StatusPageAnswer.split(path)
        let isStatusPage = pool == nil || bare == settings.statusPath || bare == settings.statusPath + ".json"
        // The status page is the gateway's own and the same under every
        // name; only the portal's content depends on the name asked for.
        if !isStatusPage && ProxyHeaders.isMisdirected(authority: authority, serverName: connection.serverName) {
            count("porthole_portal_rejected_total", "421")
            return .reject(.page(status: .misdirectedRequest, title: "Misdirected request",
                                 message: "This connection was opened for \(connection.serverName ?? "another name"), not for \(authority ?? "this name"). Your browser will retry on a new connection."))
        }
        if let contentLength, contentLength > settings.maxBody {
            count("porthole_portal_rejected_total", "413")
            return .reject(ProxyExchange.tooLarge(settings.maxBody))
        }
        guard let pool, !isStatusPage else { return .statusPage }
        return .proxy(pool)
    }

    func statusPage(method: String, uri: String, accept: String?) -> SimpleHTTPResponse {
        let paths: Set<String> = pool == nil ? ["/", settings.statusPath] : [settings.statusPath]
        return StatusPageAnswer.response(method: method, uri: uri, accept: accept, paths: paths, friendly: settings.friendly,
                                         page: { statusPages.page($0) })
    }

    func count(_ name: String, _ reason: String) {
        counter(name, reason)
    }

    var upstreamDescription: String {
        switch settings.upstream {
        case .tcp(let host, let port): return "http://\(host.contains(":") ? "[\(host)]" : host):\(port)"
        case .unix(let path): return "unix:\(path)"
        case nil: return "none"
        }
    }

    func logAccess(_ record: AccessRecord) {
        record.write(to: logger, enabled: settings.accessLog)
    }
}
