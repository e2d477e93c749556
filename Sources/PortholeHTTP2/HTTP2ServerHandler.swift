import NIOCore

/// The layer above an HTTP/2 connection: gets each stream's events and
/// answers through the `HTTP2ServerHandler` it is given. Called on the
/// connection's event loop only.
public protocol HTTP2StreamDelegate: AnyObject {
    func http2(_ connection: HTTP2ServerHandler, event: HTTP2StreamEvent)
    /// The connection is closing; every open stream is gone.
    func http2ConnectionClosed(_ connection: HTTP2ServerHandler)
}

/// HTTP/2 server side on nghttp2 as a NIO handler: bytes below (decrypted
/// TLS), stream events up to a delegate, responses streamed back. Thin: the
/// protocol work is in `HTTP2ServerSession`.
///
/// Backpressure: while the channel is not writable no more output is pulled
/// from nghttp2, so response bodies queue per stream and producers see
/// `responseQueueIsFull`; request bodies are limited by the windows the
/// delegate reopens with `consume`.
public final class HTTP2ServerHandler: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    public struct Settings: Sendable {
        public var maxConcurrentStreams: UInt32 = 100
        public var maxHeaderListBytes = 64 << 10
        public init(maxConcurrentStreams: UInt32 = 100, maxHeaderListBytes: Int = 64 << 10) {
            self.maxConcurrentStreams = maxConcurrentStreams
            self.maxHeaderListBytes = maxHeaderListBytes
        }
    }

    private enum State {
        case open
        /// GOAWAY sent (graceful shutdown or a protocol error): close once
        /// the open streams are done and the output is written.
        case goingAway
        /// A connection error (flood, protocol error): send the GOAWAY
        /// nghttp2 or we queued, then close without waiting for streams.
        case failing
        case closed
    }

    private let session: HTTP2ServerSession
    private var delegate: HTTP2StreamDelegate?
    private var context: ChannelHandlerContext?
    private var state: State = .open
    private var dispatching = false
    private var flushPending = false

    public init(settings: Settings = Settings(), delegate: HTTP2StreamDelegate) throws {
        var limits = HTTP2ServerSession.Limits()
        limits.maxConcurrentStreams = settings.maxConcurrentStreams
        limits.maxHeaderListBytes = settings.maxHeaderListBytes
        self.session = try HTTP2ServerSession(limits: limits)
        self.delegate = delegate
    }

    public var eventLoop: EventLoop? { context?.eventLoop }
    public var allocator: ByteBufferAllocator { context?.channel.allocator ?? ByteBufferAllocator() }

    // MARK: Channel events

    public func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        // Our SETTINGS go first (RFC 9113 §3.4: the server preface).
        flush()
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        switch state {
        case .open, .goingAway:
            // After GOAWAY still read: streams that finish need WINDOW_UPDATE and DATA.
            feed(buffer)
        case .failing, .closed:
            break
        }
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        flush()
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { flush() }
        context.fireChannelWritabilityChanged()
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            context.close(promise: nil)
            return
        }
        if event is ChannelShouldQuiesceEvent {
            goAway(code: .noError)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    public func channelInactive(context: ChannelHandlerContext) {
        state = .closed
        delegate?.http2ConnectionClosed(self)
        delegate = nil
        context.fireChannelInactive()
    }

    // MARK: For the delegate

    public func sendHead(streamID: Int32, status: Int, headers: [(name: String, value: String)], endStream: Bool) {
        session.sendHead(streamID: streamID, status: status, headers: headers, endStream: endStream)
        scheduleFlush()
    }

    public func sendBody(streamID: Int32, _ buffer: ByteBuffer) {
        session.sendBody(streamID: streamID, buffer)
        scheduleFlush()
    }

    public func sendEnd(streamID: Int32, trailers: [(name: String, value: String)] = []) {
        session.sendEnd(streamID: streamID, trailers: trailers)
        scheduleFlush()
    }

    /// Complete response in one call.
    public func send(streamID: Int32, _ response: HTTP2Response, headOnly: Bool) {
        let empty = headOnly || response.body.isEmpty
        sendHead(streamID: streamID, status: response.status, headers: response.headers, endStream: empty)
        if !empty {
            var buffer = allocator.buffer(capacity: response.body.count)
            buffer.writeBytes(response.body)
            sendBody(streamID: streamID, buffer)
            sendEnd(streamID: streamID)
        }
    }

    /// True when the stream's response queue is full; a `.responseDrained`
    /// event follows when it is worth producing more.
    public func responseQueueIsFull(streamID: Int32) -> Bool { session.responseQueueIsFull(streamID: streamID) }

    public func reset(streamID: Int32, code: HTTP2ErrorCode) {
        session.reset(streamID: streamID, code: code)
        scheduleFlush()
    }

    /// Request body bytes were delivered: let the peer send as many more.
    public func consume(streamID: Int32, bytes: Int) {
        session.consume(streamID: streamID, bytes: bytes)
        scheduleFlush()
    }

    /// GOAWAY: open streams finish, new ones are refused; the connection
    /// closes when the last stream is done.
    public func goAway(code: HTTP2ErrorCode) {
        guard case .open = state else { return }
        state = .goingAway
        session.goAway(code: code)
        flush()
    }

    // MARK: Driving the session

    private func feed(_ buffer: ByteBuffer) {
        do {
            try buffer.withUnsafeReadableBytes { bytes throws(HTTP2SessionError) in try session.receive(bytes) }
        } catch {
            // A GOAWAY with the right error code is queued (by nghttp2 for
            // protocol errors and its flood limits, by the session for ours);
            // send it and close.
            state = .failing
        }
        dispatchEvents()
    }

    private func dispatchEvents() {
        // Delegates answer from inside events; their calls only queue work.
        guard !dispatching else { return }
        dispatching = true
        defer { dispatching = false }
        while true {
            let events = session.takeEvents()
            if events.isEmpty { break }
            for event in events { delegate?.http2(self, event: event) }
        }
    }

    /// Calls made from outside a read (upstream data arriving) flush at the
    /// end of this event-loop tick, so many small calls make one write.
    private func scheduleFlush() {
        guard !flushPending, let context else { return }
        flushPending = true
        context.eventLoop.assumeIsolated().execute { [self] in
            flushPending = false
            flush()
        }
    }

    private func flush() {
        guard let context else { return }
        while context.channel.isWritable, let output = session.pendingOutput() {
            context.write(wrapOutboundOut(output), promise: nil)
            dispatchEvents()
        }
        context.flush()
        dispatchEvents()
        if session.wantsWrite && context.channel.isWritable { scheduleFlush() }
        let finished: Bool
        switch state {
        case .open: finished = !session.isAlive
        case .goingAway: finished = !session.isAlive || (session.openStreams == 0 && !session.wantsWrite)
        case .failing: finished = !session.wantsWrite
        case .closed: finished = false
        }
        if finished {
            state = .closed
            context.close(promise: nil)
        }
    }
}

@available(*, unavailable)
extension HTTP2ServerHandler: Sendable {}
