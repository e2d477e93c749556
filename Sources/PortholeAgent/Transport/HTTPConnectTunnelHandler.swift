import Foundation
import NIOCore

/// Why the way to the server's protocol could not be opened.
public enum AgentTransportError: Error, Sendable, CustomStringConvertible {
    /// The HTTP CONNECT tunnel through the proxy (halibut.md §9).
    case proxyTunnel(String)
    /// The WebSocket upgrade on the comms path (§8).
    case webSocketUpgrade(String)

    public var description: String {
        switch self {
        case .proxyTunnel(let detail): return "HTTP proxy tunnel failed: \(detail)"
        case .webSocketUpgrade(let detail): return "WebSocket upgrade failed: \(detail)"
        }
    }
}

/// Opens a tunnel through an HTTP proxy (halibut.md §9): sends
/// `CONNECT host:port HTTP/1.0` (+ `Host`, optional `Proxy-Authorization:
/// Basic`), reads the proxy's answer up to its empty line, and succeeds
/// `tunnelReady` on a 2xx status. It then removes itself; TLS starts on the
/// tunnel. Bytes after the answer (none are expected: the server waits for
/// our ClientHello) are passed on.
final class HTTPConnectTunnelHandler: StartsWhenActive, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// A proxy answer longer than this is not an HTTP status line and headers.
    static let maximumAnswerBytes = 16 * 1024

    private let target: String
    private let credentials: String?
    private let tunnelReady: EventLoopPromise<Void>
    private var answer: ByteBuffer?
    private var done = false

    init(target: String, credentials: String?, tunnelReady: EventLoopPromise<Void>) {
        self.target = target
        self.credentials = credentials
        self.tunnelReady = tunnelReady
    }

    private var requestSent = false

    func startSpeaking(context: ChannelHandlerContext) {
        guard !requestSent else { return }
        requestSent = true
        var request = "CONNECT \(target) HTTP/1.0\r\nHost: \(target)\r\n"
        if let credentials {
            request += "Proxy-Authorization: Basic \(Data(credentials.utf8).base64EncodedString())\r\n"
        }
        request += "\r\n"
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: request)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !done else { return context.fireChannelRead(data) }
        var incoming = unwrapInboundIn(data)
        if answer == nil { answer = incoming } else { answer!.writeBuffer(&incoming) }
        guard var buffer = answer else { return }
        let view = buffer.readableBytesView
        guard let end = view.firstRange(of: [0x0D, 0x0A, 0x0D, 0x0A]) ?? view.firstRange(of: [0x0A, 0x0A]) else {
            if buffer.readableBytes > Self.maximumAnswerBytes {
                fail(context: context, "the proxy's answer has no end of headers within \(Self.maximumAnswerBytes) bytes")
            }
            return
        }
        let headLength = end.upperBound - view.startIndex
        let head = buffer.readString(length: headLength) ?? ""
        let statusLine = head.split(whereSeparator: { $0 == "\r" || $0 == "\n" }).first.map(String.init) ?? ""
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
            return fail(context: context, "the proxy did not answer with an HTTP status line (got \(String(reflecting: statusLine)))")
        }
        guard (200..<300).contains(status) else {
            return fail(context: context, "the proxy refused CONNECT \(target): \(statusLine)")
        }
        done = true
        answer = nil
        tunnelReady.succeed()
        if buffer.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(buffer)) }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !done { fail(context: context, "the proxy closed the connection before answering CONNECT \(target)") }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if !done { fail(context: context, "\(error)") } else { context.fireErrorCaught(error) }
    }

    private func fail(context: ChannelHandlerContext, _ detail: String) {
        guard !done else { return }
        done = true
        tunnelReady.fail(AgentTransportError.proxyTunnel(detail))
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension HTTPConnectTunnelHandler: Sendable {}
