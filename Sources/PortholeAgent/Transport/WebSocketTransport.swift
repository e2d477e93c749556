import NIOCore
import NIOHTTP1
import NIOWebSocket

/// Sends the agent's upgrade request (halibut.md §8): `GET <comms path>`
/// with `Sec-WebSocket-Protocol: Octopus` and an `X-Octopus-RequestId`;
/// NIO's client upgrader adds the WebSocket headers and checks the 101. A
/// response that is not an upgrade arrives here and ends the connection.
final class WebSocketUpgradeRequestHandler: StartsWhenActive, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    /// Its name in the pipeline, to remove it once the upgrade is done.
    static let name = "porthole.agent.websocket-upgrade-request"

    private let host: String
    private let path: String
    private let requestID: String
    private var sent = false

    init(host: String, path: String, requestID: String) {
        self.host = host
        self.path = path
        self.requestID = requestID
    }

    func startSpeaking(context: ChannelHandlerContext) {
        guard !sent else { return }
        sent = true
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: host)
        headers.add(name: "Sec-WebSocket-Protocol", value: "Octopus")
        headers.add(name: "X-Octopus-RequestId", value: requestID)
        headers.add(name: "Content-Length", value: "0")
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let head) = unwrapInboundIn(data) {
            context.fireErrorCaught(AgentTransportError.webSocketUpgrade(
                "the server answered \(head.status.code) \(head.status.reasonPhrase) instead of 101 Switching Protocols; "
                    + "check the comms path and that the port serves polling over WebSocket"))
            context.close(promise: nil)
        }
    }
}

/// Carries the byte protocol inside WebSocket frames (halibut.md §8): first
/// one text message `MX`, then every write becomes one binary frame. Like
/// the .NET agent, it sends one binary message that never ends (first frame
/// opcode binary, then continuations, all with FIN=0) unless
/// `finalFrames` is set. Incoming binary and continuation payloads go up as
/// they arrive, whatever their FIN bit; pongs are ignored, pings answered.
final class WebSocketByteStreamHandler: ChannelDuplexHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = WebSocketFrame

    private let finalFrames: Bool
    private var sentFirstBinaryFrame = false
    private var closeSent = false

    init(finalFrames: Bool = false) {
        self.finalFrames = finalFrames
    }

    func handlerAdded(context: ChannelHandlerContext) {
        // Handlers after this one are added later in the same call and write
        // their preamble then, so the text `MX` is surely first.
        let mx = context.channel.allocator.buffer(string: "MX")
        context.writeAndFlush(wrapOutboundOut(frame(.text, fin: true, mx)), promise: nil)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let payload = unwrapOutboundIn(data)
        let opcode: WebSocketOpcode = sentFirstBinaryFrame && !finalFrames ? .continuation : .binary
        sentFirstBinaryFrame = true
        context.write(wrapOutboundOut(frame(opcode, fin: finalFrames, payload)), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let incoming = unwrapInboundIn(data)
        switch incoming.opcode {
        case .binary, .continuation:
            let payload = incoming.unmaskedData
            if payload.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(payload)) }
        case .ping:
            context.writeAndFlush(wrapOutboundOut(frame(.pong, fin: true, incoming.unmaskedData)), promise: nil)
        case .pong:
            break
        case .connectionClose:
            if !closeSent {
                closeSent = true
                var code = context.channel.allocator.buffer(capacity: 2)
                code.write(webSocketErrorCode: .normalClosure)
                context.writeAndFlush(wrapOutboundOut(frame(.connectionClose, fin: true, code)), promise: nil)
            }
            context.close(promise: nil)
        default:
            // A text message after the handshake is not part of the protocol.
            context.fireErrorCaught(AgentTransportError.webSocketUpgrade("unexpected WebSocket \(incoming.opcode) frame from the server"))
            context.close(promise: nil)
        }
    }

    /// Client frames must be masked (RFC 6455 §5.3).
    private func frame(_ opcode: WebSocketOpcode, fin: Bool, _ payload: ByteBuffer) -> WebSocketFrame {
        WebSocketFrame(fin: fin, opcode: opcode, maskKey: .random(), data: payload)
    }
}

@available(*, unavailable)
extension WebSocketUpgradeRequestHandler: Sendable {}

@available(*, unavailable)
extension WebSocketByteStreamHandler: Sendable {}
