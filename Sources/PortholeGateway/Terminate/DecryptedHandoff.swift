import NIOCore
import PortholeTLS

/// What a handler installed after stage 2 knows about its connection.
public struct HandoffContext: Sendable {
    public var session: TLSSessionInfo
    public var clientAddress: String
    public var route: String
    public var listener: String
}

/// The layers behind stage 2 (DESIGN.md "Flow of one connection"). Each
/// method installs its handlers into the pipeline, after the stage-2
/// handler, synchronously on the event loop; stage 2 then replays the bytes
/// it has read and removes itself.
public protocol DecryptedStreamHandlers: Sendable {
    /// HTTP/1.1 to the portal (or the built-in status page).
    func installHTTP1(into pipeline: ChannelPipeline.SynchronousOperations, after: ChannelHandler, context: HandoffContext) throws
    /// HTTP/2 to the portal. nil-returning implementations refuse h2.
    func installHTTP2(into pipeline: ChannelPipeline.SynchronousOperations, after: ChannelHandler, context: HandoffContext) throws -> Bool
    /// The Halibut byte protocol, starting with the `MX` preamble.
    func installPollingRaw(into pipeline: ChannelPipeline.SynchronousOperations, after: ChannelHandler, context: HandoffContext) throws -> Bool
    /// An HTTP/1.1 WebSocket upgrade on the comms path.
    func installPollingWebSocket(into pipeline: ChannelPipeline.SynchronousOperations, after: ChannelHandler, context: HandoffContext) throws -> Bool
}
