import Logging
import NIOCore
import PortholeWire

/// What a session reports to the runtime (statistics, back-off, logs).
public enum AgentSessionEvent: Sendable {
    /// The server answered `MX-SERVER`: the subscription is live.
    case subscribed
    /// A request was answered (with a result or an error).
    case answered(service: String, method: String, failed: Bool)
    /// A null message (keep-alive) was acknowledged.
    case keepAlive
}

/// Why a session ended early. After any of these the connection is closed;
/// the runtime reconnects after its back-off.
public enum AgentSessionError: Error, Sendable, CustomStringConvertible {
    case decoding(HalibutUnitDecoderError)
    case message(HalibutMessageError)
    case unexpected(String)

    public var description: String {
        switch self {
        case .decoding(let error): return "cannot read the server's bytes: \(error)"
        case .message(let error): return "cannot read the server's message: \(error)"
        case .unexpected(let what): return "protocol violation by the server: \(what)"
        }
    }
}

/// The agent side of the polling byte protocol over any byte stream (TLS
/// directly, or the payloads of WebSocket frames), halibut.md §2 and §7:
///
/// ```
/// → "MX" NL NL                  → "MX-SUBSCRIBER 1.0 poll://<id>/" NL NL
/// ← "MX-SERVER 1.0" NL NL
/// loop: ← request (+ streams) or null
///       → response (+ streams), if a request
///       → "NEXT" NL                ← "PROCEED" NL
/// ```
///
/// Every unit goes out as its own write and flush, so it gets its own TLS
/// record or WebSocket frame (§4: old peers lose bytes that share a record
/// with the end of a message). Reads are fully buffered.
final class AgentSessionHandler: StartsWhenActive {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum State {
        case notStarted
        case awaitingServerIdentity
        case awaitingMessage
        /// The request's DataStreams are arriving; bodies collected by id.
        case receivingStreams(HalibutRequestMessage, received: [HalibutGuid: [UInt8]])
        /// A service is running (possibly waiting for `Delay`).
        case answering
        case awaitingProceed
        case closed
    }

    private let subscription: String
    private let lineEnding: AgentLineEnding
    private let onEvent: @Sendable (AgentSessionEvent) -> Void
    private var logger: Logger
    private let decoder = HalibutUnitDecoder()
    private var state: State = .notStarted
    private var pending: ByteBuffer?
    private var delayTask: Scheduled<Void>?

    /// False over WebSocket: there the text message `MX` is the preamble
    /// and the byte protocol starts at the identity line (§8).
    private let sendsPreamble: Bool

    init(subscription: String, lineEnding: AgentLineEnding, sendsPreamble: Bool = true, logger: Logger,
         onEvent: @escaping @Sendable (AgentSessionEvent) -> Void) {
        self.subscription = subscription
        self.sendsPreamble = sendsPreamble
        self.lineEnding = lineEnding
        self.logger = logger
        self.onEvent = onEvent
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        delayTask?.cancel()
    }

    func channelInactive(context: ChannelHandlerContext) {
        delayTask?.cancel()
        state = .closed
        context.fireChannelInactive()
    }

