import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// Keep-alive HTTP/1.1 connections to the portal upstream, pooled per event
/// loop: an exchange only uses connections on its client's loop, so both
/// ends of a proxied request run on one thread and need no locks.
final class UpstreamPool: Sendable {
    struct Lease {
        var channel: Channel
        var handler: UpstreamConnectionHandler
        /// Came from the pool (may have been closed by the upstream meanwhile).
        var reused: Bool
    }

    private let upstream: PortalSettings.Upstream
    private let connectTimeout: TimeAmount
    private let idleTimeout: TimeAmount
    private let maxIdlePerLoop: Int
    private let idle = NIOLockedValueBox<[ObjectIdentifier: [Channel]]>([:])

    init(upstream: PortalSettings.Upstream, settings: PortalSettings) {
        self.upstream = upstream
        self.connectTimeout = settings.connectTimeout
        self.idleTimeout = settings.idleTimeout
        self.maxIdlePerLoop = settings.maxIdleConnectionsPerLoop
    }

    /// A connection on `eventLoop`: an idle pooled one (answered at once),
    /// or a new one. Call on `eventLoop`; `done` runs there.
    func acquire(on eventLoop: EventLoop, for sink: UpstreamResponseSink, _ done: @escaping (Result<Lease, Error>) -> Void) {
        let key = ObjectIdentifier(eventLoop)
        while let channel = idle.withLockedValue({ $0[key]?.popLast() }) {
            guard channel.isActive, let handler = try? channel.pipeline.syncOperations.handler(type: UpstreamConnectionHandler.self) else {
                continue
            }
            handler.unpark(for: sink)
            done(.success(Lease(channel: channel, handler: handler, reused: true)))
            return
        }
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(connectTimeout)
            .channelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(HTTPRequestEncoder())
                    // forwardBytes: after a 101 the WebSocket bytes that came
                    // with the response head go on to the splice.
                    try sync.addHandler(ByteToMessageHandler(HTTPResponseDecoder(leftOverBytesStrategy: .forwardBytes)),
                                        name: UpstreamPool.decoderName)
                    try sync.addHandler(UpstreamConnectionHandler())
                }
            }
        let connected: EventLoopFuture<Channel>
        switch upstream {
        case .tcp(let host, let port):
            connected = bootstrap.channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1).connect(host: host, port: port)
        case .unix(let path):
            connected = bootstrap.connect(unixDomainSocketPath: path)
        }
        connected.assumeIsolated().whenComplete { [idle] result in
            done(result.flatMap { channel in
                channel.closeFuture.whenComplete { _ in
                    idle.withLockedValue { idle in idle[key]?.removeAll { $0 === channel } }
                }
                return Result {
                    let handler = try channel.pipeline.syncOperations.handler(type: UpstreamConnectionHandler.self)
                    handler.unpark(for: sink)
                    return Lease(channel: channel, handler: handler, reused: false)
                }
            })
        }
    }

    /// Back into the pool after a complete exchange with keep-alive.
    func release(_ lease: Lease) {
        let channel = lease.channel
        guard channel.isActive else { return }
        let key = ObjectIdentifier(channel.eventLoop)
        let kept = idle.withLockedValue { idle -> Bool in
            guard idle[key, default: []].count < maxIdlePerLoop else { return false }
            idle[key, default: []].append(channel)
            return true
        }
        guard kept else {
            channel.close(promise: nil)
            return
        }
        lease.handler.park(timeout: idleTimeout)
    }

    static let decoderName = "porthole-upstream-response-decoder"
}
