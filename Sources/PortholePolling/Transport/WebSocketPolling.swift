import NIOCore
import NIOHTTP1
import NIOWebSocket

/// Between the WebSocket frame codec and the `PollingSessionHandler`
/// (halibut.md §8): waits for the text message `MX`, then passes the
/// payload of every binary/continuation frame on as it arrives (the .NET
/// agent's one binary message never ends, so FIN is never awaited), and
/// wraps each unit the session writes in one complete binary frame.
final class WebSocketPollingAdapter: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = WebSocketFrame

    private enum State {
        case awaitingPreamble(text: String)
        case streaming
        case closing
    }

    private var state: State = .awaitingPreamble(text: "")
    private let session: PollingSessionHandler

    init(session: PollingSessionHandler) {
        self.session = session
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .ping:
            let pong = WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)
            context.writeAndFlush(wrapOutboundOut(pong), promise: nil)
        case .pong:
            return  // §8: unsolicited pongs are ignored
        case .connectionClose:
            closeNormally(context: context)
        case .text, .continuation, .binary:
            handleData(frame, context: context)
        default:
            closeNormally(context: context)
        }
    }

    private func handleData(_ frame: WebSocketFrame, context: ChannelHandlerContext) {
        switch state {
        case .awaitingPreamble(var text):
            guard frame.opcode == .text || (frame.opcode == .continuation && !text.isEmpty) else {
                // Binary before the `MX` text message: not an agent.
                return closeNormally(context: context)
            }
            text += String(decoding: frame.unmaskedData.readableBytesView, as: UTF8.self)
            guard text.utf8.count <= 64 else { return closeNormally(context: context) }
            guard frame.fin else {
                state = .awaitingPreamble(text: text)
                return
            }
            guard text.hasPrefix("MX") else { return closeNormally(context: context) }
            state = .streaming
            guard let sessionContext = try? context.pipeline.syncOperations.context(handler: session) else {
                return closeNormally(context: context)
            }
            session.startAfterWebSocketPreamble(context: sessionContext)
        case .streaming:
            let payload = frame.unmaskedData
            if payload.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(payload)) }
        case .closing:
            return
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let frame = WebSocketFrame(fin: true, opcode: .binary, data: unwrapOutboundIn(data))
        context.write(wrapOutboundOut(frame), promise: promise)
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        guard mode == .all, case .streaming = state else { return context.close(mode: mode, promise: promise) }
        // Close frame (normal closure) first, then the connection (§8).
        state = .closing
        var payload = context.channel.allocator.buffer(capacity: 2)
        payload.write(webSocketErrorCode: .normalClosure)
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: payload)))
            .whenComplete { _ in loopBound.value.close(mode: mode, promise: promise) }
    }

    private func closeNormally(context: ChannelHandlerContext) {
        context.close(promise: nil)
    }
}

/// Answers any plain HTTP request that reaches the comms path without an
/// upgrade with the friendly page, as an ordinary HTTP/1.1 200 (§8).
final class CommsPathFriendlyPageHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let page: FriendlyPage

    init(page: FriendlyPage) {
        self.page = page
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let head) = unwrapInboundIn(data) else { return }
        Self.writePage(page, version: head.version, keepAlive: false, context: context, wrap: wrapOutboundOut)
    }

    static func writePage(_ page: FriendlyPage, version: HTTPVersion, keepAlive: Bool, context: ChannelHandlerContext,
                          wrap: (HTTPServerResponsePart) -> NIOAny) {
        let body = Array(page.html.utf8)
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "text/html; charset=utf-8")
        headers.add(name: "Content-Length", value: String(body.count))
        for (name, value) in page.headers { headers.add(name: name, value: value) }
        headers.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
        context.write(wrap(.head(HTTPResponseHead(version: version, status: .ok, headers: headers))), promise: nil)
        var buffer = context.channel.allocator.buffer(capacity: body.count)
        buffer.writeBytes(body)
        context.write(wrap(.body(.byteBuffer(buffer))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrap(.end(nil))).whenComplete { _ in if !keepAlive { channel.close(promise: nil) } }
    }
}
