import Logging
import NIOCore
import NIOPosix
import PortholeConfig
import PortholeSplice
import PortholeTLS
import PortholeWire

/// Stage 1: the first handler of every accepted connection. Reads the first
/// bytes (after an optional PROXY header) until a decision can be made,
/// matches the facts against the route table, then acts: terminate (TLS
/// handler + stage 2), passthrough (splice to an upstream), a plain-HTTP
/// answer, or close. Sniffing, deciding and acting stay apart: the parsers
/// are pure (PortholeWire), the decision is `RouteTable.match`, the actions
/// are below. Removes itself once the connection is handed on, so nothing
/// here (including the sniff deadline) limits a connection after that.
final class ConnectionSniffHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum State {
        case proxyHeader
        case classifying
        case clientHello(ClientHelloParser)
        case plainHTTP
        /// Waiting for the upstream connection; reads are held.
        case connecting
        case done
    }

    private let gateway: PortholeGateway
    private let listener: GatewaySettings.Listener
    private let record: ConnectionRecord
    private var state: State
    /// Every byte read after the PROXY header: replayed to whoever takes over.
    private var buffered: ByteBuffer?
    private var deadline: Scheduled<Void>?
    private var heldRead = false
    private var sourceAddress: IPAddress?
    /// The client as a PROXY v2 header to an upstream should name it: the
    /// peer, or the address a trusted PROXY header carried.
    private var clientEndpoint: (host: String, port: UInt16)?
    /// EOF from the client while the upstream connection was being made:
    /// passed on to the splice once it exists.
    private var inputClosedWhileConnecting = false
    /// Bytes read by this handler, for the record of connections that end here.
    private var sniffedBytes = 0

    private var settings: GatewaySettings { gateway.settings }

    init(gateway: PortholeGateway, listener: GatewaySettings.Listener, record: ConnectionRecord) {
        self.gateway = gateway
        self.listener = listener
        self.record = record
        self.state = listener.proxyProtocol == .off ? .classifying : .proxyHeader
    }

    // MARK: Lifecycle

    func handlerAdded(context: ChannelHandlerContext) {
        sourceAddress = context.channel.remoteAddress.flatMap(Self.ipAddress)
        clientEndpoint = context.channel.remoteAddress.map(Self.proxyEndpoint)
        if listener.proxyProtocol == .required, !isTrustedProxy(sourceAddress) {
            finish(context: context, outcome: .proxyRejected, reason: "PROXY header required but \(record.clientAddress) is not a trusted proxy")
            return
        }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        deadline = context.eventLoop.scheduleTask(in: settings.sniffTimeout) {
            let (handler, context) = loopBound.value
            handler.sniffTimedOut(context: context)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if record.outcome == nil, case .done = state {} else if record.outcome == nil {
            record.reason = record.reason ?? "client closed before a decision"
        }
        state = .done
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            switch state {
            case .connecting:
                // No handler after this one yet: keep the EOF for the splice.
                inputClosedWhileConnecting = true
                return
            case .done:
                break
            default:
                finish(context: context, outcome: .malformed, reason: "client closed its side before a decision")
                return
            }
        }
        if event is ChannelShouldQuiesceEvent, !isDecided {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    private var isDecided: Bool {
        switch state {
        case .connecting, .done: return true
        default: return false
        }
    }

    // MARK: Reading

    func read(context: ChannelHandlerContext) {
        if case .connecting = state { heldRead = true } else { context.read() }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var chunk = unwrapInboundIn(data)
        sniffedBytes += chunk.readableBytes
        if case .done = state { return }
        if buffered == nil { buffered = chunk } else { buffered!.writeBuffer(&chunk) }
        if case .connecting = state {
            if buffered!.readableBytes > settings.sniffMaxBytes {
                finish(context: context, outcome: .tooLarge, reason: "client sent more than \(settings.sniffMaxBytes) bytes before the upstream answered")
            }
            return
        }
        advance(context: context)
    }

    private func advance(context: ChannelHandlerContext) {
        while let bytes = buffered {
            switch state {
            case .proxyHeader:
                guard handleProxyHeader(context: context, bytes: bytes) else { return }
            case .classifying:
                switch FirstBytesClassifier.classify(Array(bytes.readableBytesView.prefix(16))) {
                case .needMoreData:
                    return
                case .tls:
                    state = .clientHello(ClientHelloParser(maxBufferedBytes: settings.sniffMaxBytes))
                case .http:
                    state = .plainHTTP
                case .proxyHeader:
                    return finish(context: context, outcome: .proxyRejected,
                                  reason: "PROXY header from \(record.clientAddress), which is not a trusted proxy")
                case .unknown:
                    return finish(context: context, outcome: .notTLS, reason: "first bytes are neither TLS nor HTTP")
                }
            case .clientHello(var parser):
                // The parser keeps its own copy; feed it what it has not seen.
                let unseen = bytes.readableBytesView.dropFirst(parser.bufferedByteCount)
                let result = parser.feed(unseen)
                state = .clientHello(parser)
                switch result {
                case .needMoreData:
                    return
                case .complete(let hello):
                    return routeTLS(context: context, hello: hello)
                case .notTLS:
                    return finish(context: context, outcome: .notTLS, reason: "not a TLS ClientHello")
                case .malformed(let problem):
                    return finish(context: context, outcome: .malformed, reason: "malformed ClientHello: \(problem)")
                case .tooLarge:
                    return finish(context: context, outcome: .tooLarge, reason: "ClientHello larger than \(settings.sniffMaxBytes) bytes")
                }
            case .plainHTTP:
                return answerPlainHTTP(context: context, bytes: bytes)
            case .connecting, .done:
                return
            }
        }
    }

    /// PROXY v1/v2 (haproxy proxy-protocol.txt), honoured only from trusted
    /// sources. Returns false when it needs more bytes or has finished.
    private func handleProxyHeader(context: ChannelHandlerContext, bytes: ByteBuffer) -> Bool {
        guard isTrustedProxy(sourceAddress) else {
            // Untrusted: a PROXY header is refused by the classifier below.
            state = .classifying
            return true
        }
        switch ProxyProtocolParser.parse(Array(bytes.readableBytesView.prefix(ProxyProtocolParser.maxHeaderLength))) {
        case .needMoreData:
            return false
        case .notProxy:
            if listener.proxyProtocol == .required {
                finish(context: context, outcome: .proxyRejected, reason: "PROXY header required but missing")
                return false
            }
            state = .classifying
            return true
        case .malformed(let problem):
            finish(context: context, outcome: .proxyRejected, reason: "malformed PROXY header: \(problem)")
            return false
        case .header(let header, let consumed):
            if let source = header.source {
                record.clientAddress = source.port == 0 ? source.host : "\(Self.bracketed(source.host)):\(source.port)"
                record.viaProxyProtocol = true
                sourceAddress = IPAddress(source.host) ?? sourceAddress
                clientEndpoint = (source.host, source.port)
            }
            buffered!.moveReaderIndex(forwardBy: consumed)
            if buffered!.readableBytes == 0 { buffered = nil }
            state = .classifying
            return true
        }
    }

    // MARK: Deciding

    private func routeTLS(context: ChannelHandlerContext, hello: ClientHelloInfo) {
        record.serverName = hello.serverName
        record.alpnOffered = hello.alpnExtensionPresent ? hello.alpnProtocols : nil
        record.markDecided(bytes: buffered?.readableBytes ?? 0)
        deadline?.cancel()

        if listener.dedicatedPolling {
            record.route = "polling-listener"
            return terminate(context: context, route: "polling-listener",
                             policy: TLSConnectionPolicy(alpnProtocols: [], clientCertificate: .request))
        }
        let facts = ConnectionFacts(serverName: hello.serverName, offeredALPN: hello.alpnProtocols,
                                    alpnExtensionPresent: hello.alpnExtensionPresent, source: sourceAddress,
                                    listener: listener.name)
        let decision = settings.routeTable.match(facts)
        guard let routeName = decision.routeName else {
            return finish(context: context, outcome: .noRoute, reason: decision.reasons.joined(separator: "; "))
        }
        act(context: context, route: routeName, outcome: .matched)
    }

    // MARK: Acting

    /// Hands the connection to the route's action. `outcome` is what the
    /// connection is counted as once the action has taken it: `matched`, or
    /// `sniff_timeout` for `[server].on_sniff_timeout`.
    private func act(context: ChannelHandlerContext, route: String, outcome: ConnectionOutcome) {
        record.route = route
        switch settings.routeActions[route] ?? .terminate(TLSConnectionPolicy()) {
        case .terminate(let policy):
            terminate(context: context, route: route, policy: policy, outcome: outcome)
        case .passthrough(let upstream, let timeout, let sendProxyHeader):
            passthrough(context: context, route: route, upstream: upstream, timeout: timeout,
                        sendProxyHeader: sendProxyHeader, outcome: outcome)
        }
    }

    /// Counted by stage 2 once the handshake has ended: as `outcome`, or as
    /// a handshake failure.
    private func terminate(context: ChannelHandlerContext, route: String, policy: TLSConnectionPolicy,
                           outcome: ConnectionOutcome = .matched) {
        record.action = "terminate"
        record.outcome = outcome
        do {
            let tls = try TLSServerHandler(context: settings.tlsContext, policy: policy, handshakeTimeout: settings.handshakeTimeout)
            let stageTwo = StageTwoHandler(gateway: gateway, record: record, route: route, listener: listener.name,
                                           outcomeOnHandshake: outcome, dedicatedPolling: listener.dedicatedPolling)
            let counter = ByteCountingHandler(record: record)
            try context.pipeline.syncOperations.addHandlers([counter, tls, stageTwo], position: .after(self))
        } catch {
            return finish(context: context, outcome: .handshakeFailure, reason: "could not start TLS: \(error)")
        }
        handOn(context: context)
    }

    private func passthrough(context: ChannelHandlerContext, route: String, upstream: HostPort, timeout: TimeAmount,
                             sendProxyHeader: Bool, outcome: ConnectionOutcome) {
        record.action = "passthrough"
        state = .connecting
        deadline?.cancel()
        let client = context.channel
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let connect: EventLoopFuture<Channel> = ClientBootstrap(group: context.eventLoop)
            .connectTimeout(timeout)
            .channelOption(ChannelOptions.tcpOption(.tcp_nodelay), value: 1)
            .channelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .connect(host: upstream.hostForConnect, port: Int(upstream.port))
        connect.whenComplete { result in
            let (handler, context) = loopBound.value
            switch result {
            case .failure(let error):
                handler.finish(context: context, outcome: .upstreamConnectFailure,
                               reason: "cannot connect to \(upstream): \(error)", route: route)
            case .success(let upstreamChannel):
                guard client.isActive else {
                    upstreamChannel.close(promise: nil)
                    return
                }
                handler.splice(context: context, route: route, upstream: upstreamChannel, sendProxyHeader: sendProxyHeader,
                               outcome: outcome)
            }
        }
    }

    private func splice(context: ChannelHandlerContext, route: String, upstream: Channel, sendProxyHeader: Bool,
                        outcome: ConnectionOutcome) {
        record.outcome = outcome
        gateway.metrics.recordOutcome(outcome, route: route)
        let clientSide = SpliceHandler()
        let upstreamSide = SpliceHandler()
        SpliceHandler.pair(clientSide, upstreamSide)
        do {
            try upstream.pipeline.syncOperations.addHandler(upstreamSide)
            try context.pipeline.syncOperations.addHandler(ByteCountingHandler(record: record), position: .after(self))
            try context.pipeline.syncOperations.addHandler(clientSide, position: .last)
        } catch {
            upstream.close(promise: nil)
            return finish(context: context, outcome: .upstreamConnectFailure, reason: "splice setup failed: \(error)", route: route)
        }
        if sendProxyHeader, let client = clientEndpoint, let local = context.channel.localAddress,
           let header = ProxyProtocolV2Encoder.encode(source: client, destination: Self.proxyEndpoint(local)) {
            var buffer = upstream.allocator.buffer(capacity: header.count)
            buffer.writeBytes(header)
            upstream.write(buffer, promise: nil)
        }
        if let bytes = buffered {
            buffered = nil
            record.bytesFromClient += bytes.readableBytes // replayed around the counter
            upstream.write(bytes, promise: nil)
        }
        upstream.flush()
        state = .done
        let pipeline = context.pipeline
        pipeline.syncOperations.removeHandler(self, promise: nil)
        if inputClosedWhileConnecting {
            // After the replay, so the upstream gets every byte before the FIN.
            pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        }
        // Through the channel: this handler's context has left the pipeline,
        // and a read sent from it would be lost (the client would stall).
        if heldRead { context.channel.read() }
    }

    private func answerPlainHTTP(context: ChannelHandlerContext, bytes: ByteBuffer) {
        switch HTTPRequestHeadParser.parse(Array(bytes.readableBytesView), maxBytes: settings.sniffMaxBytes) {
        case .needMoreData:
            return
        case .tooLarge:
            return finish(context: context, outcome: .tooLarge, reason: "plain HTTP request head too large")
        case .malformed(let problem):
            return finish(context: context, outcome: .notTLS, reason: "malformed plain HTTP request: \(problem)")
        case .complete(let head):
            record.markDecided(bytes: bytes.readableBytes)
            let response: [UInt8]
            switch settings.plainHTTP {
            case .redirect(let httpsPort):
                response = PlainHTTPAnswer.redirect(for: head, httpsPort: httpsPort)
            case .reject:
                response = PlainHTTPAnswer.badRequest()
            }
            state = .done
            deadline?.cancel()
            record.outcome = .plainHTTP
            record.action = "plain-http"
            gateway.metrics.recordOutcome(.plainHTTP, route: nil)
            var buffer = context.channel.allocator.buffer(capacity: response.count)
            buffer.writeBytes(response)
            let channel = context.channel
            record.bytesToClient += response.count
            context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in channel.close(promise: nil) }
        }
    }

    /// Replays what was read to the handlers just installed, then leaves.
    private func handOn(context: ChannelHandlerContext) {
        state = .done
        let bytes = buffered
        buffered = nil
        // Replay before leaving: once removed, this context no longer
        // links to the handlers after it.
        if let bytes {
            context.fireChannelRead(wrapInboundOut(bytes))
            context.fireChannelReadComplete()
        }
        context.pipeline.syncOperations.removeHandler(self, promise: nil)
    }

    private func sniffTimedOut(context: ChannelHandlerContext) {
        guard !isDecided else { return }
        let reason = "no decision within \(settings.sniffTimeout.nanoseconds / 1_000_000) ms (\(buffered?.readableBytes ?? 0) bytes received)"
        guard let route = settings.sniffTimeoutRoute else {
            return finish(context: context, outcome: .sniffTimeout, reason: reason)
        }
        // `on_sniff_timeout`: e.g. a server-speaks-first service; it gets
        // whatever arrived so far.
        record.reason = "\(reason); handed to route \"\(route)\" ([server].on_sniff_timeout)"
        record.markDecided(bytes: buffered?.readableBytes ?? 0)
        act(context: context, route: route, outcome: .sniffTimeout)
    }

    /// Ends the connection without a hand-off: counted, logged, closed.
    private func finish(context: ChannelHandlerContext, outcome: ConnectionOutcome, reason: String, route: String? = nil) {
        guard record.outcome == nil || outcome == .upstreamConnectFailure else { return }
        state = .done
        deadline?.cancel()
        buffered = nil
        record.outcome = outcome
        record.reason = reason
        record.bytesFromClient = sniffedBytes
        if record.decidedAfter == nil { record.markDecided(bytes: sniffedBytes) }
        gateway.metrics.recordOutcome(outcome, route: route)
        context.close(promise: nil)
    }

    // MARK: Helpers

    private func isTrustedProxy(_ address: IPAddress?) -> Bool {
        guard let address else { return false }
        return listener.proxyTrusted.contains { $0.contains(address) }
    }

    static func ipAddress(_ address: SocketAddress) -> IPAddress? {
        address.ipAddress.flatMap { IPAddress($0) }
    }

    private static func bracketed(_ host: String) -> String { host.contains(":") ? "[\(host)]" : host }

    private static func proxyEndpoint(_ address: SocketAddress) -> (host: String, port: UInt16) {
        (address.ipAddress ?? "0.0.0.0", UInt16(address.port ?? 0))
    }
}

@available(*, unavailable)
extension ConnectionSniffHandler: Sendable {}

/// Counts bytes between the socket and the next layer for the decision
/// record (ciphertext, as the operator's network sees them).
final class ByteCountingHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let record: ConnectionRecord

    init(record: ConnectionRecord) {
        self.record = record
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        record.bytesFromClient += unwrapInboundIn(data).readableBytes
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        record.bytesToClient += unwrapOutboundIn(data).readableBytes
        context.write(data, promise: promise)
    }
}
