import NIOCore
import NIOPosix

/// One half of a byte splice between two channels (client ⇄ upstream).
/// Bytes read on this channel are written to the partner, untouched: this is
/// how agent TLS passes through with no offloading (DESIGN.md), and how a
/// WebSocket is carried after the portal's 101.
///
/// - Backpressure: `read()` is held while the partner is not writable, so a
///   peer that stops reading makes us stop reading the other side; what sits
///   in memory is bounded by the partner's write-buffer high-water mark plus
///   one read.
/// - Half-close: EOF on one side becomes a shutdown of the partner's output;
///   the other direction keeps flowing until it ends too.
/// - Reset: a connection reset on one side is sent on as a reset (SO_LINGER 0)
///   on the other.
public final class SpliceHandler: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    private var partner: SpliceHandler?
    private var context: ChannelHandlerContext?
    private var pendingRead = false
    private var inputClosed = false
    private var outputClosed = false
    /// Completes once the FIN sent to this peer has followed every byte queued before it.
    private var outputShutdown: EventLoopFuture<Void>?

    /// Links two handlers; call on the event loop both channels share.
    public init() {}

    public static func pair(_ a: SpliceHandler, _ b: SpliceHandler) {
        a.partner = b
        b.partner = a
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        self.partner = nil
    }

    // MARK: Data from this side → partner

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        partner?.partnerWrite(unwrapInboundIn(data))
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        partner?.partnerFlush()
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            inputClosed = true
            partner?.partnerShutdownOutput()
            if let outputShutdown {
                // Both directions are done; close once the FIN is out.
                let channel = context.channel
                outputShutdown.whenComplete { _ in channel.close(promise: nil) }
            }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    public func channelInactive(context: ChannelHandlerContext) {
        partner?.partnerClose(reset: false)
        context.fireChannelInactive()
    }

    public func errorCaught(context: ChannelHandlerContext, error: Error) {
        // ECONNRESET from the peer: pass the reset on rather than a FIN, so
        // the other end learns the stream was cut, not completed.
        let isReset = (error as? IOError)?.errnoCode == ECONNRESET
        partner?.partnerClose(reset: isReset)
        context.close(promise: nil)
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { partner?.partnerBecameWritable() }
        context.fireChannelWritabilityChanged()
    }

    // MARK: Backpressure

    public func read(context: ChannelHandlerContext) {
        if let partner, !partner.isWritable {
            pendingRead = true
        } else {
            context.read()
        }
    }

    // MARK: Called by the partner

    private var isWritable: Bool { context?.channel.isWritable ?? true }

    private func partnerWrite(_ buffer: ByteBuffer) {
        context?.write(wrapOutboundOut(buffer), promise: nil)
    }

    private func partnerFlush() {
        context?.flush()
    }

    private func partnerBecameWritable() {
        guard pendingRead, let context else { return }
        pendingRead = false
        context.read()
    }

    private func partnerShutdownOutput() {
        guard let context, !outputClosed else { return }
        outputClosed = true
        context.flush()
        guard inputClosed else {
            // Half-close: NIO sends the FIN once the pending writes are out.
            let promise = context.eventLoop.makePromise(of: Void.self)
            context.close(mode: .output, promise: promise)
            outputShutdown = promise.futureResult
            return
        }
        // Both directions are done. A full close would drop what is still
        // queued for this peer, so close once it has been written.
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(channel.allocator.buffer(capacity: 0))).whenComplete { _ in
            channel.close(promise: nil)
        }
    }

    private func partnerClose(reset: Bool) {
        guard let context else { return }
        if reset, let options = context.channel as? SocketOptionProvider {
            // SO_LINGER with a zero timeout makes close() send RST.
            let channel = context.channel
            options.setSoLinger(linger(l_onoff: 1, l_linger: 0)).whenComplete { _ in channel.close(promise: nil) }
            return
        }
        if let outputShutdown {
            // A FIN is queued behind bytes not yet written: let them go first.
            let channel = context.channel
            outputShutdown.whenComplete { _ in channel.close(promise: nil) }
            return
        }
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension SpliceHandler: Sendable {}
