import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import PortholePortal
import PortholeTLS
import PortholeWire
import ServiceLifecycle

/// The running gateway: its listeners, the admin listener and every open
/// connection. A swift-service-lifecycle `Service`: `run()` binds, serves
/// until graceful shutdown (SIGTERM/SIGINT), then stops accepting, lets open
/// connections finish within the grace period and closes the rest.
public final class PortholeGateway: Service, Sendable {
    public let settings: GatewaySettings
    public let metrics: GatewayMetrics
    let logger: Logger
    let group: any EventLoopGroup
    let tracker = ConnectionTracker()
    private let memoryTrimmer = MemoryTrimmer()
    let startedAt: Date
    let handoff: any DecryptedStreamHandlers
    /// The Halibut polling server behind stage 2 and the dispatch API.
    public let polling: PollingEndpoint
    private let serverChannels = NIOLockedValueBox<[(name: String, channel: Channel)]>([])
    private let adminChannel = NIOLockedValueBox<Channel?>(nil)
    private let started = NIOLockedValueBox(false)
    private let fixedStatus: FixedStatus

    public init(settings: GatewaySettings, group: any EventLoopGroup, logger: Logger, metrics: GatewayMetrics = GatewayMetrics(),
                handoff: (any DecryptedStreamHandlers)? = nil) {
        self.settings = settings
        let startedAt = Date()
        self.startedAt = startedAt
        self.fixedStatus = Self.fixedStatus(of: settings, startedAt: startedAt)
        self.group = group
        self.logger = logger
        self.metrics = metrics
        let polling = PollingEndpoint(settings: settings.polling, logger: logger,
                                      counter: { label, dimensions in metrics.counter(label, dimensions).increment() })
        self.polling = polling
        self.handoff = handoff ?? BuiltInHandoff(portal: settings.portal, polling: polling, logger: logger, metrics: metrics)
        if let builtIn = self.handoff as? BuiltInHandoff { builtIn.snapshotSource.set(self.statusSnapshot) }
    }

    /// Addresses actually bound (port 0 in the settings becomes a real port).
    public var boundAddresses: [(name: String, address: SocketAddress)] {
        serverChannels.withLockedValue { $0.compactMap { entry in entry.channel.localAddress.map { (entry.name, $0) } } }
    }

    public var adminAddress: SocketAddress? { adminChannel.withLockedValue { $0?.localAddress } }

    public var openConnections: Int { tracker.count }

    /// SIGHUP: re-read what can change without a restart (the polling
    /// trust file). Open connections are kept.
    public func reload() {
        polling.reloadTrust()
    }

    // MARK: Lifecycle

    public func run() async throws {
        try await start()
        // Returns when graceful shutdown is triggered (or the task is cancelled).
        try? await gracefulShutdown()
        try await stop()
    }

    /// Binds every listener; throws `GatewayStartError` with a fix on failure.
    public func start() async throws {
        guard started.withLockedValue({ wasStarted in defer { wasStarted = true }; return !wasStarted }) else { return }
        polling.start(on: group.next())
        for listener in settings.listeners {
            let channel = try await bind(listener)
            serverChannels.withLockedValue { $0.append((listener.name, channel)) }
            logger.info("listening", metadata: ["listener": "\(listener.name)", "address": "\(channel.localAddress.map(Self.describe) ?? "?")"])
        }
        if let adminAddress = settings.adminAddress {
            let channel = try await bindAdmin(adminAddress)
            adminChannel.withLockedValue { $0 = channel }
            logger.info("admin listening", metadata: ["address": "\(channel.localAddress.map(Self.describe) ?? "?")"])
        }
        memoryTrimmer.start(on: group.next(), churn: { [tracker] in tracker.churn }, logger: logger)
    }

