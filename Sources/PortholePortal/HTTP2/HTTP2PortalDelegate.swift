import NIOCore
import NIOHTTP1
import PortholeHTTP2
import PortholeWire

/// The portal on one HTTP/2 connection: each stream is answered locally
/// (status page, error page) or proxied to the HTTP/1.1 upstream by a
/// `ProxyExchange` (RFC 9113 §8.3 → RFC 9112 translation in `ProxyHeaders`).
final class HTTP2PortalDelegate: HTTP2StreamDelegate {
    private let service: PortalService
    private let connection: PortalConnection
    private var streams: [Int32: HTTP2StreamDownstream] = [:]

    init(service: PortalService, connection: PortalConnection) {
        self.service = service
        self.connection = connection
    }

    func http2(_ handler: HTTP2ServerHandler, event: HTTP2StreamEvent) {
        switch event {
        case .requestHead(let head, let endStream):
            begin(head, endStream: endStream, handler: handler)
        case .requestHeadTooLarge(let streamID):
            let record = AccessRecord(client: connection.clientAddress, protocolName: "h2")
            let stream = HTTP2StreamDownstream(streamID: streamID, handler: handler, record: record, service: service, headOnly: false)
            streams[streamID] = stream
            if case .reject(let page) = service.decide(path: "", authority: nil, headerBytes: Int.max, contentLength: nil,
                                                       connection: connection) {
                stream.sendErrorPage(page)
            }
        case .requestBody(let streamID, let bytes):
            guard let stream = streams[streamID], let exchange = stream.exchange else {
                handler.consume(streamID: streamID, bytes: bytes.readableBytes)
                return
            }
            exchange.requestBody(bytes)
        case .requestEnd(let streamID, let trailers):
            streams[streamID]?.exchange?.requestEnd(trailers: trailers.isEmpty ? nil : HTTPHeaders(trailers.map { ($0.name, $0.value) }))
        case .streamClosed(let streamID, let errorCode):
            guard let stream = streams.removeValue(forKey: streamID) else { return }
            if errorCode != 0 { stream.exchange?.cancel() }
            stream.closed()
        case .responseDrained(let streamID):
            streams[streamID]?.exchange?.downstreamWritable()
        }
    }

    func http2ConnectionClosed(_ handler: HTTP2ServerHandler) {
        for stream in streams.values {
            stream.exchange?.cancel()
            stream.closed()
        }
        streams = [:]
    }

    private func begin(_ head: HTTP2RequestHead, endStream: Bool, handler: HTTP2ServerHandler) {
        let record = AccessRecord(client: connection.clientAddress, protocolName: "h2")
        // RFC 9113 §8.3.1: :authority, or Host when a client sends that instead.
        let authority = head.authority ?? head.headers.first { $0.name == "host" }?.value ?? connection.serverName ?? ""
        record.method = head.method
        record.authority = authority
        record.path = head.path
        let stream = HTTP2StreamDownstream(streamID: head.streamID, handler: handler, record: record, service: service,
                                           headOnly: head.method == "HEAD")
        streams[head.streamID] = stream
        let contentLength = head.headers.first { $0.name == "content-length" }.flatMap { Int($0.value) }
        let pseudoBytes = head.method.utf8.count + head.path.utf8.count + authority.utf8.count + head.scheme.utf8.count
        let decision = service.decide(path: head.path, authority: authority,
                                      headerBytes: ProxyHeaders.size(of: head.headers) + pseudoBytes,
                                      contentLength: contentLength, connection: connection)
        switch decision {
        case .statusPage:
            let accept = head.headers.first { $0.name == "accept" }?.value
            stream.sendLocal(service.statusPage(method: head.method, uri: head.path, accept: accept))
        case .reject(let page):
            stream.sendErrorPage(page)
        case .proxy(let pool):
            guard head.method != "CONNECT" else {
                stream.sendErrorPage(.page(status: .notImplemented, title: "Not supported",
                                           message: "The portal does not tunnel CONNECT over HTTP/2."))
                return
            }
            var fields = ProxyHeaders.upstreamRequest(head.headers, authority: authority, clientAddress: connection.clientAddress,
                                                      upgrade: false)
            // HTTP/1.1 needs framing HTTP/2 does not (RFC 9112 §6.3).
            if endStream {
                if contentLength == nil && ["POST", "PUT", "PATCH"].contains(head.method) { fields.append(("Content-Length", "0")) }
            } else if contentLength == nil {
                fields.append(("Transfer-Encoding", "chunked"))
            }
            var upstreamHead = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: head.method), uri: head.path)
            upstreamHead.headers = HTTPHeaders(fields.map { ($0.name, $0.value) })
            let exchange = ProxyExchange(request: .init(head: upstreamHead, isUpgrade: false, bodyless: endStream), downstream: stream,
                                         service: service, pool: pool, eventLoop: handler.eventLoop!, record: record)
            stream.exchange = exchange
            exchange.start()
        }
    }
}

