import NIOCore
import NIOHTTP1
import PortholeSplice

/// The portal on one HTTP/1.1 client connection, after NIOHTTP1's server
/// pipeline (which gives keep-alive, pipelining and chunked decoding; it
/// holds the next pipelined request until this one's response has ended).
/// Each request is answered locally (status page, error page) or proxied by
/// a `ProxyExchange`; an upgrade the upstream accepts turns the connection
/// into a byte splice.
final class HTTP1PortalHandler: ChannelDuplexHandler, RemovableChannelHandler, ProxyDownstream {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    struct HTTPHandlers {
        var encoder: HTTPResponseEncoder
        var decoder: ByteToMessageHandler<HTTPRequestDecoder>
        var pipelining: HTTPServerPipelineHandler
        var errors: HTTPServerProtocolErrorHandler
    }

    private enum State {
        case idle
        /// Answered locally once the request has been read.
        case answeringAtEnd(SimpleHTTPResponse, HTTPRequestHead, AccessRecord)
        /// Answered locally; the rest of the request body is read and dropped.
        case discarding(keepAlive: Bool)
        case proxying(ProxyExchange, Request)
        /// Response complete before the request was: drop the rest, then close.
        case draining
        case upgraded
    }

    private struct Request {
        var head: HTTPRequestHead
        var keepAlive: Bool
        var record: AccessRecord
        var requestEnded = false
    }

    var httpHandlers: HTTPHandlers?
    private let service: PortalService
    private let connection: PortalConnection
    private var context: ChannelHandlerContext?
    /// Response head or body parts written but not yet flushed.
    private var responseUnflushed = false
    private var state: State = .idle
    private var readPending = false
    private var quiescing = false
    /// The client sent EOF (half-close): answer what is in progress, then close.
    private var inputClosed = false

    init(service: PortalService, connection: PortalConnection) {
        self.service = service
        self.connection = connection
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    // MARK: Requests

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch (unwrapInboundIn(data), state) {
        case (.head(let head), .idle):
            begin(head, context: context)
        case (.body(let buffer), .proxying(let exchange, _)):
            exchange.requestBody(buffer)
        case (.end(let trailers), .proxying(let exchange, var request)):
            request.requestEnded = true
            state = .proxying(exchange, request)
            exchange.requestEnd(trailers: trailers)
        case (.end, .answeringAtEnd(let response, let head, let record)):
            // Decided now: a shutdown may have begun while the body came in.
            answer(response, head: head, keepAlive: head.isKeepAlive && !quiescing && !inputClosed, record: record, requestEnded: true,
                   context: context)
        case (.end, .discarding(let keepAlive)):
            state = .idle
            if !keepAlive || quiescing { context.close(promise: nil) }
        case (.end, .draining):
            context.close(promise: nil)
        default:
            break
        }
    }