    /// Stop accepting, ask connections to finish, wait up to the grace
    /// period, then close what is left.
    public func stop() async throws {
        let channels = serverChannels.withLockedValue { list in defer { list = [] }; return list.map(\.channel) }
        for channel in channels { try? await channel.close() }
        let open = tracker.count
        logger.info("shutting down", metadata: ["open_connections": "\(open)", "grace_ms": "\(settings.gracePeriod.nanoseconds / 1_000_000)"])
        tracker.requestGracefulClose()
        let eventLoop = group.next()
        let drained = tracker.drained(on: eventLoop)
        let timeout = eventLoop.scheduleTask(in: settings.gracePeriod) { [tracker, logger] in
            let left = tracker.count
            if left > 0 { logger.warning("grace period over, closing connections", metadata: ["open_connections": "\(left)"]) }
            tracker.closeAll()
        }
        try? await drained.get()
        timeout.cancel()
        polling.stop()
        memoryTrimmer.stop()
        if let admin = adminChannel.withLockedValue({ channel in defer { channel = nil }; return channel }) {
            try? await admin.close()
        }
        logger.info("stopped")
    }

    // MARK: Binding

    private func bind(_ listener: GatewaySettings.Listener) async throws -> Channel {
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 1024)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            // tcpOption, not socketOption: the latter sets level SOL_SOCKET,
            // where option number 1 is SO_DEBUG, not TCP_NODELAY.
            .childChannelOption(ChannelOptions.tcpOption(.tcp_nodelay), value: 1)
            // Half-close is part of what passthrough must carry.
            .childChannelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    try self.initializeConnection(channel, listener: listener)
                }
            }
        if listener.address.protocol == .inet6 {
            // Let [::]:443 and 0.0.0.0:443 coexist, as the default config binds both.
            _ = bootstrap.serverChannelOption(ChannelOptions.Types.SocketOption(level: .ipv6, name: .ipv6_v6only), value: 1)
        }
        do {
            return try await bootstrap.bind(to: listener.address).get()
        } catch {
            throw GatewayStartError.bindFailed(listener: listener.name, address: Self.describe(listener.address), underlying: error)
        }
    }

    private func bindAdmin(_ address: SocketAddress) async throws -> Channel {
        let dispatch = PollingDispatchAPI(endpoint: polling)
        let dispatchRoute: AdminRoutes.Handler = { request, eventLoop in
            let body = request.body.map { Array($0.readableBytesView) } ?? []
            return dispatch.handle(method: request.head.method, path: request.path, body: body, on: eventLoop).map { response in
                SimpleHTTPResponse(status: response.status, contentType: response.contentType, body: response.body)
            }
        }
        let routes = AdminRoutes(token: settings.adminToken, metrics: metrics, snapshot: statusSnapshot,
                                 extra: [(prefix: PollingDispatchAPI.prefix, handler: dispatchRoute)])
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(AdminHandler(routes: routes))
                }
            }
        do {
            return try await bootstrap.bind(to: address).get()
        } catch {
            throw GatewayStartError.bindFailed(listener: "admin", address: Self.describe(address), underlying: error)
        }
    }

    private func initializeConnection(_ channel: Channel, listener: GatewaySettings.Listener) throws {
        metrics.connectionsAccepted.increment()
        if tracker.count >= settings.maxConnections {
            metrics.recordOutcome(.overloaded, route: nil)
            channel.close(promise: nil)
            return
        }
        tracker.add(channel)
        metrics.connectionsOpen.increment()
        channel.closeFuture.whenComplete { [metrics] _ in metrics.connectionsOpen.decrement() }
        let record = ConnectionRecord(listener: listener.name, clientAddress: channel.remoteAddress.map(Self.describe) ?? "?")
        let boundRecord = NIOLoopBound(record, eventLoop: channel.eventLoop)
        channel.closeFuture.whenComplete { [logger, metrics] _ in
            let record = boundRecord.value
            metrics.bytesFromClients.increment(by: Int64(record.bytesFromClient))
            metrics.bytesToClients.increment(by: Int64(record.bytesToClient))
            record.write(to: logger)
        }
        try channel.pipeline.syncOperations.addHandler(
            ConnectionSniffHandler(gateway: self, listener: listener, record: record))
    }

    // MARK: Status

    @Sendable func statusSnapshot() -> StatusSnapshot {
        let listeners = boundAddresses.map { entry in
            StatusSnapshot.Listener(name: entry.name, address: Self.describe(entry.address),
                                    mode: settings.listeners.first { $0.name == entry.name }?.dedicatedPolling == true ? "polling" : "shared")
        }
        var counters: [String: Double] = ["connections_open": Double(tracker.count)]
        for line in metrics.exposition().split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: " ")
            if parts.count == 2, let value = Double(parts[1]) { counters[String(parts[0])] = value }
        }
        let agents = polling.registry.all.map { agent in
            StatusSnapshot.Agent(subscription: agent.subscription, thumbprint: agent.thumbprint, remoteAddress: agent.remoteAddress,
                                 transport: agent.transport.rawValue, connectedSince: TimestampText.seconds(agent.connectedSince))
        }
        counters["polling_agents_connected"] = Double(agents.count)
        let fixed = fixedStatus
        return StatusSnapshot(startedAt: fixed.startedAt, serverThumbprint: fixed.serverThumbprint, certificates: fixed.certificates,
                              listeners: listeners, routes: fixed.routes, agents: agents, counters: counters)
    }

    /// The parts of the status page that cannot change while the gateway
    /// runs, rendered once instead of per request.
    private struct FixedStatus: Sendable {
        let startedAt: String
        let serverThumbprint: String
        let certificates: [StatusSnapshot.Certificate]
        let routes: [StatusSnapshot.Route]
    }

    private static func fixedStatus(of settings: GatewaySettings, startedAt: Date) -> FixedStatus {
        FixedStatus(
            startedAt: TimestampText.seconds(startedAt),
            serverThumbprint: settings.certificates.first?.identity.leaf.thumbprint ?? "",
            certificates: settings.certificates.map { entry in
                StatusSnapshot.Certificate(name: entry.name, thumbprint: entry.identity.leaf.thumbprint,
                                           subject: entry.identity.leaf.subject, serverNames: entry.serverNames,
                                           notAfter: TimestampText.seconds(entry.identity.leaf.notAfter))
            },
            routes: settings.routeTable.routes.map { route in
                StatusSnapshot.Route(name: route.name, action: settings.routeActions[route.name]?.name ?? "?",
                                     match: route.match.summary)
            })
    }

    static func describe(_ address: SocketAddress) -> String {
        switch address {
        case .v4: return "\(address.ipAddress ?? "?"):\(address.port ?? 0)"
        case .v6: return "[\(address.ipAddress ?? "?")]:\(address.port ?? 0)"
        case .unixDomainSocket: return "unix:\(address.pathname ?? "")"
        }
    }
}

