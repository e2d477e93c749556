import NIOCore
import NIOHTTP1

/// Who receives one upstream response (a `ProxyExchange`).
protocol UpstreamResponseSink: AnyObject {
    func upstreamResponse(_ part: HTTPClientResponsePart)
    /// The connection ended or failed before the response was complete.
    func upstreamFailed(_ error: Error?)
    /// False while the client side cannot take more response body.
    var wantsMoreResponse: Bool { get }
    func upstreamWritabilityChanged(isWritable: Bool)
    /// The end of one batch of reads from the upstream.
    func upstreamReadComplete()
}

/// The last handler on a pooled HTTP/1.1 connection to the portal upstream.
/// Passes response parts to the exchange that owns the connection now and
/// holds `read()` while that exchange's client cannot keep up
/// (backpressure from client to upstream).
final class UpstreamConnectionHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = HTTPClientRequestPart

    weak var sink: UpstreamResponseSink?
    /// The last response said `Connection: close` (or was HTTP/1.0).
    private(set) var upstreamAskedToClose = false
    private(set) var context: ChannelHandlerContext?
    private var readPending = false
    private var switchedProtocols = false
    private var idleTimer: Scheduled<Void>?

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        idleTimer?.cancel()
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if switchedProtocols { return } // the `.end` after a 101; the splice takes over
        if case .head(let head) = part, head.status == .switchingProtocols { switchedProtocols = true }
        guard let sink else {
            // Bytes while parked in the pool: the upstream is not following
            // HTTP/1.1; this connection cannot be reused.
            context.close(promise: nil)
            return
        }
        if case .head(let head) = part { upstreamAskedToClose = !head.isKeepAlive }
        sink.upstreamResponse(part)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        sink?.upstreamReadComplete()
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        idleTimer?.cancel()
        let sink = self.sink
        self.sink = nil
        sink?.upstreamFailed(nil)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        let sink = self.sink
        self.sink = nil
        sink?.upstreamFailed(error)
        context.close(promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        sink?.upstreamWritabilityChanged(isWritable: context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        if let sink, !sink.wantsMoreResponse {
            readPending = true
        } else {
            context.read()
        }
    }

    /// The client drained: read the upstream again.
    func resumeReading() {
        guard readPending, let context else { return }
        readPending = false
        context.read()
    }

    /// Parked in the pool: close when unused for `timeout`.
    func park(timeout: TimeAmount) {
        guard let context else { return }
        sink = nil
        let channel = context.channel
        idleTimer = context.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
        resumeReading() // notice an upstream close while parked
    }

    func unpark(for sink: UpstreamResponseSink) {
        idleTimer?.cancel()
        idleTimer = nil
        self.sink = sink
    }
}

@available(*, unavailable)
extension UpstreamConnectionHandler: Sendable {}