    func startSpeaking(context: ChannelHandlerContext) {
        guard case .notStarted = state else { return }
        let newline = lineEnding.bytes
        // §2.1 and §2.3: two separate writes; a real agent does not wait for
        // anything between them.
        if sendsPreamble { writeUnit(context: context, Array("MX".utf8) + newline + newline) }
        writeUnit(context: context, Array("MX-SUBSCRIBER 1.0 \(subscription)".utf8) + newline + newline)
        state = .awaitingServerIdentity
        expect(.identity, context: context)
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        if pending == nil || pending!.readableBytes == 0 {
            pending = incoming
        } else {
            pending!.writeBuffer(&incoming)
        }
        drain(context: context)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        logger.warning("agent connection failed", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }

    /// Decodes every complete unit in `pending`, in order.
    private func drain(context: ChannelHandlerContext) {
        while var buffer = pending, buffer.readableBytes > 0, decoder.isExpectingUnit {
            let step: Result<HalibutDecodeStep, HalibutUnitDecoderError> = buffer.withUnsafeReadableBytes { bytes in
                Result { () throws(HalibutUnitDecoderError) in try decoder.decode(bytes) }
            }
            switch step {
            case .failure(let error):
                fail(context: context, .decoding(error))
                return
            case .success(let step):
                buffer.moveReaderIndex(forwardBy: step.consumed)
                pending = buffer
                guard let unit = step.unit else { return }
                handle(unit, context: context)
            }
            if case .closed = state { return }
        }
    }

    private func handle(_ unit: HalibutUnit, context: ChannelHandlerContext) {
        switch (state, unit) {
        case (.awaitingServerIdentity, .identity(let identity)):
            guard identity.role == .server else {
                return fail(context: context, .unexpected("identity \(identity.role.rawValue) instead of MX-SERVER"))
            }
            logger.info("subscribed")
            onEvent(.subscribed)
            state = .awaitingMessage
            expect(.message, context: context)

        case (.awaitingMessage, .message(let bson)):
            let message: HalibutMessage
            do { message = try HalibutMessage(bson: bson) } catch { return fail(context: context, .message(error)) }
            switch message {
            case .null:
                onEvent(.keepAlive)
                sendNext(context: context)
            case .response:
                fail(context: context, .unexpected("a ResponseMessage sent to the agent"))
            case .request(let request):
                let descriptors: [HalibutDataStreamDescriptor]
                do { descriptors = try request.dataStreams() } catch { return fail(context: context, .message(error)) }
                if descriptors.isEmpty {
                    answer(request, streams: [:], context: context)
                } else {
                    state = .receivingStreams(request, received: [:])
                    expect(.dataStreams(descriptors), context: context)
                }
            }

        case (.receivingStreams(let request, var received), .dataStream(let event)):
            switch event {
            case .started(let id, _):
                received[id] = []
                state = .receivingStreams(request, received: received)
            case .body(let id, let bytes):
                received[id, default: []].append(contentsOf: bytes)
                state = .receivingStreams(request, received: received)
            case .finished(_, let remaining):
                state = .receivingStreams(request, received: received)
                if remaining == 0 { answer(request, streams: received, context: context) }
            }

        case (.awaitingProceed, .control(.proceed)):
            state = .awaitingMessage
            expect(.message, context: context)

        default:
            fail(context: context, .unexpected("\(unit) while \(state)"))
        }
    }

    // MARK: Answering

    private func answer(_ request: HalibutRequestMessage, streams: [HalibutGuid: [UInt8]], context: ChannelHandlerContext) {
        state = .answering
        let reply = AgentServices.handle(request, streams: streams)
        logger.debug("request", metadata: ["service": "\(request.service)", "method": "\(request.method)", "id": "\(request.id)"])
        guard reply.delayMilliseconds > 0 else { return send(reply, request: request, context: context) }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        delayTask = context.eventLoop.scheduleTask(in: .milliseconds(reply.delayMilliseconds)) {
            let (handler, context) = loopBound.value
            handler.send(reply, request: request, context: context)
            handler.drain(context: context)
        }
    }

    private func send(_ reply: AgentServiceReply, request: HalibutRequestMessage, context: ChannelHandlerContext) {
        guard case .answering = state else { return }
        let unit: [UInt8]
        do { unit = try HalibutMessage.response(reply.response).deflatedUnit() } catch { return fail(context: context, .message(error)) }
        writeUnit(context: context, unit)
        // §6: id, length, body, trailer, each its own write (finding 1).
        for stream in reply.streams {
            for part in HalibutDataStreamFrame.parts(id: stream.id, body: stream.body) where !part.isEmpty {
                writeUnit(context: context, part)
            }
        }
        onEvent(.answered(service: request.service, method: request.method, failed: reply.response.error != nil))
        sendNext(context: context)
    }

    private func sendNext(context: ChannelHandlerContext) {
        writeUnit(context: context, Array("NEXT".utf8) + lineEnding.bytes)
        state = .awaitingProceed
        expect(.controlLine, context: context)
    }

    // MARK: Helpers

    private func expect(_ unit: HalibutExpectedUnit, context: ChannelHandlerContext) {
        do { try decoder.expect(unit) } catch { fail(context: context, .decoding(error)) }
    }

    private func writeUnit(context: ChannelHandlerContext, _ bytes: [UInt8]) {
        var buffer = context.channel.allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    private func fail(context: ChannelHandlerContext, _ error: AgentSessionError) {
        guard case .closed = state else {
            state = .closed
            logger.warning("closing the agent connection", metadata: ["error": "\(error)"])
            context.close(promise: nil)
            return
        }
    }
}

@available(*, unavailable)
extension AgentSessionHandler: Sendable {}
