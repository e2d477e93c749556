import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOWebSocket
import PortholeWire

/// Porthole's Halibut polling server (halibut.md): the trust list, the
/// connected agents, the per-subscription queues, and the handlers that
/// stage 2 installs for agent connections. One per gateway.
public final class PollingEndpoint: Sendable {
    public let settings: PollingSettings
    public let trust: TrustStore
    public let registry: AgentRegistry
    public let queue = PendingRequestQueue()
    let logger: Logger
    private let counter: @Sendable (String, [(String, String)]) -> Void
    private let connectionIDs = NIOLockedValueBox<UInt64>(0)
    private let callSequence = NIOLockedValueBox<Int>(0)
    private let trustWatcher = NIOLockedValueBox<RepeatedTask?>(nil)

    /// `counter(label, dimensions)` increments a counter in the gateway's
    /// metrics registry.
    public init(settings: PollingSettings, logger: Logger,
                counter: @escaping @Sendable (String, [(String, String)]) -> Void = { _, _ in }) {
        self.settings = settings
        self.logger = logger
        self.counter = counter
        self.trust = TrustStore(configured: settings.trustedThumbprints, filePath: settings.trustFile)
        self.registry = AgentRegistry(bindings: settings.bindings, maxConnectionsPerSubscription: settings.maxConnectionsPerSubscription)
        if case .failure(let error) = trust.reload() { logger.warning("\(error)") }
        if trust.snapshot.thumbprints.isEmpty {
            logger.warning("no trusted agent thumbprints: every polling agent will be rejected; set [polling].trusted_thumbprints or trust_file")
        }
    }

    func count(_ label: String, _ dimensions: [(String, String)]) { counter(label, dimensions) }

    func nextConnectionID() -> PollingConnectionID {
        PollingConnectionID(connectionIDs.withLockedValue { $0 += 1; return $0 })
    }

    // MARK: Lifecycle

    /// Checks the trust file's modification time every few seconds.
    public func start(on eventLoop: EventLoop) {
        guard settings.trustFile != nil else { return }
        let task = eventLoop.scheduleRepeatedTask(initialDelay: settings.trustFilePollInterval, delay: settings.trustFilePollInterval) { [self] _ in
            if let result = trust.reloadIfChanged() { logReload(result, why: "file changed") }
        }
        trustWatcher.withLockedValue { $0 = task }
    }

    /// SIGHUP: re-read the trust file now. Open connections stay.
    public func reloadTrust() {
        logReload(trust.reload(), why: "reload requested")
    }

    /// Fails queued and in-flight calls.
    public func stop() {
        trustWatcher.withLockedValue { $0?.cancel(); $0 = nil }
        queue.shutDown()
    }

    private func logReload(_ result: Result<Int, TrustFileError>, why: String) {
        switch result {
        case .success(let thumbprints):
            logger.notice("polling trust list reloaded", metadata: ["reason": "\(why)", "thumbprints": "\(thumbprints)",
                                                                   "warning": "\(trust.snapshot.fileError ?? "")"])
            count("porthole_polling_trust_reloads_total", [("outcome", "ok")])
        case .failure(let error):
            logger.warning("\(error)")
            count("porthole_polling_trust_reloads_total", [("outcome", "error")])
        }
    }

    // MARK: Calls

    /// Queues a call and completes with the agent's answer or an error.
    public func call(subscription: String, service: String, method: String, params: [BSONValue],
                     outgoingStreams: [HalibutGuid: [UInt8]] = [:], collectionTimeout: TimeAmount? = nil,
                     on eventLoop: EventLoop) -> EventLoopFuture<PollingCallResult> {
        let sequence = callSequence.withLockedValue { $0 += 1; return $0 }
        let bound = settings.bindings.first { $0.subscription == subscription }?.thumbprint
        let request = HalibutRequestMessage(
            id: HalibutRequestMessage.conventionalID(service: service, method: method, sequence: sequence, guid: .random()),
            activityID: .random(),
            endpoint: HalibutServiceEndPoint(baseURI: subscription, remoteThumbprint: bound),
            service: service, method: method, params: params)
        let promise = eventLoop.makePromise(of: PollingCallResult.self)
        queue.enqueue(PollingCall(request: request, outgoingStreams: outgoingStreams), subscription: subscription,
                      collectionTimeout: collectionTimeout ?? settings.collectionTimeout, on: eventLoop) { result in
            promise.completeWith(result.mapError { $0 as Error })
        }
        return promise.futureResult
    }

    // MARK: Pipelines

    /// Raw transport: the byte protocol starts with the `MX` preamble
    /// (stage 2 replays it), or a dedicated listener's first bytes.
    public func installRaw(into pipeline: ChannelPipeline.SynchronousOperations, after: ChannelHandler,
                           thumbprint: String?, remoteAddress: String) throws {
        let handler = PollingSessionHandler(endpoint: self, transport: .raw, thumbprint: thumbprint, remoteAddress: remoteAddress)
        try pipeline.addHandler(handler, position: .after(after))
    }

    /// WebSocket transport: an HTTP/1.1 upgrade on the comms path with
    /// subprotocol `Octopus` (halibut.md §8). A request that does not
    /// upgrade gets the friendly page.
    public func installWebSocket(into pipeline: ChannelPipeline.SynchronousOperations, after: ChannelHandler,
                                 thumbprint: String?, remoteAddress: String) throws {
        let page = settings.friendlyPage
        let commsPath = settings.commsPath
        let upgrader = NIOWebSocketServerUpgrader(
            maxFrameSize: max(1 << 20, min(settings.maxMessageBytes, 1 << 30)),
            automaticErrorHandling: true,
            shouldUpgrade: { channel, head in
                let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
                let offered = head.headers["Sec-WebSocket-Protocol"].flatMap { $0.split(separator: ",") }
                    .map { $0.trimmingCharacters(in: .whitespaces) }
                guard path.lowercased() == commsPath.lowercased() else { return channel.eventLoop.makeSucceededFuture(nil) }
                var headers = HTTPHeaders()
                if offered.contains(where: { $0.caseInsensitiveCompare("Octopus") == .orderedSame }) {
                    headers.add(name: "Sec-WebSocket-Protocol", value: "Octopus")
                }
                return channel.eventLoop.makeSucceededFuture(headers)
            },
            upgradePipelineHandler: { [self] channel, _ in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    if let fallback = try? sync.handler(type: CommsPathFriendlyPageHandler.self) {
                        sync.removeHandler(fallback, promise: nil)
                    }
                    let session = PollingSessionHandler(endpoint: self, transport: .webSocket, thumbprint: thumbprint,
                                                        remoteAddress: remoteAddress)
                    try sync.addHandler(WebSocketPollingAdapter(session: session))
                    try sync.addHandler(session)
                }
            })
        try pipeline.configureHTTPServerPipeline(position: .after(after),
                                                 withServerUpgrade: (upgraders: [upgrader], completionHandler: { _ in }),
                                                 withErrorHandling: true)
        try pipeline.addHandler(CommsPathFriendlyPageHandler(page: page))
    }
}
