import Logging
import NIOCore
import NIOHTTP1

/// The client side of one proxied request, as the exchange sees it: an
/// HTTP/1.1 connection or one HTTP/2 stream.
protocol ProxyDownstream: AnyObject {
    func sendResponseHead(status: HTTPResponseStatus, headers: ProxyHeaders.Fields)
    func sendResponseBody(_ buffer: ByteBuffer)
    func sendResponseEnd(trailers: ProxyHeaders.Fields)
    /// The upstream's read batch is over: send what head and body parts
    /// were written since the last flush (one TLS record and one write for
    /// a small response instead of one per part).
    func flushResponse()
    /// A whole error page, only before any response head was sent.
    func sendErrorPage(_ response: SimpleHTTPResponse)
    /// After the head: the response cannot complete; cut it visibly
    /// (HTTP/1.1: close, HTTP/2: RST_STREAM).
    func abortResponse()
    var acceptsMoreResponseBody: Bool { get }
    /// Request body bytes reached the upstream socket (HTTP/2 reopens its
    /// flow-control window by that much).
    func requestBodyDelivered(bytes: Int)
    /// The upstream can take request body again (HTTP/1.1 reads again).
    func resumeRequestBody()
    /// The upstream answered 101 to an upgrade: take over its connection.
    func upgrade(head: HTTPResponseHead, lease: UpstreamPool.Lease)
}

/// One request proxied to the upstream over a pooled HTTP/1.1 connection,
/// both bodies streamed. Lives on the client connection's event loop, as
/// does its upstream connection, so it needs no locks.
///
/// Backpressure: request body is written as it arrives and acknowledged to
/// the client side (`requestBodyDelivered`) only once written; response body
/// is read from the upstream only while the client side accepts more.
final class ProxyExchange: UpstreamResponseSink {
    struct Request {
        var head: HTTPRequestHead
        var isUpgrade: Bool
        /// No body follows the head.
        var bodyless: Bool
    }

    private enum State {
        /// Waiting for a pooled or new upstream connection; request parts
        /// queue (the client side stops reading while this lasts).
        case connecting
        /// Request going out; no response head yet.
        case awaitingResponse(UpstreamPool.Lease)
        case streamingResponse(UpstreamPool.Lease)
        case upgrading
        case finished
    }

    private let request: Request
    private weak var downstream: ProxyDownstream?
    private let service: PortalService
    private let pool: UpstreamPool
    private let eventLoop: EventLoop
    let record: AccessRecord
    private var state: State = .connecting
    private var queued: [HTTPClientRequestPart] = []
    private var requestEnded = false
    private var requestBodyBytes = 0
    private var responseTimer: Scheduled<Void>?
    private var requestSentAt: ContinuousClock.Instant?
    private var attempts = 0

    init(request: Request, downstream: ProxyDownstream, service: PortalService, pool: UpstreamPool, eventLoop: EventLoop,
         record: AccessRecord) {
        self.request = request
        self.downstream = downstream
        self.service = service
        self.pool = pool
        self.eventLoop = eventLoop
        self.record = record
    }

    func start() {
        attempts += 1
        pool.acquire(on: eventLoop, for: self) { [self] result in
            guard case .connecting = state else {
                // Cancelled meanwhile: the connection is still clean, unless it failed.
                if case .success(let lease) = result { pool.release(lease) }
                return
            }
            switch result {
            case .success(let lease): connected(lease)
            case .failure(let error):
                service.logger.warning("portal upstream unreachable", metadata: ["upstream": "\(service.upstreamDescription)",
                                                                               "error": "\(error)"])
                service.count("porthole_portal_upstream_errors_total", "connect")
                fail(page: .page(status: .badGateway, title: "Portal not reachable",
                                 message: "Porthole could not connect to the portal (\(service.upstreamDescription)). It may be stopped or starting; try again in a moment."))
            }
        }
    }

    // MARK: From the client side

