import NIOCore
import NIOEmbedded
import PortholeTLS
import Testing

/// The client role of `TLSHandler` against the server role, both in
/// EmbeddedChannels with the ciphertext shuttled between them: SNI, no ALPN,
/// the client certificate, and the pinned server thumbprint (halibut.md §1).
@Suite struct TLSClientHandlerTests {
    /// Records what reaches the end of a pipeline.
    final class Recorder: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        var session: TLSSessionInfo?
        var errors: [Error] = []
        var plaintext = ""

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if let event = event as? TLSHandshakeCompletedEvent { session = event.session }
        }
        func errorCaught(context: ChannelHandlerContext, error: Error) { errors.append(error) }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            plaintext += String(buffer: unwrapInboundIn(data))
        }
    }

    struct Pair {
        let client: EmbeddedChannel
        let server: EmbeddedChannel
        let clientRecorder = Recorder()
        let serverRecorder = Recorder()
        let serverHandler: TLSHandler

        init(pinnedThumbprint: String, serverHost: String = "localhost") throws {
            let serverIdentity = try CertificateIdentity.load(certPath: Fixtures.path("octopus-server.crt"),
                                                              keyPath: Fixtures.path("octopus-server.key"))
            let agentIdentity = try CertificateIdentity.load(certPath: Fixtures.path("tentacle-client.crt"),
                                                             keyPath: Fixtures.path("tentacle-client.key"))
            let serverContext = try TLSServerContext(configuration: TLSServerConfiguration(
                certificates: [TLSCertificateEntry(name: "server", identity: serverIdentity, serverNames: [])]))
            let clientContext = try TLSClientContext(configuration: TLSClientConfiguration(identity: agentIdentity))
            server = EmbeddedChannel()
            client = EmbeddedChannel()
            serverHandler = try TLSHandler(context: serverContext,
                                           policy: TLSConnectionPolicy(alpnProtocols: ["h2", "http/1.1"], clientCertificate: .auto))
            try server.pipeline.syncOperations.addHandlers(serverHandler, serverRecorder)
            try server.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
            try client.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 2)).wait()
            try client.pipeline.syncOperations.addHandlers(
                TLSHandler(client: clientContext, options: TLSClientConnectionOptions(serverHost: serverHost, pinnedServerThumbprint: pinnedThumbprint)),
                clientRecorder)
        }

        /// Moves ciphertext both ways until neither side has more to say.
        func shuttle() throws {
            for _ in 0..<20 {
                var moved = false
                while let bytes = try client.readOutbound(as: ByteBuffer.self) { try server.writeInbound(bytes); moved = true }
                while let bytes = try server.readOutbound(as: ByteBuffer.self) { try client.writeInbound(bytes); moved = true }
                if !moved { return }
            }
        }
    }

    @Test func clientHandshake_sendsSNIAndNoALPN_presentsItsCertificate_andAcceptsThePinnedServer() throws {
        let serverThumbprint = try Thumbprint.ofFile(path: Fixtures.path("octopus-server.crt"))
        let pair = try Pair(pinnedThumbprint: serverThumbprint.lowercased())
        try pair.shuttle()
        #expect(pair.clientRecorder.errors.isEmpty, "\(pair.clientRecorder.errors)")
        #expect(pair.clientRecorder.session?.peerThumbprint == serverThumbprint)
        let serverSide = pair.serverRecorder.session
        #expect(serverSide?.serverName == "localhost")
        #expect(serverSide?.clientOfferedALPN == false)
        #expect(serverSide?.negotiatedALPN == nil)
        #expect(serverSide?.peerThumbprint == (try Thumbprint.ofFile(path: Fixtures.path("tentacle-client.crt"))))

        // Application data flows both ways.
        try pair.client.writeAndFlush(ByteBuffer(string: "MX\r\n\r\n")).wait()
        try pair.server.writeAndFlush(ByteBuffer(string: "MX-SERVER 1.0\r\n\r\n")).wait()
        try pair.shuttle()
        #expect(pair.serverRecorder.plaintext == "MX\r\n\r\n")
        #expect(pair.clientRecorder.plaintext == "MX-SERVER 1.0\r\n\r\n")
    }

    @Test func clientHandshake_withAnIPLiteral_sendsNoSNI() throws {
        let pair = try Pair(pinnedThumbprint: try Thumbprint.ofFile(path: Fixtures.path("octopus-server.crt")), serverHost: "127.0.0.1")
        try pair.shuttle()
        #expect(pair.serverRecorder.session != nil)
        #expect(pair.serverRecorder.session?.serverName == nil)
    }

    @Test func clientHandshake_withAnotherPinnedThumbprint_failsNamingBothThumbprints() throws {
        let wrong = try Thumbprint.ofFile(path: Fixtures.path("untrusted-client.crt"))
        let pair = try Pair(pinnedThumbprint: wrong)
        try? pair.shuttle()
        #expect(pair.clientRecorder.session == nil)
        let failure = pair.clientRecorder.errors.compactMap { $0 as? TLSHandshakeError }.first
        #expect(failure?.reason == "server_thumbprint_mismatch")
        #expect(failure?.detail.contains(wrong) == true)
        #expect(failure?.detail.contains(try Thumbprint.ofFile(path: Fixtures.path("octopus-server.crt"))) == true)
        #expect(pair.serverRecorder.session == nil)
    }

    /// Memory BIOs keep the largest buffer they ever held; an idle
    /// connection (a polling agent, for days) must not keep its handshake
    /// flights or its last burst.
    @Test func afterTheHandshakeAndAfterABurst_theMemoryBIOsGiveTheirBuffersBack() throws {
        let pair = try Pair(pinnedThumbprint: try Thumbprint.ofFile(path: Fixtures.path("octopus-server.crt")))
        try pair.shuttle()
        #expect(pair.serverRecorder.session != nil)
        #expect(pair.serverHandler.bufferedCapacity == 0)

        let burst = String(repeating: "x", count: 200_000)
        try pair.client.writeAndFlush(ByteBuffer(string: burst)).wait()
        try pair.shuttle()
        #expect(pair.serverRecorder.plaintext == burst)
        #expect(pair.serverHandler.bufferedCapacity <= TLSHandler.retainedBufferLimit)

        // The connection works on after its BIOs were swapped, both ways.
        try pair.client.writeAndFlush(ByteBuffer(string: "after")).wait()
        try pair.server.writeAndFlush(ByteBuffer(string: "reply")).wait()
        try pair.shuttle()
        #expect(pair.serverRecorder.plaintext == burst + "after")
        #expect(pair.clientRecorder.plaintext == "reply")
    }
}
