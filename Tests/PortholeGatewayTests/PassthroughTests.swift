import Foundation
import PortholeTestSupport
import Testing

/// SNI passthrough end to end: the TLS bytes reach a real upstream
/// untouched, both directions flow with backpressure, half-close and reset
/// travel through.
@Suite struct PassthroughTests {
    /// A gateway passing SNI `backend.example.test` through to `upstream`.
    private func harness(upstream: Int, proxyProtocol: String = "off", directory: TemporaryDirectory) async throws -> GatewayHarness {
        try await GatewayHarness(toml: """
        [[route]]
        name = "backend"
        match = { sni = ["backend.example.test"] }
        action = "passthrough"
        upstream = "127.0.0.1:\(upstream)"
        proxy_protocol = "\(proxyProtocol)"
        connect_timeout = "2s"

        [[route]]
        name = "others"
        action = "terminate"
        """, directory: directory)
    }

    private func startUpstream(_ mode: String, in directory: TemporaryDirectory) throws -> (ChildProcess, Int) {
        let upstream = try Peers.startPython(PythonScripts.rawUpstream, [mode], in: directory)
        return (upstream, try Peers.announcedPort(of: upstream, prefix: "PORT "))
    }

    @Test func mutualTLSToAnOpenSSLBackend_isNotTerminatedInBetween() async throws {
        let directory = TemporaryDirectory()
        let backendIdentity = try OpenSSLTool.makeSelfSigned(in: directory, name: "backend", commonName: "backend.example.test",
                                                             dnsNames: ["backend.example.test"])
        let clientIdentity = try OpenSSLTool.makeSelfSigned(in: directory, name: "client", commonName: "passthrough-client")
        let (backend, backendPort) = try Peers.sServer(certificate: backendIdentity, clientCA: clientIdentity.cert)
        let harness = try await harness(upstream: backendPort, directory: directory)
        let result = try Peers.sClient(port: harness.port, arguments: [
            "-servername", "backend.example.test", "-CAfile", backendIdentity.cert, "-verify_return_error",
            "-verify_hostname", "backend.example.test", "-cert", clientIdentity.cert, "-key", clientIdentity.key,
        ], input: "GET / HTTP/1.0\r\n\r\n", untilServerCloses: true)
        // The client verified the backend's own certificate…
        #expect(result.status == 0, "s_client ended by itself when the backend closed")
        #expect(result.output.contains("Verification: OK"), "\(result.output)")
        // …data flowed both ways after the handshake (s_server's -www page)…
        #expect(result.output.contains("Ciphers supported in s_server binary"))
        #expect(result.output.contains("Verified peername: backend.example.test"))
        #expect(Peers.serverSubjectCN(in: result.output) == "backend.example.test")
        // …and the backend verified the client's: one TLS session end to end.
        #expect(result.output.contains("Acceptable client certificate CA names"))
        #expect(backend.waitForOutput(containing: "CN = passthrough-client", timeout: 5), "\(backend.stdout) \(backend.stderr)")
        let record = harness.decisionRecord(where: ["route": "backend"])
        #expect(record?["action"] == "passthrough")
        #expect(record?["outcome"] == "matched")
        #expect(record?["sni"] == "backend.example.test")
        #expect(record?["peer_thumbprint"] == nil, "Porthole never saw the client certificate")
        backend.stop()
        try await harness.stop()
    }

    @Test func proxyV2ToTheUpstream_carriesTheClientAddress() async throws {
        let directory = TemporaryDirectory()
        let (upstream, upstreamPort) = try startUpstream("proxy-echo", in: directory)
        let harness = try await harness(upstream: upstreamPort, proxyProtocol: "v2", directory: directory)
        let result = try Peers.python(PythonScripts.helloThenRawClient, ["127.0.0.1", String(harness.port)])
        let local = result.stdout.split(separator: "\n").first { $0.hasPrefix("LOCAL ") }?.dropFirst(6)
        #expect(local != nil, "\(result.stdout) \(result.stderr)")
        #expect(result.stdout.contains("RECEIVED SOURCE \(local ?? "?")"), "\(result.stdout) \(upstream.stderr)")
        upstream.stop()
        try await harness.stop()
    }

