import Logging
import NIOCore

/// Fired inbound once the handshake is done, before any decrypted byte.
public struct TLSHandshakeCompletedEvent: Sendable {
    public var session: TLSSessionInfo
}

/// TLS over OpenSSL memory BIOs as a NIO handler, either role: ciphertext
/// below, plaintext above. Thin by design: the OpenSSL work lives in
/// `TLSMemorySession` and the role objects (`TLSServerConnection`,
/// `TLSClientConnection`); this type maps NIO events onto them. A client
/// handler starts the handshake as soon as it is in an active channel.
///
/// - Backpressure: plaintext goes up as it is decrypted, at most one TLS
///   record per `fireChannelRead`; `read()` requests pass straight down, so a
///   slow consumer that stops asking stops the socket. Writes are encrypted
///   at once and written to the channel, so its writability tells the truth.
/// - Record boundaries: each `write` becomes its own TLS record(s).
/// - Half-close: a peer close_notify is answered and surfaces as
///   `ChannelEvent.inputClosed`; `close(mode: .output)` sends close_notify
///   and shuts our side.
public final class TLSHandler: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    private enum State {
        case handshaking
        case active
        /// We sent close_notify; the channel closes when the write is done.
        case closing
        case closed
    }

    private let role: any TLSRoleConnection
    private var connection: TLSMemorySession { role.session }
    private let handshakeTimeout: TimeAmount
    private var state: State = .handshaking
    private var timeoutTask: Scheduled<Void>?
    /// Plaintext written before the handshake finished. Bounded by the
    /// caller, who only writes after `TLSHandshakeCompletedEvent` in
    /// practice; kept for correctness.
    private var pendingWrites: [(ByteBuffer, EventLoopPromise<Void>?)] = []
    private var peerClosedInput = false
    public private(set) var session: TLSSessionInfo?

    /// The server side: certificate by SNI, ALPN and client-certificate
    /// request as `policy` says.
    public init(context: TLSServerContext, policy: TLSConnectionPolicy, handshakeTimeout: TimeAmount = .seconds(10)) throws(TLSConfigurationError) {
        self.role = try TLSServerConnection(context: context, policy: policy)
        self.handshakeTimeout = handshakeTimeout
    }

    /// The client side: presents the context's certificate, sets SNI, offers
    /// no ALPN and accepts only the pinned server thumbprint.
    public init(client context: TLSClientContext, options: TLSClientConnectionOptions, handshakeTimeout: TimeAmount = .seconds(10)) throws(TLSConfigurationError) {
        self.role = try TLSClientConnection(context: context, options: options)
        self.handshakeTimeout = handshakeTimeout
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timeoutTask = context.eventLoop.scheduleTask(in: handshakeTimeout) {
            let (handler, context) = loopBound.value
            handler.handshakeTimedOut(context: context)
        }
        if role.initiatesHandshake && context.channel.isActive { startClientHandshake(context: context) }
    }

    public func channelActive(context: ChannelHandlerContext) {
        if role.initiatesHandshake { startClientHandshake(context: context) }
        context.fireChannelActive()
    }

    private var clientHandshakeStarted = false

    /// Sends the ClientHello (once, whichever of `handlerAdded` and
    /// `channelActive` comes first with an active channel).
    private func startClientHandshake(context: ChannelHandlerContext) {
        guard !clientHandshakeStarted, case .handshaking = state else { return }
        clientHandshakeStarted = true
        advanceHandshake(context: context)
        flushCiphertext(context: context)
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        timeoutTask?.cancel()
        failPendingWrites(ChannelError.ioOnClosedChannel)
    }

    // MARK: Inbound

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let ciphertext = unwrapInboundIn(data)
        switch state {
        case .handshaking:
            connection.feed(ciphertext)
            advanceHandshake(context: context)
        case .active:
            connection.feed(ciphertext)
            readPlaintext(context: context)
        case .closing, .closed:
            break // Data after our close_notify is discarded (RFC 8446 §6.1).
        }
        flushCiphertext(context: context)
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        if case .active = state {
            // Right after the handshake nothing is worth keeping; later only
            // bursts are (an idle connection's buffers must stay small).
            connection.releaseIdleBuffers(threshold: buffersReleasedAfterHandshake ? Self.retainedBufferLimit : 0)
            buffersReleasedAfterHandshake = true
        }
        context.fireChannelReadComplete()
    }

    /// Memory-BIO capacity an idle connection may keep between bursts.
    public static let retainedBufferLimit = 16 * 1024
    private var buffersReleasedAfterHandshake = false

    /// Bytes of buffer capacity the memory BIOs hold now (for tests).
    public var bufferedCapacity: Int { connection.bufferedCapacity }

    public func channelInactive(context: ChannelHandlerContext) {
        let wasHandshaking: Bool
        if case .handshaking = state { wasHandshaking = true } else { wasHandshaking = false }
        state = .closed
        timeoutTask?.cancel()
        failPendingWrites(ChannelError.ioOnClosedChannel)
        if wasHandshaking {
            context.fireErrorCaught(TLSHandshakeError(kind: .connectionClosed, reason: "connection_closed",
                                                      detail: "the \(role.peerRoleName) closed the connection during the handshake"))
        }
        context.fireChannelInactive()
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            if case .handshaking = state {
                // The peer gave up mid-handshake; nothing more can happen.
                failHandshake(context: context, TLSHandshakeError(kind: .connectionClosed, reason: "connection_closed",
                                                                  detail: "the \(role.peerRoleName) half-closed during the handshake"))
                return
            }
            // TCP FIN without close_notify: pass the half-close on; the
            // application layer decides whether it was a truncation.
            guard !peerClosedInput else { return }
            peerClosedInput = true
        }
        context.fireUserInboundEventTriggered(event)
    }

    // MARK: Outbound

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let plaintext = unwrapOutboundIn(data)
        switch state {
        case .handshaking:
            pendingWrites.append((plaintext, promise))
        case .active:
            encryptAndWrite(context: context, plaintext, promise: promise)
        case .closing, .closed:
            promise?.fail(ChannelError.ioOnClosedChannel)
        }
    }

    public func flush(context: ChannelHandlerContext) {
        if case .active = state { context.flush() }
    }

    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        switch (state, mode) {
        case (.active, .output):
            connection.shutdown()
            flushCiphertext(context: context)
            context.close(mode: .output, promise: promise)
        case (.active, .all):
            state = .closing
            connection.shutdown()
            flushCiphertext(context: context)
            context.close(mode: .all, promise: promise)
        default:
            context.close(mode: mode, promise: promise)
        }
    }

    // MARK: Steps

    private func advanceHandshake(context: ChannelHandlerContext) {
        switch connection.handshake() {
        case .needMoreData:
            // With autoRead off nobody else asks for the next flight.
            if !context.channel.isAutoReadEnabledSync { context.read() }
        case .failed(let error):
            failHandshake(context: context, role.refineHandshakeFailure(error))
        case .complete:
            timeoutTask?.cancel()
            state = .active
            let info = role.sessionInfo
            session = info
            flushCiphertext(context: context)
            context.fireUserInboundEventTriggered(TLSHandshakeCompletedEvent(session: info))
            let writes = pendingWrites
            pendingWrites = []
            for (buffer, promise) in writes { encryptAndWrite(context: context, buffer, promise: promise) }
            if !writes.isEmpty { context.flush() }
            // Application data may have arrived in the same read as Finished.
            readPlaintext(context: context)
        }
    }

    private func readPlaintext(context: ChannelHandlerContext) {
        while case .active = state {
            switch connection.read(allocator: context.channel.allocator) {
            case .data(let buffer):
                context.fireChannelRead(wrapInboundOut(buffer))
            case .needMoreData:
                return
            case .closeNotify:
                // Answer with our close_notify, then tell the application
                // its input is over; it decides when to close the rest.
                connection.shutdown()
                flushCiphertext(context: context)
                if !peerClosedInput {
                    peerClosedInput = true
                    context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
                }
                return
            case .failed(let error):
                context.fireErrorCaught(error)
                state = .closing
                flushCiphertext(context: context)
                context.close(promise: nil)
                return
            }
        }
    }

    private func encryptAndWrite(context: ChannelHandlerContext, _ plaintext: ByteBuffer, promise: EventLoopPromise<Void>?) {
        if let error = connection.write(plaintext) {
            promise?.fail(error)
            context.fireErrorCaught(error)
            return
        }
        if let ciphertext = connection.drainCiphertext(allocator: context.channel.allocator) {
            context.write(wrapOutboundOut(ciphertext), promise: promise)
        } else {
            promise?.succeed()
        }
    }

    private func flushCiphertext(context: ChannelHandlerContext) {
        guard let ciphertext = connection.drainCiphertext(allocator: context.channel.allocator) else { return }
        context.writeAndFlush(wrapOutboundOut(ciphertext), promise: nil)
    }

    private func handshakeTimedOut(context: ChannelHandlerContext) {
        guard case .handshaking = state else { return }
        failHandshake(context: context, TLSHandshakeError(kind: .timeout, reason: "timeout",
                                                          detail: "no complete handshake within \(handshakeTimeout.nanoseconds / 1_000_000) ms"))
    }

    private func failHandshake(context: ChannelHandlerContext, _ error: TLSHandshakeError) {
        guard case .handshaking = state else { return }
        state = .closing
        timeoutTask?.cancel()
        flushCiphertext(context: context) // the alert, if OpenSSL produced one
        context.fireErrorCaught(error)
        context.close(promise: nil)
    }

    private func failPendingWrites(_ error: Error) {
        let writes = pendingWrites
        pendingWrites = []
        for (_, promise) in writes { promise?.fail(error) }
    }
}

@available(*, unavailable)
extension TLSHandler: Sendable {}

/// The name the gateway's stage 2 has always used for the server side.
public typealias TLSServerHandler = TLSHandler

extension Channel {
    /// Only valid on the event loop, where handlers run.
    var isAutoReadEnabledSync: Bool {
        (try? self.syncOptions?.getOption(ChannelOptions.autoRead)) ?? true
    }
}
