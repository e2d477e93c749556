import Foundation
import Logging
import NIOCore
import PortholeWire

/// Runs one agent connection: feeds decrypted bytes to the
/// `PollingSessionStateMachine` and carries out its actions. Each unit is
/// its own write and flush, so the TLS handler gives it its own record (or
/// the WebSocket adapter its own frame), halibut.md §4.
final class PollingSessionHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let endpoint: PollingEndpoint
    private let machine: PollingSessionStateMachine
    private let connection: PollingConnectionID
    private let remoteAddress: String
    private let transport: PollingTransport
    private var timer: Scheduled<Void>?
    private var context: ChannelHandlerContext?
    private var closeWhenIdle = false
    private var closed = false
    /// The WebSocket transport starts the session when it has seen `MX`.
    private let startsOnActive: Bool

    init(endpoint: PollingEndpoint, transport: PollingTransport, thumbprint: String?, remoteAddress: String) {
        self.endpoint = endpoint
        self.transport = transport
        self.remoteAddress = remoteAddress
        self.connection = endpoint.nextConnectionID()
        self.startsOnActive = transport == .raw
        let registry = endpoint.registry
        let connection = self.connection
        let remote = remoteAddress
        let gatekeeper = PollingGatekeeper(
            isTrusted: { [trust = endpoint.trust] in trust.isTrusted($0) },
            admit: { subscription, thumbprint in
                let now = Date()
                return registry.admit(ConnectedAgent(connection: connection, subscription: subscription, thumbprint: thumbprint,
                                                     remoteAddress: remote, transport: transport, connectedSince: now,
                                                     lastActivity: now, inFlight: 0))
            })
        self.machine = PollingSessionStateMachine(transport: transport, thumbprint: thumbprint, timings: endpoint.settings.timings,
                                                  gatekeeper: gatekeeper, friendlyPage: endpoint.settings.friendlyPage,
                                                  limits: endpoint.settings.decoderLimits)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        endpoint.count("porthole_polling_connections_total", [("transport", transport.rawValue)])
        if startsOnActive { perform(machine.start(), context: context) }
    }

    /// Called by the WebSocket adapter once the `MX` text message arrived.
    func startAfterWebSocketPreamble(context: ChannelHandlerContext) {
        perform(machine.start(), context: context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        connectionGone(reason: "handler removed")
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        connectionGone(reason: "connection closed")
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        if machine.subscription != nil { endpoint.registry.touch(connection) }
        perform(machine.receive(Array(buffer.readableBytesView)), context: context)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            perform(machine.endOfInput(), context: context)
            return
        }
        if event is ChannelShouldQuiesceEvent {
            closeWhenIdle = true
            if machine.isIdle { close(context: context, reason: "shutting down") }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        perform(machine.endOfInput(), context: context)
        close(context: context, reason: "error: \(error)")
    }

    // MARK: Actions

    private func perform(_ actions: [PollingSessionAction], context: ChannelHandlerContext) {
        for action in actions {
            guard !closed else { return }
            switch action {
            case .write(let bytes):
                var buffer = context.channel.allocator.buffer(capacity: bytes.count)
                buffer.writeBytes(bytes)
                context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
            case .writeAndClose(let bytes):
                var buffer = context.channel.allocator.buffer(capacity: bytes.count)
                buffer.writeBytes(bytes)
                closed = true
                endpoint.count("porthole_polling_friendly_pages_total", [])
                let channel = context.channel
                context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in channel.close(promise: nil) }
            case .reject(let rejection):
                endpoint.count("porthole_polling_rejected_total", [("reason", rejection.kind.rawValue)])
                endpoint.logger.warning("polling agent rejected", metadata: [
                    "client": "\(remoteAddress)", "thumbprint": "\(machine.thumbprint ?? "none")",
                    "reason": "\(rejection.reason)"])
                close(context: context, reason: rejection.reason)
            case .close(let reason):
                endpoint.logger.info("polling connection closed", metadata: [
                    "client": "\(remoteAddress)", "subscription": "\(machine.subscription ?? "-")", "reason": "\(reason)"])
                close(context: context, reason: reason)
            case .subscribed(let subscription):
                endpoint.count("porthole_polling_subscriptions_total", [])
                endpoint.logger.info("polling agent subscribed", metadata: [
                    "client": "\(remoteAddress)", "thumbprint": "\(machine.thumbprint ?? "none")",
                    "subscription": "\(subscription)", "transport": "\(transport.rawValue)"])
            case .collectWork(let immediate):
                collectWork(immediate: immediate, context: context)
            case .armTimer(let kind, let after):
                timer?.cancel()
                let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
                timer = context.eventLoop.scheduleTask(in: after) {
                    let (handler, context) = loopBound.value
                    handler.perform(handler.machine.timerFired(kind), context: context)
                }
            case .disarmTimer:
                timer?.cancel()
                timer = nil
            case .completeCall(let result):
                endpoint.registry.touch(connection, inFlight: 0)
                if endpoint.queue.complete(connection: connection, with: result) {
                    endpoint.count("porthole_polling_calls_total", [("outcome", result.response.error == nil ? "result" : "error")])
                }
                if closeWhenIdle { close(context: context, reason: "shutting down") }
            case .failCall(let error):
                endpoint.registry.touch(connection, inFlight: 0)
                if endpoint.queue.fail(connection: connection, with: error) {
                    endpoint.count("porthole_polling_calls_total", [("outcome", "agent_failed")])
                }
            case .droppedResponse(let id, let expected):
                endpoint.count("porthole_polling_unknown_response_ids_total", [])
                endpoint.logger.warning("polling response with unknown id dropped", metadata: [
                    "client": "\(remoteAddress)", "subscription": "\(machine.subscription ?? "-")",
                    "id": "\(id)", "expected": "\(expected)"])
            }
        }
    }

    private func collectWork(immediate: Bool, context: ChannelHandlerContext) {
        guard let subscription = machine.subscription else { return }
        if closeWhenIdle { return close(context: context, reason: "shutting down") }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let eventLoop = context.eventLoop
        let collected = endpoint.queue.collect(subscription: subscription, connection: connection, waitIfEmpty: !immediate) { collected in
            eventLoop.execute {
                let (handler, context) = loopBound.value
                handler.deliver(collected, context: context)
            }
        }
        if let collected {
            deliver(collected, context: context)
        } else if immediate {
            perform(machine.sendKeepalive(), context: context)
        } else {
            timer?.cancel()
            let connection = self.connection
            timer = context.eventLoop.scheduleTask(in: endpoint.settings.timings.keepaliveInterval) {
                let (handler, context) = loopBound.value
                // A call handed over meanwhile is on its way: send it, not a null.
                if handler.endpoint.queue.stopWaiting(connection: connection, subscription: subscription) {
                    handler.perform(handler.machine.sendKeepalive(), context: context)
                }
            }
        }
    }

    private func deliver(_ collected: CollectedCall, context: ChannelHandlerContext) {
        guard !closed else {
            // Already failed by connectionGone (the queue completes once).
            endpoint.queue.fail(connection: connection, with: .agentFailed(subscription: collected.subscription,
                                                                            reason: "the connection closed before the request was sent"))
            return
        }
        endpoint.registry.touch(connection, inFlight: 1)
        perform(machine.send(collected), context: context)
    }

    private func close(context: ChannelHandlerContext, reason: String) {
        guard !closed else { return }
        closed = true
        timer?.cancel()
        connectionGone(reason: reason)
        context.close(promise: nil)
    }

    private func connectionGone(reason: String) {
        timer?.cancel()
        closed = true
        endpoint.queue.connectionClosed(connection, subscription: machine.subscription, reason: reason)
        endpoint.registry.remove(connection)
    }
}