    /// True while the upstream can take request body now.
    var acceptsRequestBody: Bool {
        switch state {
        case .awaitingResponse(let lease), .streamingResponse(let lease): return lease.channel.isWritable
        case .connecting: return queued.count < 2
        case .upgrading, .finished: return true
        }
    }

    func requestBody(_ buffer: ByteBuffer) {
        requestBodyBytes += buffer.readableBytes
        record.bytesIn += buffer.readableBytes
        if requestBodyBytes > service.settings.maxBody {
            service.count("porthole_portal_rejected_total", "413")
            fail(page: Self.tooLarge(service.settings.maxBody))
            return
        }
        send(.body(.byteBuffer(buffer)), deliveredBytes: buffer.readableBytes)
    }

    func requestEnd(trailers: HTTPHeaders?) {
        requestEnded = true
        send(.end(trailers), deliveredBytes: 0)
    }

    /// The client is gone (closed, or reset the stream).
    func cancel() {
        switch state {
        case .awaitingResponse(let lease), .streamingResponse(let lease):
            // Mid-exchange: the connection is in an unknown state.
            discard(lease)
        case .connecting, .upgrading, .finished:
            break
        }
        if case .finished = state { return }
        if record.status == 0 { record.status = 499 }
        finish()
    }

    /// The client can take more response body again.
    func downstreamWritable() {
        if case .streamingResponse(let lease) = state { lease.handler.resumeReading() }
    }

    // MARK: UpstreamResponseSink

    var wantsMoreResponse: Bool { downstream?.acceptsMoreResponseBody ?? true }

    func upstreamWritabilityChanged(isWritable: Bool) {
        if isWritable { downstream?.resumeRequestBody() }
    }

    func upstreamReadComplete() {
        downstream?.flushResponse()
    }

    func upstreamResponse(_ part: HTTPClientResponsePart) {
        switch (part, state) {
        case (.head(let head), .awaitingResponse(let lease)):
            // 1xx other than 101 are interim (RFC 9110 §15.2); the client
            // side already had its 100 Continue from us.
            if head.status.code < 200 && head.status != .switchingProtocols { return }
            responseTimer?.cancel()
            if let requestSentAt { record.upstreamDuration = ContinuousClock.now - requestSentAt }
            record.status = Int(head.status.code)
            if head.status == .switchingProtocols {
                guard request.isUpgrade else {
                    discard(lease)
                    fail(page: .page(status: .badGateway, title: "Bad answer from the portal",
                                     message: "The portal switched protocols without being asked to."))
                    return
                }
                state = .upgrading
                downstream?.upgrade(head: head, lease: lease)
                finish()
                return
            }
            state = .streamingResponse(lease)
            let fields = head.headers.map { (name: $0.name, value: $0.value) }
            downstream?.sendResponseHead(status: head.status, headers: ProxyHeaders.downstreamResponse(fields))
        case (.body(let buffer), .streamingResponse):
            record.bytesOut += buffer.readableBytes
            downstream?.sendResponseBody(buffer)
        case (.end(let trailers), .streamingResponse(let lease)):
            let fields = trailers.map { $0.map { (name: $0.name, value: $0.value) } } ?? []
            downstream?.sendResponseEnd(trailers: fields)
            // Reusable only if the upstream got the whole request and did
            // not ask to close (RFC 9112 §9.3).
            if requestEnded && !lease.handler.upstreamAskedToClose {
                lease.handler.sink = nil
                state = .finished
                pool.release(lease)
            } else {
                discard(lease)
            }
            finish()
        default:
            break
        }
    }

    func upstreamFailed(_ error: Error?) {
        switch state {
        case .awaitingResponse(let lease):
            // A pooled connection the upstream closed while idle: retry a
            // request that carried no body on a fresh one, once.
            if lease.reused && requestBodyBytes == 0 && attempts < 3 && requestEnded {
                responseTimer?.cancel()
                state = .connecting
                queued = [.head(upstreamHead), .end(nil)]
                start()
                return
            }
            service.count("porthole_portal_upstream_errors_total", "closed")
            fail(page: .page(status: .badGateway, title: "Bad answer from the portal",
                             message: "The portal closed the connection without a complete answer\(error.map { " (\($0))" } ?? "")."))
        case .streamingResponse:
            service.count("porthole_portal_upstream_errors_total", "truncated")
            downstream?.abortResponse()
            finish()
        case .connecting, .upgrading, .finished:
            break
        }
    }