@available(*, unavailable)
extension HTTP2PortalDelegate: Sendable {}

/// One HTTP/2 stream as the client side of a proxied (or locally answered)
/// request.
final class HTTP2StreamDownstream: ProxyDownstream {
    let streamID: Int32
    private weak var handler: HTTP2ServerHandler?
    private let record: AccessRecord
    private let service: PortalService
    private let headOnly: Bool
    var exchange: ProxyExchange?
    private var headSent = false
    private var logged = false

    init(streamID: Int32, handler: HTTP2ServerHandler, record: AccessRecord, service: PortalService, headOnly: Bool) {
        self.streamID = streamID
        self.handler = handler
        self.record = record
        self.service = service
        self.headOnly = headOnly
    }

    func sendLocal(_ response: SimpleHTTPResponse) {
        guard let handler, !headSent else { return }
        headSent = true
        record.status = Int(response.status.code)
        let body = Array(response.body.utf8)
        record.bytesOut = headOnly ? 0 : body.count
        let headers: [(name: String, value: String)] = [("content-type", response.contentType), ("server", PortholeVersion.serverHeader),
                                                        ("cache-control", "no-store")]
            + response.extraHeaders.map { (name: $0.0, value: $0.1) }
        handler.send(streamID: streamID, HTTP2Response(status: Int(response.status.code), headers: headers, body: body), headOnly: headOnly)
        log()
    }

    /// Stream ended: log once.
    func closed() {
        exchange = nil
        log()
    }

    private func log() {
        guard !logged else { return }
        logged = true
        service.logAccess(record)
    }

    // MARK: ProxyDownstream

    func sendResponseHead(status: HTTPResponseStatus, headers: ProxyHeaders.Fields) {
        guard let handler else { return }
        headSent = true
        // RFC 9113 §8.2.2: lower-case names, no connection-specific fields.
        let fields = headers.map { (name: $0.name.lowercased(), value: $0.value) }
        handler.sendHead(streamID: streamID, status: Int(status.code), headers: fields, endStream: headOnly)
    }

    func sendResponseBody(_ buffer: ByteBuffer) {
        guard !headOnly else { return }
        handler?.sendBody(streamID: streamID, buffer)
    }

    /// The HTTP/2 handler already writes once per event-loop tick.
    func flushResponse() {}

    func sendResponseEnd(trailers: ProxyHeaders.Fields) {
        guard !headOnly else { return }
        handler?.sendEnd(streamID: streamID, trailers: trailers.map { (name: $0.name.lowercased(), value: $0.value) })
    }

    func sendErrorPage(_ response: SimpleHTTPResponse) {
        sendLocal(response)
    }

    func abortResponse() {
        handler?.reset(streamID: streamID, code: .internalError)
    }

    var acceptsMoreResponseBody: Bool { !(handler?.responseQueueIsFull(streamID: streamID) ?? true) }

    func requestBodyDelivered(bytes: Int) {
        handler?.consume(streamID: streamID, bytes: bytes)
    }

    func resumeRequestBody() {}

    func upgrade(head: HTTPResponseHead, lease: UpstreamPool.Lease) {
        // HTTP/2 requests are never sent as upgrades.
        lease.channel.close(promise: nil)
        abortResponse()
    }
}

@available(*, unavailable)
extension HTTP2StreamDownstream: Sendable {}
