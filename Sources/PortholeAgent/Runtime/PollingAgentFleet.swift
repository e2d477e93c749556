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
/// back-off whenever its connection ends.
///
/// Each agent lives on one event loop as a chain of futures and scheduled
/// tasks, not as a Swift task: a thousand agents cost no threads, and a busy
/// cooperative thread pool (e.g. tests that block) cannot stall them.
public final class PollingAgentFleet: Sendable {
    public let configuration: AgentConfiguration
    public let statistics = AgentStatistics()
    private let group: any EventLoopGroup
    private let tlsContext: TLSClientContext
    private let logger: Logger

    private struct RunState {
        var stopping = false
        var started = false
        var runningAgents = 0
        var stoppedSignalled = false
        var openChannels: [ObjectIdentifier: any Channel] = [:]
    }
    private let state = NIOLockedValueBox(RunState())
    /// Succeeds when every agent has stopped after `stop()`.
    private let stopped: EventLoopPromise<Void>

    public init(configuration: AgentConfiguration, group: any EventLoopGroup, logger: Logger) throws(TLSConfigurationError) {
        self.configuration = configuration
        self.group = group
        self.logger = logger
        self.tlsContext = try TLSClientContext(configuration: TLSClientConfiguration(identity: configuration.identity))
        self.stopped = group.next().makePromise(of: Void.self)
    }

    /// Starts every agent (once); they run until `stop()`.
    public func start() {
        let alreadyStarted = state.withLockedValue { state -> Bool in
            defer { state.started = true; state.runningAgents = configuration.count }
            return state.started
        }
        guard !alreadyStarted else { return }
        for index in 0..<configuration.count {
            let loop = group.next()
            loop.execute { self.runAgent(index: index, loop: loop, failuresInARow: 0) }
        }
    }

    /// Closes every connection and ends every agent; the future succeeds
    /// when all have stopped.
    @discardableResult
    public func stop() -> EventLoopFuture<Void> {
        let channels = state.withLockedValue { state in
            state.stopping = true
            return Array(state.openChannels.values)
        }
        for channel in channels { channel.close(promise: nil) }
        signalStoppedIfDone()
        return stopped.futureResult
    }

    /// Starts the agents and runs them until the calling task is cancelled.
    public func run() async {
        start()
        await withTaskCancellationHandler {
            try? await stopped.futureResult.get()
        } onCancel: {
            self.stop()
        }
    }

    private var isStopping: Bool { state.withLockedValue { $0.stopping } }

    private func agentEnded() {
        state.withLockedValue { $0.runningAgents -= 1 }
        signalStoppedIfDone()
    }

    private func signalStoppedIfDone() {
        let done = state.withLockedValue { state -> Bool in
            guard state.stopping, state.runningAgents == 0, !state.stoppedSignalled else { return false }
            state.stoppedSignalled = true
            return true
        }
        if done { stopped.succeed() }
    }

    private func runAgent(index: Int, loop: any EventLoop, failuresInARow: Int) {
        guard !isStopping else { return agentEnded() }
        let subscription = configuration.subscription(forAgent: index)
        var logger = self.logger
        logger[metadataKey: "subscription"] = "\(subscription)"
        if configuration.count > 1 { logger[metadataKey: "agent"] = "\(index + 1)" }
        let subscribed = NIOLockedValueBox(false)
        statistics.update { $0.connectionAttempts += 1 }
        connect(subscription: subscription, loop: loop, logger: logger, subscribed: subscribed)
            .flatMap { channel in channel.closeFuture.always { _ in self.forget(channel) } }
            .whenComplete { [logger] result in
                switch result {
                case .success: logger.info("connection closed")
                case .failure(let error): logger.warning("connection failed", metadata: ["error": "\(error)"])
                }
                self.statistics.update { $0.connectionsEnded += 1 }
                let wasSubscribed = subscribed.withLockedValue { $0 }
                if wasSubscribed { self.statistics.update { $0.subscribedNow -= 1 } }
                let failures = wasSubscribed ? 0 : failuresInARow + 1
                guard !self.isStopping else { return self.agentEnded() }
                var generator = SystemRandomNumberGenerator()
                let delay = self.configuration.backoff.delay(afterFailures: failures, using: &generator)
                logger.debug("reconnecting", metadata: ["after_seconds": "\(delay)"])
                loop.scheduleTask(in: .nanoseconds(Int64(delay * 1_000_000_000))) {
                    self.runAgent(index: index, loop: loop, failuresInARow: failures)
                }
            }
    }

    /// Remembers an open channel so `stop()` can close it; closes it at once
    /// when stopping already began.
    private func remember(_ channel: any Channel) {
        let stopping = state.withLockedValue { state -> Bool in
            if !state.stopping { state.openChannels[ObjectIdentifier(channel)] = channel }
            return state.stopping
        }
        if stopping { channel.close(promise: nil) }
    }

    private func forget(_ channel: any Channel) {
        state.withLockedValue { _ = $0.openChannels.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    /// TCP connect, the proxy tunnel if any, then the protocol handlers.
    private func connect(subscription: String, loop: any EventLoop, logger: Logger,
                         subscribed: NIOLockedValueBox<Bool>) -> EventLoopFuture<any Channel> {
        let configuration = self.configuration
        let target = configuration.proxy?.address ?? configuration.server
        let timeout = TimeAmount.nanoseconds(Int64(configuration.connectTimeoutSeconds * 1_000_000_000))
        let onEvent = eventRecorder(subscribed: subscribed)
        let tlsContext = self.tlsContext
        return ClientBootstrap(group: loop)
            .connectTimeout(timeout)
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)  // §7: Nagle costs ~88 ms per call
            .connect(host: Self.connectableHost(target.host), port: Int(target.port))
            .flatMap { channel in
                self.remember(channel)
                let tunnel: EventLoopFuture<Void>
                if let proxy = configuration.proxy {
                    tunnel = Self.openTunnel(on: channel, through: proxy, configuration: configuration, timeout: timeout)
                } else {
                    tunnel = channel.eventLoop.makeSucceededVoidFuture()
                }
                return tunnel.flatMapThrowing {
                    try Self.addProtocolHandlers(to: channel, configuration: configuration, tlsContext: tlsContext,
                                                 subscription: subscription, logger: logger, onEvent: onEvent)
                    return channel
                }.flatMapErrorThrowing { error in
                    channel.close(promise: nil)
                    self.forget(channel)
                    throw error
                }
            }
    }

    /// `CONNECT host:port` through the proxy (§9), bounded by `timeout`.
    private static func openTunnel(on channel: any Channel, through proxy: AgentProxy, configuration: AgentConfiguration,
                                   timeout: TimeAmount) -> EventLoopFuture<Void> {
        let ready = channel.eventLoop.makePromise(of: Void.self)
        let deadline = channel.eventLoop.scheduleTask(in: timeout) {
            ready.fail(AgentTransportError.proxyTunnel("no answer from the proxy within \(configuration.connectTimeoutSeconds) s"))
        }
        ready.futureResult.whenComplete { _ in deadline.cancel() }
        let target = "\(configuration.serverHostText):\(configuration.server.port)"
        do {
            try channel.pipeline.syncOperations.addHandler(
                HTTPConnectTunnelHandler(target: target, credentials: proxy.credentials, tunnelReady: ready))
        } catch {
            ready.fail(error)
        }
        return ready.futureResult
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
