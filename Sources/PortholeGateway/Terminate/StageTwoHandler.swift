import Logging
import NIOCore
import PortholeTLS
import PortholeWire

/// Stage 2: after Porthole's own handshake, look at the first decrypted
/// bytes and hand the connection to the portal (HTTP/1.1, HTTP/2) or the
/// polling endpoint (raw `MX`, WebSocket on the comms path); anything else
/// gets Halibut's friendly page and is closed (halibut.md §3).
final class StageTwoHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private enum State {
        case handshaking
        case sniffing(session: TLSSessionInfo)
        case handedOff
    }

    private let gateway: PortholeGateway
    private let record: ConnectionRecord
    private let route: String
    private let listener: String
    /// How `porthole_connections_total` counts the connection once the
    /// handshake completes (a failed one counts as `handshake_failure`), so
    /// each connection is counted once.
    private let outcomeOnHandshake: ConnectionOutcome
    /// A `mode = "polling"` listener: every connection is an agent (or gets
    /// the friendly page from the polling session, halibut.md §3).
    private let dedicatedPolling: Bool
    private var state: State = .handshaking
    private var buffered: ByteBuffer?
    private var deadline: Scheduled<Void>?

    init(gateway: PortholeGateway, record: ConnectionRecord, route: String, listener: String,
         outcomeOnHandshake: ConnectionOutcome = .matched, dedicatedPolling: Bool = false) {
        self.outcomeOnHandshake = outcomeOnHandshake
        self.gateway = gateway
        self.record = record
        self.route = route
        self.listener = listener
        self.dedicatedPolling = dedicatedPolling
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let completed = event as? TLSHandshakeCompletedEvent, case .handshaking = state {
            let session = completed.session
            gateway.metrics.handshakesCompleted.increment()
            gateway.metrics.recordOutcome(outcomeOnHandshake, route: route)
            record.alpnNegotiated = session.negotiatedALPN
            record.tlsVersion = session.version?.rawValue
            record.peerThumbprint = session.peerThumbprint
            state = .sniffing(session: session)
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            deadline = context.eventLoop.scheduleTask(in: gateway.settings.firstRequestTimeout) {
                let (handler, context) = loopBound.value
                handler.timedOut(context: context)
            }
            // h2 is decided by ALPN alone; the client speaks first with the
            // preface, but nothing else could follow.
            if dedicatedPolling {
                decide(.pollingRaw, context: context, session: session)
            } else if session.negotiatedALPN == "h2" {
                decide(.http2, context: context, session: session)
            }
            context.fireUserInboundEventTriggered(event)
            return
        }
        if event is ChannelShouldQuiesceEvent, case .sniffing = state {
            // Nothing was exchanged yet: nothing to finish.
            context.close(promise: nil)
            return
        }
        if let event = event as? ChannelEvent, event == .inputClosed, case .sniffing = state {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if let failure = error as? TLSHandshakeError {
            record.outcome = .handshakeFailure
            record.reason = failure.reason
            gateway.metrics.recordHandshakeFailure(reason: failure.reason)
            gateway.metrics.recordOutcome(.handshakeFailure, route: route)
            gateway.logger.notice("TLS handshake failed", metadata: [
                "client": "\(record.clientAddress)", "reason": "\(failure.reason)", "detail": "\(failure.detail)",
            ])
            context.close(promise: nil)
            return
        }
        context.fireErrorCaught(error)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .sniffing(let session) = state else {
            context.fireChannelRead(data)
            return
        }
        var chunk = unwrapInboundIn(data)
        if buffered == nil { buffered = chunk } else { buffered!.writeBuffer(&chunk) }
        let bytes = Array(buffered!.readableBytesView)
        if bytes.count > gateway.settings.sniffMaxBytes {
            record.reason = "stage 2: no decision within \(gateway.settings.sniffMaxBytes) bytes"
            sendFriendlyPage(context: context)
            return
        }
        let kind = DecryptedStreamClassifier.classify(bytes, negotiatedALPN: session.negotiatedALPN,
                                                      commsPath: gateway.settings.commsPath)
        decide(kind, context: context, session: session)
    }

    private func decide(_ kind: DecryptedStreamKind, context: ChannelHandlerContext, session: TLSSessionInfo) {
        let handoffContext = HandoffContext(session: session, clientAddress: record.clientAddress, route: route, listener: listener)
        let pipeline = context.pipeline.syncOperations
        let handlers = gateway.handoff
        do {
            switch kind {
            case .needMoreData:
                return
            case .http1:
                record.handler = "portal-http1"
                try handlers.installHTTP1(into: pipeline, after: self, context: handoffContext)
            case .http2:
                record.handler = "portal-h2"
                guard try handlers.installHTTP2(into: pipeline, after: self, context: handoffContext) else {
                    return refuseHTTP2(context: context)
                }
            case .pollingRaw:
                record.handler = "polling-raw"
                guard try handlers.installPollingRaw(into: pipeline, after: self, context: handoffContext) else {
                    return refuse(context: context, reason: "no polling endpoint configured")
                }
            case .pollingWebSocket:
                record.handler = "polling-websocket"
                guard try handlers.installPollingWebSocket(into: pipeline, after: self, context: handoffContext) else {
                    return refuse(context: context, reason: "no polling endpoint configured")
                }
            case .unknown:
                record.handler = "friendly-page"
                return sendFriendlyPage(context: context)
            }
        } catch {
            record.reason = "handoff failed: \(error)"
            context.close(promise: nil)
            return
        }
        state = .handedOff
        deadline?.cancel()
        if let bytes = buffered {
            buffered = nil
            context.fireChannelRead(wrapInboundOut(bytes))
            context.fireChannelReadComplete()
        }
        context.pipeline.syncOperations.removeHandler(self, promise: nil)
    }

    private func timedOut(context: ChannelHandlerContext) {
        guard case .sniffing = state else { return }
        record.reason = "stage 2: client sent nothing after the handshake"
        context.close(promise: nil)
    }

    private func sendFriendlyPage(context: ChannelHandlerContext) {
        state = .handedOff
        deadline?.cancel()
        var buffer = context.channel.allocator.buffer(capacity: 256)
        buffer.writeBytes(gateway.settings.friendlyPage.response())
        let channel = context.channel
        context.writeAndFlush(wrapInboundOut(buffer)).whenComplete { _ in channel.close(promise: nil) }
    }

    private func refuse(context: ChannelHandlerContext, reason: String) {
        state = .handedOff
        record.reason = reason
        context.close(promise: nil)
    }

    /// GOAWAY with HTTP_1_1_REQUIRED (RFC 9113 §7): the client may retry over
    /// HTTP/1.1. Sent when no HTTP/2 handler is installed.
    private func refuseHTTP2(context: ChannelHandlerContext) {
        state = .handedOff
        record.reason = "HTTP/2 not served here"
        let settingsFrame: [UInt8] = [0, 0, 0, 0x04, 0, 0, 0, 0, 0]
        let goaway: [UInt8] = [0, 0, 8, 0x07, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0d]
        var buffer = context.channel.allocator.buffer(capacity: settingsFrame.count + goaway.count)
        buffer.writeBytes(settingsFrame + goaway)
        let channel = context.channel
        context.writeAndFlush(wrapInboundOut(buffer)).whenComplete { _ in channel.close(promise: nil) }
    }
}
