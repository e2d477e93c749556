import Foundation
import NIOCore
import NIOHTTP1
import PortholePortal

/// The admin listener (loopback by default): `/healthz`, `/metrics`
/// (Prometheus text format), `/status` (+ `.json`). Later layers (the
/// dispatch API) register more routes through `AdminRoutes`.
final class AdminHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let routes: AdminRoutes
    private var head: HTTPRequestHead?
    private var body: ByteBuffer?

    init(routes: AdminRoutes) {
        self.routes = routes
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            self.body = nil
        case .body(var chunk):
            // Admin requests are small JSON documents; refuse huge bodies
            // instead of buffering them.
            if (body?.readableBytes ?? 0) + chunk.readableBytes > routes.maxBodyBytes {
                let response = SimpleHTTPResponse.page(status: .payloadTooLarge, title: "Payload too large",
                                                       message: "Admin request bodies are limited to \(routes.maxBodyBytes) bytes.")
                response.write(to: context, version: .http1_1, keepAlive: false, headOnly: false, wrap: wrapOutboundOut)
                head = nil
                return
            }
            if body == nil { body = chunk } else { body!.writeBuffer(&chunk) }
        case .end:
            guard let head else { return }
            self.head = nil
            let request = AdminRequest(head: head, body: body)
            body = nil
            let keepAlive = head.isKeepAlive
            let version = head.version
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            routes.handle(request, on: context.eventLoop).whenSuccess { response in
                let (handler, context) = loopBound.value
                response.write(to: context, version: version, keepAlive: keepAlive, headOnly: request.head.method == .HEAD,
                               wrap: handler.wrapOutboundOut)
            }
        }
    }
}

struct AdminRequest: Sendable {
    var head: HTTPRequestHead
    var body: ByteBuffer?
    var path: String { StatusPageAnswer.split(head.uri).path }
    var query: String { StatusPageAnswer.split(head.uri).query }
}

/// Route table of the admin API. Handlers answer asynchronously (a dispatch
/// call waits for an agent), on the connection's event loop.
final class AdminRoutes: Sendable {
    typealias Handler = @Sendable (AdminRequest, EventLoop) -> EventLoopFuture<SimpleHTTPResponse>
    let maxBodyBytes = 16 * 1024 * 1024
    private let token: String?
    private let metrics: GatewayMetrics
    private let snapshot: @Sendable () -> StatusSnapshot
    private let extra: [(prefix: String, handler: Handler)]

    init(token: String?, metrics: GatewayMetrics, snapshot: @escaping @Sendable () -> StatusSnapshot,
         extra: [(prefix: String, handler: Handler)] = []) {
        self.token = token
        self.metrics = metrics
        self.snapshot = snapshot
        self.extra = extra
    }

    func handle(_ request: AdminRequest, on eventLoop: EventLoop) -> EventLoopFuture<SimpleHTTPResponse> {
        let path = request.path
        if path == "/healthz" {
            return eventLoop.makeSucceededFuture(SimpleHTTPResponse(status: .ok, contentType: "text/plain", body: "ok\n"))
        }
        if let token, request.head.headers.first(name: "authorization") != "Bearer \(token)" {
            return eventLoop.makeSucceededFuture(.problem(status: .unauthorized, title: "Missing or wrong bearer token",
                                                          detail: "Send 'Authorization: Bearer <token>' with the token from [admin].token_file.",
                                                          extraHeaders: [("WWW-Authenticate", "Bearer")]))
        }
        switch path {
        case "/metrics":
            return eventLoop.makeSucceededFuture(SimpleHTTPResponse(status: .ok, contentType: "text/plain; version=0.0.4",
                                                                    body: metrics.exposition()))
        case "/", "/status":
            return eventLoop.makeSucceededFuture(SimpleHTTPResponse(status: .ok, contentType: "text/html; charset=utf-8",
                                                                    body: snapshot().html()))
        case "/status.json":
            return eventLoop.makeSucceededFuture(SimpleHTTPResponse(status: .ok, contentType: "application/json",
                                                                    body: snapshot().json()))
        default:
            if let route = extra.first(where: { path.hasPrefix($0.prefix) }) {
                return route.handler(request, eventLoop)
            }
            return eventLoop.makeSucceededFuture(.problem(status: .notFound, title: "Not found",
                                                          detail: "No admin endpoint at \(path)."))
        }
    }
}

extension SimpleHTTPResponse {
    /// RFC 9457 problem details, the error format of the admin API.
    static func problem(status: HTTPResponseStatus, title: String, detail: String,
                        extraHeaders: [(String, String)] = []) -> SimpleHTTPResponse {
        let quote = JSONText.quote
        let body = "{\"type\":\"about:blank\",\"title\":\(quote(title)),\"status\":\(status.code),\"detail\":\(quote(detail))}\n"
        return SimpleHTTPResponse(status: status, contentType: "application/problem+json", body: body, extraHeaders: extraHeaders)
    }
}
