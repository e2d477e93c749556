import Logging
import NIOConcurrencyHelpers
import NIOCore
import PortholePolling
import PortholePortal

/// The handlers behind stage 2 that come with the gateway: HTTP/1.1 and
/// HTTP/2 go to the web portal (reverse proxy to `[portal] upstream`, or the
/// built-in status page when there is none; the friendly page on the comms
/// path); agents go to the polling endpoint, or are refused when there is
/// none.
final class BuiltInHandoff: DecryptedStreamHandlers {
    /// Late-bound: the gateway that renders the snapshot is created after us.
    final class SnapshotSource: Sendable {
        /// The closure travels inside a struct on purpose. Kept bare in the
        /// generic box, every `withLockedValue { $0 }` read re-abstracted it
        /// and wrote the wrapper back, so each status page request added two
        /// thunks to the chain the next one walked: the page got slower with
        /// every request and the event loop's stack overflowed after about
        /// 30,000 of them (found by the benchmark harness).
        private struct Provider {
            let make: @Sendable () -> StatusSnapshot
        }
        private let provider = NIOLockedValueBox<Provider?>(nil)

        func set(_ make: @escaping @Sendable () -> StatusSnapshot) { provider.withLockedValue { $0 = Provider(make: make) } }

        func snapshot() -> StatusSnapshot {
            guard let current = provider.withLockedValue({ $0 }) else {
                return StatusSnapshot(startedAt: "", serverThumbprint: "", certificates: [], listeners: [], routes: [],
                                      agents: [], counters: [:])
            }
            return current.make()
        }
    }

    let snapshotSource = SnapshotSource()
    let portal: PortalService
    let polling: PollingEndpoint?

    init(portal: PortalSettings, polling: PollingEndpoint?, logger: Logger, metrics: GatewayMetrics) {
        let source = snapshotSource
        self.portal = PortalService(settings: portal, logger: logger, snapshot: { source.snapshot() },
                                    count: { name, reason in metrics.counter(name, [("reason", reason)]).increment() })
        self.polling = polling
    }

    func installHTTP1(into pipeline: ChannelPipeline.SynchronousOperations, after: ChannelHandler, context: HandoffContext) throws {
        try portal.installHTTP1(into: pipeline, after: after, connection: context.portalConnection)
    }

    func installHTTP2(into pipeline: ChannelPipeline.SynchronousOperations, after: ChannelHandler, context: HandoffContext) throws -> Bool {
        try portal.installHTTP2(into: pipeline, after: after, connection: context.portalConnection)
        return true
    }

    func installPollingRaw(into pipeline: ChannelPipeline.SynchronousOperations, after: ChannelHandler, context: HandoffContext) throws -> Bool {
        guard let polling else { return false }
        try polling.installRaw(into: pipeline, after: after, thumbprint: context.session.peerThumbprint,
                               remoteAddress: context.clientAddress)
        return true
    }

    func installPollingWebSocket(into pipeline: ChannelPipeline.SynchronousOperations, after: ChannelHandler, context: HandoffContext) throws -> Bool {
        guard let polling else { return false }
        try polling.installWebSocket(into: pipeline, after: after, thumbprint: context.session.peerThumbprint,
                                     remoteAddress: context.clientAddress)
        return true
    }
}

extension HandoffContext {
    /// What the portal needs to know of this connection.
    public var portalConnection: PortalConnection {
        PortalConnection(clientAddress: clientAddress, serverName: session.serverName)
    }
}