/// Start-up failures, each with what to do about it.
public enum GatewayStartError: Error, CustomStringConvertible {
    case bindFailed(listener: String, address: String, underlying: Error)

    public var description: String {
        switch self {
        case .bindFailed(let listener, let address, let underlying):
            let errno = (underlying as? IOError)?.errnoCode
            if errno == EACCES {
                return """
                cannot listen on \(address) (listener "\(listener)"): permission denied. Ports below 1024 need a privilege:
                  - give the binary the capability once: sudo setcap cap_net_bind_service=+ep $(command -v porthole)
                  - or under systemd: AmbientCapabilities=CAP_NET_BIND_SERVICE (see conf/porthole.service)
                  - or listen on a high port: porthole run --listen 0.0.0.0:8443
                """
            }
            if errno == EADDRINUSE {
                return "cannot listen on \(address) (listener \"\(listener)\"): the address is already in use; stop the other process (ss -ltnp | grep ':\(address.split(separator: ":").last ?? "")') or choose another address with --listen"
            }
            if errno == EADDRNOTAVAIL {
                return "cannot listen on \(address) (listener \"\(listener)\"): this machine has no such address; check [server].listen"
            }
            return "cannot listen on \(address) (listener \"\(listener)\"): \(underlying)"
        }
    }
}
