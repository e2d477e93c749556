import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import PortholeHTTP2
import PortholePolling

/// The handlers behind stage 2 when no portal upstream is plugged in:
/// HTTP/1.1 and HTTP/2 get the built-in status page (and the friendly page
/// on the comms path); agents go to the polling endpoint, or are refused
/// when there is none.
final class BuiltInHandoff: DecryptedStreamHandlers {
    /// Late-bound: the gateway that renders the snapshot is created after us.
    final class SnapshotSource: Sendable {
        private let source = NIOLockedValueBox<(@Sendable () -> StatusSnapshot)?>(nil)
        func set(_ provider: @escaping @Sendable () -> StatusSnapshot) { source.withLockedValue { $0 = provider } }
        func snapshot() -> StatusSnapshot {
            source.withLockedValue { $0 }?() ?? StatusSnapshot(startedAt: "", serverThumbprint: "", certificates: [], listeners: [],
                                                              routes: [], agents: [], counters: [:])
        }
    }

    let commsPath: String
    let friendlyPage: FriendlyPage
    let statusPaths: Set<String>
    let snapshotSource = SnapshotSource()
    let polling: PollingEndpoint?

    init(commsPath: String, friendlyPage: FriendlyPage, statusPaths: Set<String>, polling: PollingEndpoint?) {
        self.commsPath = commsPath
        self.friendlyPage = friendlyPage
        self.statusPaths = statusPaths
        self.polling = polling
    }

    private var friendlyRoute: FriendlyPageRoute { FriendlyPageRoute(commsPath: commsPath, page: friendlyPage) }

    func installHTTP1(into pipeline: ChannelPipeline.SynchronousOperations, after: ChannelHandler, context: HandoffContext) throws {
        try pipeline.configureHTTPServerPipeline(position: .after(after), withErrorHandling: true)
        let source = snapshotSource
        try pipeline.addHandler(StatusPageHandler(paths: statusPaths, friendly: friendlyRoute, snapshot: { source.snapshot() }))
    }

    func installHTTP2(into pipeline: ChannelPipeline.SynchronousOperations, after: ChannelHandler, context: HandoffContext) throws -> Bool {
        let source = snapshotSource
        let paths = statusPaths
        let friendly = friendlyRoute
        let handler = try HTTP2ServerHandler { request in
            let accept = request.headers.first { $0.name == "accept" }?.value
            let response = StatusPageHandler.response(method: request.method, uri: request.path, accept: accept, paths: paths, friendly: friendly,
                                                      snapshot: { source.snapshot() })
            return HTTP2Response(status: Int(response.status.code),
                                 headers: [("content-type", response.contentType), ("server", PortholeVersion.serverHeader),
                                           ("cache-control", "no-store")] + response.extraHeaders.map { ($0.0, $0.1) },
                                 body: Array(response.body.utf8))
        }
        try pipeline.addHandler(handler, position: .after(after))
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
