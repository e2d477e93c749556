import NIOCore

/// HTTP/2 server side on nghttp2 as a NIO handler: bytes below (decrypted
/// TLS), complete requests answered by `responder`. Thin: the protocol work
/// is in `HTTP2ServerSession`.
public final class HTTP2ServerHandler: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer
    public typealias Responder = @Sendable (HTTP2Request) -> HTTP2Response

    private let session: HTTP2ServerSession
    private let responder: Responder
    private var closing = false

    public init(maxConcurrentStreams: UInt32 = 100, responder: @escaping Responder) throws {
        var limits = HTTP2ServerSession.Limits()
        limits.maxConcurrentStreams = maxConcurrentStreams
        self.session = try HTTP2ServerSession(limits: limits)
        self.responder = responder
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        // Our SETTINGS go first (RFC 9113 §3.4: the server preface).
        flush(context: context)
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        do {
            let requests = try buffer.withUnsafeReadableBytes { bytes throws(HTTP2SessionError) in try session.receive(bytes) }
            for request in requests {
                session.respond(to: request.streamID, with: responder(request), headOnly: request.method == "HEAD")
            }
        } catch {
            // nghttp2 has queued a GOAWAY with the right error code.
            closing = true
        }
        flush(context: context)
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            context.close(promise: nil)
            return
        }
        if event is ChannelShouldQuiesceEvent {
            closing = true
            session.goAway()
            flush(context: context)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    private func flush(context: ChannelHandlerContext) {
        let output = session.pendingOutput()
        if !output.isEmpty {
            var buffer = context.channel.allocator.buffer(capacity: output.count)
            buffer.writeBytes(output)
            context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        }
        if !session.isAlive || (closing && session.openStreams == 0) {
            context.close(promise: nil)
        }
    }
}

@available(*, unavailable)
extension HTTP2ServerHandler: Sendable {}