    // MARK: Internals

    private var upstreamHead: HTTPRequestHead { request.head }

    private func connected(_ lease: UpstreamPool.Lease) {
        state = .awaitingResponse(lease)
        let parts = queued.isEmpty ? [.head(upstreamHead)] : queued
        queued = []
        for part in parts {
            var delivered = 0
            if case .body(.byteBuffer(let buffer)) = part { delivered = buffer.readableBytes }
            write(part, lease: lease, deliveredBytes: delivered)
        }
        lease.channel.flush()
        downstream?.resumeRequestBody()
    }

    private func send(_ part: HTTPClientRequestPart, deliveredBytes: Int) {
        switch state {
        case .connecting:
            if queued.isEmpty { queued.append(.head(upstreamHead)) }
            queued.append(part)
        case .awaitingResponse(let lease), .streamingResponse(let lease):
            write(part, lease: lease, deliveredBytes: deliveredBytes)
            lease.channel.flush()
        case .upgrading, .finished:
            // Nobody wants these bytes any more; let the client send on.
            if deliveredBytes > 0 { downstream?.requestBodyDelivered(bytes: deliveredBytes) }
        }
    }

    private func write(_ part: HTTPClientRequestPart, lease: UpstreamPool.Lease, deliveredBytes: Int) {
        guard let context = lease.handler.context else { return }
        let promise = eventLoop.makePromise(of: Void.self)
        context.write(NIOAny(part), promise: promise)
        if deliveredBytes > 0 {
            promise.futureResult.assumeIsolated().whenComplete { [weak self] _ in
                self?.downstream?.requestBodyDelivered(bytes: deliveredBytes)
            }
        }
        if case .end = part {
            requestSentAt = ContinuousClock.now
            let timeout = service.settings.responseTimeout
            responseTimer = eventLoop.assumeIsolated().scheduleTask(in: timeout) { [weak self] in self?.responseTimedOut() }
        }
    }

    private func responseTimedOut() {
        guard case .awaitingResponse(let lease) = state else { return }
        discard(lease)
        service.count("porthole_portal_upstream_errors_total", "timeout")
        fail(page: .page(status: .gatewayTimeout, title: "The portal did not answer in time",
                         message: "The portal took longer than \(service.settings.responseTimeout.nanoseconds / 1_000_000_000) s to answer. Try again; if it keeps happening, the portal may be overloaded."))
    }

    /// Ends the exchange with an error page, or a cut if the response head
    /// already went out.
    private func fail(page: SimpleHTTPResponse) {
        switch state {
        case .awaitingResponse(let lease):
            discard(lease)
        case .streamingResponse(let lease):
            discard(lease)
            downstream?.abortResponse()
            finish()
            return
        case .connecting, .upgrading, .finished:
            break
        }
        if case .finished = state { return }
        record.status = Int(page.status.code)
        state = .finished
        downstream?.sendErrorPage(page)
        finish()
    }

    private func finish() {
        responseTimer?.cancel()
        responseTimer = nil
        if case .upgrading = state {} else { state = .finished }
        queued = []
    }

    /// Closes an upstream connection in an unknown state, detached first so
    /// its close does not come back here as a failure.
    private func discard(_ lease: UpstreamPool.Lease) {
        lease.handler.sink = nil
        lease.channel.close(promise: nil)
    }

    static func tooLarge(_ limit: Int) -> SimpleHTTPResponse {
        .page(status: .payloadTooLarge, title: "Request too large",
              message: "The request body is larger than this portal accepts (\(limit) bytes).")
    }
}

@available(*, unavailable)
extension ProxyExchange: Sendable {}