    @Test func clientHalfClose_upstreamStillAnswers() async throws {
        let directory = TemporaryDirectory()
        let (upstream, upstreamPort) = try startUpstream("count", in: directory)
        let harness = try await harness(upstream: upstreamPort, directory: directory)
        let result = try Peers.python(PythonScripts.helloThenRawClient, ["127.0.0.1", String(harness.port),
                                                                         "--mode", "halfclose", "--payload", "hello"])
        let helloSize = result.stdout.split(separator: "\n").first { $0.hasPrefix("HELLO ") }.flatMap { Int($0.dropFirst(6)) }
        #expect(helloSize != nil, "\(result.stdout) \(result.stderr)")
        #expect(result.stdout.contains("RECEIVED COUNT \((helloSize ?? 0) + 5)"), "\(result.stdout) \(upstream.stderr)")
        upstream.stop()
        try await harness.stop()
    }

    @Test func upstreamReset_reachesTheClientAsAReset() async throws {
        let directory = TemporaryDirectory()
        let (upstream, upstreamPort) = try startUpstream("reset", in: directory)
        let harness = try await harness(upstream: upstreamPort, directory: directory)
        let result = try Peers.python(PythonScripts.helloThenRawClient, ["127.0.0.1", String(harness.port), "--mode", "reset"])
        #expect(result.stdout.contains("RESET"), "\(result.stdout) \(result.stderr)")
        upstream.stop()
        try await harness.stop()
    }

    @Test func clientThatDoesNotRead_keepsGatewayMemoryBounded() async throws {
        let directory = TemporaryDirectory()
        let (upstream, upstreamPort) = try startUpstream("flood", in: directory)
        let harness = try await harness(upstream: upstreamPort, directory: directory)
        let rssBefore = ProcessMetrics.residentBytes()
        let client = try Peers.startPython(PythonScripts.helloThenRawClient, ["127.0.0.1", String(harness.port), "--mode", "stall"],
                                           in: directory)
        // Wait until the upstream is stuck: no progress for half a second.
        func sent() -> Int {
            upstream.stdout.split(separator: "\n").last { $0.hasPrefix("SENT ") || $0.hasPrefix("DONE ") }
                .flatMap { Int($0.split(separator: " ").last ?? "") } ?? 0
        }
        var last = -1
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            usleep(500_000)
            let now = sent()
            if now > 0 && now == last { break }
            last = now
        }
        let grown = ProcessMetrics.residentBytes() - rssBefore
        #expect(sent() > 0, "the upstream sent something: \(upstream.stderr)")
        #expect(sent() < 200 << 20, "the upstream was held back, not drained into memory")
        #expect(!upstream.stdout.contains("DONE"))
        #expect(grown < 64 << 20, "RSS grew by \(grown >> 20) MiB")
        client.stop()
        upstream.stop()
        try await harness.stop()
    }

    @Test func unreachableUpstream_isClosedAndCountedUpstreamConnectFailure() async throws {
        let directory = TemporaryDirectory()
        // A port that was just free: bind, read it, close.
        let (vacated, vacatedPort) = try startUpstream("count", in: directory)
        vacated.stop()
        let harness = try await harness(upstream: vacatedPort, directory: directory)
        let result = try Peers.python(PythonScripts.helloThenRawClient, ["127.0.0.1", String(harness.port)])
        #expect(result.stdout.contains("EOF") || result.stdout.contains("RESET"), "\(result.stdout) \(result.stderr)")
        #expect(harness.decisionRecord(where: ["outcome": "upstream_connect_failure"])?["route"] == "backend")
        #expect(harness.connectionCount(outcome: "upstream_connect_failure", route: "backend") == 1)
        #expect(harness.connectionCount(outcome: "matched") == 0)
        try await harness.stop()
    }
}
