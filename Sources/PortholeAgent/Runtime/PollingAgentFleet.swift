import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import PortholeTLS
import PortholeWire

/// Counters over all agents of a fleet, for logs, tests and benchmarks.
public struct AgentStatisticsSnapshot: Sendable, Hashable {
    /// Connections attempted (TCP connect started).
    public var connectionAttempts = 0
    /// Connections that ended (for any reason).
    public var connectionsEnded = 0
    /// Sessions the server accepted (`MX-SERVER` received).
    public var subscriptions = 0
    /// Agents whose current connection is subscribed.
    public var subscribedNow = 0
    public var requestsAnswered = 0
    public var requestsFailed = 0
    public var keepAlives = 0
}

/// Thread-safe counters, shared by every connection of a fleet.
public final class AgentStatistics: Sendable {
    private let box = NIOLockedValueBox(AgentStatisticsSnapshot())

    public init() {}

    public var snapshot: AgentStatisticsSnapshot { box.withLockedValue { $0 } }

    func update(_ change: (inout AgentStatisticsSnapshot) -> Void) {
        box.withLockedValue { change(&$0) }
    }
}

/// Runs `configuration.count` polling agents in this process: each connects
/// (through the proxy if one is set), subscribes, answers requests with the
/// built-in services (`AgentServices`) and reconnects after a jittered
/// back-off whenever its connection ends. `run()` returns when its task is
/// cancelled.
public final class PollingAgentFleet: Sendable {
    public let configuration: AgentConfiguration
    public let statistics = AgentStatistics()
    private let group: any EventLoopGroup
    private let tlsContext: TLSClientContext
    private let logger: Logger

    public init(configuration: AgentConfiguration, group: any EventLoopGroup, logger: Logger) throws(TLSConfigurationError) {
        self.configuration = configuration
        self.group = group
        self.logger = logger
        self.tlsContext = try TLSClientContext(configuration: TLSClientConfiguration(identity: configuration.identity))
    }

    /// Runs every agent until the calling task is cancelled.
    public func run() async {
        await withTaskGroup(of: Void.self) { tasks in
            for index in 0..<configuration.count {
                tasks.addTask { await self.runAgent(index: index) }
            }
        }
    }

    private func runAgent(index: Int) async {
        let subscription = configuration.subscription(forAgent: index)
        var logger = self.logger
        logger[metadataKey: "subscription"] = "\(subscription)"
        if configuration.count > 1 { logger[metadataKey: "agent"] = "\(index + 1)" }
        var failuresInARow = 0
        var generator = SystemRandomNumberGenerator()
        while !Task.isCancelled {
            let subscribed = NIOLockedValueBox(false)
            do {
                try await connectAndServe(subscription: subscription, logger: logger, subscribed: subscribed)
                logger.info("connection closed")
            } catch is CancellationError {
                return
            } catch {
                logger.warning("connection failed", metadata: ["error": "\(error)"])
            }
            statistics.update { $0.connectionsEnded += 1 }
            if subscribed.withLockedValue({ $0 }) {
                statistics.update { $0.subscribedNow -= 1 }
                failuresInARow = 0
            } else {
                failuresInARow += 1
            }
            if Task.isCancelled { return }
            let delay = configuration.backoff.delay(afterFailures: failuresInARow, using: &generator)
            logger.debug("reconnecting", metadata: ["after_seconds": "\(delay)"])
            do { try await Task.sleep(nanoseconds: UInt64(delay * 1_000_000_000)) } catch { return }
        }
    }