    private func begin(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        let record = AccessRecord(client: connection.clientAddress, protocolName: "h1")
        let authority = head.headers.first(name: "host") ?? connection.serverName ?? ""
        record.method = head.method.rawValue
        record.authority = authority
        record.path = head.uri
        let keepAlive = head.isKeepAlive && !quiescing
        let fields = head.headers.map { (name: $0.name, value: $0.value) }
        let contentLength = head.headers.first(name: "content-length").flatMap { Int($0) }
        let decision = service.decide(path: head.uri, authority: authority, headerBytes: ProxyHeaders.size(of: fields),
                                      contentLength: contentLength, connection: connection)
        switch decision {
        case .statusPage:
            state = .answeringAtEnd(service.statusPage(method: head.method.rawValue, uri: head.uri,
                                                       accept: head.headers.first(name: "accept")), head, record)
        case .reject(let page):
            // A body we refuse to read would be taken for the next request.
            let mayHaveBody = contentLength.map { $0 > 0 } ?? head.headers.contains(name: "transfer-encoding")
            answer(page, head: head, keepAlive: keepAlive && !mayHaveBody, record: record, context: context)
        case .proxy(let pool):
            let upgrade = ProxyHeaders.isUpgradeRequest(fields)
            // We answer 100-continue ourselves (RFC 9110 §10.1.1): the head
            // passed our checks and the upstream is about to get the body.
            let expectsContinue = head.headers.first(name: "expect")?.lowercased() == "100-continue"
            var forwarded = fields.filter { $0.name.lowercased() != "expect" }
            forwarded = ProxyHeaders.upstreamRequest(forwarded, authority: authority, clientAddress: connection.clientAddress,
                                                     upgrade: upgrade)
            let chunked = head.headers[canonicalForm: "transfer-encoding"].contains { $0.lowercased() == "chunked" }
            if chunked { forwarded.append(("Transfer-Encoding", "chunked")) }
            var upstreamHead = HTTPRequestHead(version: .http1_1, method: head.method, uri: head.uri)
            upstreamHead.headers = HTTPHeaders(forwarded.map { ($0.name, $0.value) })
            let bodyless = !chunked && (contentLength ?? 0) == 0
            let exchange = ProxyExchange(request: .init(head: upstreamHead, isUpgrade: upgrade, bodyless: bodyless), downstream: self,
                                         service: service, pool: pool, eventLoop: context.eventLoop, record: record)
            state = .proxying(exchange, Request(head: head, keepAlive: keepAlive, record: record))
            if expectsContinue {
                context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .continue))), promise: nil)
            }
            exchange.start()
        }
    }

    private func answer(_ response: SimpleHTTPResponse, head: HTTPRequestHead, keepAlive: Bool, record: AccessRecord,
                        requestEnded: Bool = false, context: ChannelHandlerContext) {
        record.status = Int(response.status.code)
        record.bytesOut = head.method == .HEAD ? 0 : response.body.utf8.count
        service.logAccess(record)
        // Before the write: its `.end` may deliver the next pipelined request.
        state = requestEnded ? .idle : .discarding(keepAlive: keepAlive)
        response.write(to: context, version: head.version, keepAlive: keepAlive, headOnly: head.method == .HEAD, wrap: wrapOutboundOut)
    }

    // MARK: Backpressure and lifecycle

    func read(context: ChannelHandlerContext) {
        if case .proxying(let exchange, _) = state, !exchange.acceptsRequestBody {
            readPending = true
            return
        }
        context.read()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, case .proxying(let exchange, _) = state { exchange.downstreamWritable() }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if case .proxying(let exchange, let request) = state {
            exchange.cancel()
            service.logAccess(request.record)
        }
        state = .idle
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            quiescing = true
            if case .idle = state { context.close(promise: nil) }
            return
        }
        if let event = event as? ChannelEvent, event == .inputClosed {
            // No further request can come; one in progress is still answered.
            inputClosed = true
            switch state {
            case .idle, .discarding, .draining: context.close(promise: nil)
            case .answeringAtEnd, .proxying, .upgraded: break
            }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    // MARK: ProxyDownstream

    func sendResponseHead(status: HTTPResponseStatus, headers: ProxyHeaders.Fields) {
        guard let context, case .proxying(_, let request) = state else { return }
        var head = HTTPResponseHead(version: request.head.version, status: status, headers: HTTPHeaders(headers.map { ($0.name, $0.value) }))
        if !request.keepAlive || quiescing { head.headers.replaceOrAdd(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        responseUnflushed = true
    }

    func sendResponseBody(_ buffer: ByteBuffer) {
        guard let context, case .proxying = state else { return }
        context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        responseUnflushed = true
    }

    func flushResponse() {
        guard responseUnflushed, let context else { return }
        responseUnflushed = false
        context.flush()
    }

    func sendResponseEnd(trailers: ProxyHeaders.Fields) {
        guard let context, case .proxying(_, let request) = state else { return }
        service.logAccess(request.record)
        // The next state first: writing `.end` lets NIOHTTP1's pipelining
        // handler deliver the next request at once, inside this call.
        let closeAfter: Bool
        if !request.requestEnded {
            // The upstream answered before the whole request arrived: the
            // rest cannot be told from a next request, so close afterwards.
            state = .draining
            closeAfter = true
        } else {
            state = .idle
            closeAfter = !request.keepAlive || quiescing || inputClosed
        }
        let trailerHeaders = trailers.isEmpty ? nil : HTTPHeaders(trailers.map { ($0.name, $0.value) })
        responseUnflushed = false
        let done = context.writeAndFlush(wrapOutboundOut(.end(trailerHeaders)))
        if closeAfter {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
        resumeReadIfPending()
    }

    func sendErrorPage(_ response: SimpleHTTPResponse) {
        guard let context, case .proxying(_, let request) = state else { return }
        request.record.status = Int(response.status.code)
        request.record.bytesOut = response.body.utf8.count
        service.logAccess(request.record)
        let keepAlive = request.keepAlive && request.requestEnded && !quiescing && !inputClosed
        state = request.requestEnded ? .idle : .draining
        response.write(to: context, version: request.head.version, keepAlive: keepAlive, headOnly: request.head.method == .HEAD,
                       wrap: wrapOutboundOut)
        resumeReadIfPending()
    }

    func abortResponse() {
        guard let context, case .proxying(_, let request) = state else { return }
        service.logAccess(request.record)
        state = .idle
        context.close(promise: nil)
    }

    var acceptsMoreResponseBody: Bool { context?.channel.isWritable ?? false }

    func requestBodyDelivered(bytes: Int) {}

    func resumeRequestBody() {
        resumeReadIfPending()
    }

    func upgrade(head: HTTPResponseHead, lease: UpstreamPool.Lease) {
        guard let context, case .proxying(_, let request) = state, let httpHandlers else { return }
        state = .upgraded
        request.record.status = 101
        service.logAccess(request.record)
        var responseHead = head
        responseHead.headers = HTTPHeaders(head.headers.map { ($0.name, $0.value) })
        context.writeAndFlush(wrapOutboundOut(.head(responseHead)), promise: nil)
        // Swap both pipelines to a byte splice on the next tick: we are
        // inside the upstream handler's read.
        let clientPipeline = context.pipeline
        let clientChannel = context.channel
        context.eventLoop.assumeIsolated().execute { [self] in
            do {
                let client = clientPipeline.syncOperations
                let upstream = lease.channel.pipeline.syncOperations
                let clientSplice = SpliceHandler()
                let upstreamSplice = SpliceHandler()
                SpliceHandler.pair(clientSplice, upstreamSplice)
                // Handlers without pending work leave synchronously, so
                // these run in order.
                upstream.removeHandler(lease.handler, promise: nil)
                try upstream.addHandler(upstreamSplice)
                upstream.removeHandler(try upstream.handler(type: HTTPRequestEncoder.self), promise: nil)
                client.removeHandler(self, promise: nil)
                client.removeHandler(httpHandlers.errors, promise: nil)
                client.removeHandler(httpHandlers.pipelining, promise: nil)
                try client.addHandler(clientSplice)
                client.removeHandler(httpHandlers.encoder, promise: nil)
                // Last: the decoders hand over bytes that came after the heads.
                client.removeHandler(httpHandlers.decoder, promise: nil)
                upstream.removeHandler(try upstream.handler(type: ByteToMessageHandler<HTTPResponseDecoder>.self), promise: nil)
                // Reads held for backpressure belonged to the removed handlers.
                lease.channel.read()
                clientChannel.read()
            } catch {
                service.logger.warning("portal: WebSocket splice failed", metadata: ["error": "\(error)"])
                lease.channel.close(promise: nil)
                clientChannel.close(promise: nil)
            }
        }
    }

    // MARK: Helpers

    private func resumeReadIfPending() {
        guard readPending, let context else { return }
        readPending = false
        context.read()
    }
}

@available(*, unavailable)
extension HTTP1PortalHandler: Sendable {}
