import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import PortholeHTTP2

/// The handlers behind stage 2 when no portal upstream or polling endpoint
/// is plugged in: HTTP/1.1 gets the built-in status page; HTTP/2 and the
/// polling protocol are refused (the portal and polling layers provide
/// their own `DecryptedStreamHandlers`).
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

    init(commsPath: String, friendlyPage: FriendlyPage, statusPaths: Set<String>) {
        self.commsPath = commsPath
        self.friendlyPage = friendlyPage
        self.statusPaths = statusPaths
    }

    func installHTTP1(into pipeline: ChannelPipeline.SynchronousOperations, after: ChannelHandler, context: HandoffContext) throws {
        try pipeline.configureHTTPServerPipeline(position: .after(after), withErrorHandling: true)
        let source = snapshotSource
        try pipeline.addHandler(StatusPageHandler(paths: statusPaths, snapshot: { source.snapshot() }))
    }

    func installHTTP2(into pipeline: ChannelPipeline.SynchronousOperations, after: ChannelHandler, context: HandoffContext) throws -> Bool {
        let source = snapshotSource
        let paths = statusPaths
        let handler = try HTTP2ServerHandler { request in
            let accept = request.headers.first { $0.name == "accept" }?.value
            let response = StatusPageHandler.response(method: request.method, uri: request.path, accept: accept, paths: paths,
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
        false
    }

    func installPollingWebSocket(into pipeline: ChannelPipeline.SynchronousOperations, after: ChannelHandler, context: HandoffContext) throws -> Bool {
        false
    }
}