    /// One connection, from TCP connect to close.
    private func connectAndServe(subscription: String, logger: Logger, subscribed: NIOLockedValueBox<Bool>) async throws {
        statistics.update { $0.connectionAttempts += 1 }
        let configuration = self.configuration
        let target = configuration.proxy?.address ?? configuration.server
        let timeout = TimeAmount.nanoseconds(Int64(configuration.connectTimeoutSeconds * 1_000_000_000))
        let channel = try await ClientBootstrap(group: group)
            .connectTimeout(timeout)
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)  // §7: Nagle costs ~88 ms per call
            .connect(host: Self.connectableHost(target.host), port: Int(target.port))
            .get()
        try await withTaskCancellationHandler {
            if let proxy = configuration.proxy {
                let ready = channel.eventLoop.makePromise(of: Void.self)
                let deadline = channel.eventLoop.scheduleTask(in: timeout) {
                    ready.fail(AgentTransportError.proxyTunnel("no answer from the proxy within \(configuration.connectTimeoutSeconds) s"))
                }
                let targetText = "\(configuration.serverHostText):\(configuration.server.port)"
                try await channel.eventLoop.submit {
                    try channel.pipeline.syncOperations.addHandler(
                        HTTPConnectTunnelHandler(target: targetText, credentials: proxy.credentials, tunnelReady: ready))
                }.get()
                defer { deadline.cancel() }
                do { try await ready.futureResult.get() } catch {
                    channel.close(promise: nil)
                    throw error
                }
            }
            let onEvent = self.eventRecorder(subscribed: subscribed)
            let tlsContext = self.tlsContext
            try await channel.eventLoop.submit {
                try Self.addProtocolHandlers(to: channel, configuration: configuration, tlsContext: tlsContext,
                                             subscription: subscription, logger: logger, onEvent: onEvent)
            }.get()
            try await channel.closeFuture.get()
        } onCancel: {
            channel.close(promise: nil)
        }
    }

    private func eventRecorder(subscribed: NIOLockedValueBox<Bool>) -> @Sendable (AgentSessionEvent) -> Void {
        let statistics = self.statistics
        return { event in
            switch event {
            case .subscribed:
                subscribed.withLockedValue { $0 = true }
                statistics.update { $0.subscriptions += 1; $0.subscribedNow += 1 }
            case .answered(_, _, let failed):
                statistics.update { if failed { $0.requestsFailed += 1 } else { $0.requestsAnswered += 1 } }
            case .keepAlive:
                statistics.update { $0.keepAlives += 1 }
            }
        }
    }

    /// TLS, then either the session directly or the WebSocket upgrade with
    /// the session behind it. Runs on the channel's event loop.
    private static func addProtocolHandlers(
        to channel: any Channel, configuration: AgentConfiguration, tlsContext: TLSClientContext,
        subscription: String, logger: Logger, onEvent: @escaping @Sendable (AgentSessionEvent) -> Void
    ) throws {
        let pipeline = channel.pipeline.syncOperations
        let options = TLSClientConnectionOptions(serverHost: connectableHost(configuration.server.host),
                                                 pinnedServerThumbprint: configuration.serverThumbprint)
        let handshakeTimeout = TimeAmount.nanoseconds(Int64(configuration.connectTimeoutSeconds * 1_000_000_000))
        try pipeline.addHandler(TLSHandler(client: tlsContext, options: options, handshakeTimeout: handshakeTimeout))
        let lineEnding = configuration.lineEnding
        switch configuration.transport {
        case .raw:
            try pipeline.addHandler(AgentSessionHandler(subscription: subscription, lineEnding: lineEnding, logger: logger, onEvent: onEvent))
        case .webSocket:
            let upgrader = NIOWebSocketClientUpgrader(maxFrameSize: 1 << 24, automaticErrorHandling: true) { channel, _ in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers(
                        WebSocketByteStreamHandler(),
                        AgentSessionHandler(subscription: subscription, lineEnding: lineEnding, sendsPreamble: false,
                                            logger: logger, onEvent: onEvent))
                }
            }
            let port = configuration.server.port
            let requestHandler = WebSocketUpgradeRequestHandler(
                host: port == 443 ? configuration.serverHostText : "\(configuration.serverHostText):\(port)",
                path: configuration.webSocketPath, requestID: HalibutGuid.random().description)
            try pipeline.addHTTPClientHandlers(
                leftOverBytesStrategy: .forwardBytes,
                withClientUpgrade: (upgraders: [upgrader], completionHandler: { context in
                    context.pipeline.syncOperations.removeHandler(name: WebSocketUpgradeRequestHandler.name, promise: nil)
                }))
            try pipeline.addHandler(requestHandler, name: WebSocketUpgradeRequestHandler.name)
            try pipeline.addHandler(AgentConnectionErrorHandler(logger: logger))
        }
    }

    /// Host text as a socket API wants it (no IPv6 brackets).
    static func connectableHost(_ host: HostPort.Host) -> String {
        switch host {
        case .address(let address): return "\(address)"
        case .name(let name): return name
        }
    }
}

/// Logs and closes on errors that no protocol handler took (e.g. a TLS or
/// upgrade failure before the WebSocket session exists).
final class AgentConnectionErrorHandler: ChannelInboundHandler {
    typealias InboundIn = NIOAny
    private let logger: Logger

    init(logger: Logger) { self.logger = logger }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        logger.warning("agent connection failed", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }
}
