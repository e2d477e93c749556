import Foundation
import PortholeTestSupport
import Testing

/// Stage 1 end to end: real clients whose first bytes arrive in awkward
/// shapes, and what the gateway decides, logs and counts for each.
@Suite struct SniffingTests {
    /// Two terminate routes told apart only by SNI: the decision record's
    /// `route` shows whether the whole ClientHello was read.
    static let routesBySNI = """
    [[route]]
    name = "split"
    match = { sni = ["split.example.test"] }
    action = "terminate"

    [[route]]
    name = "others"
    action = "terminate"
    """

    private func runClient(_ harness: GatewayHarness, _ arguments: [String]) throws -> (status: Int32?, stdout: String, stderr: String) {
        try Peers.python(PythonScripts.tlsClient, ["127.0.0.1", String(harness.port)] + arguments, timeout: 30)
    }

    @Test func helloSplitAcrossThreeRecordsAndTenSegments_routesBySNI() async throws {
        let harness = try await GatewayHarness(toml: Self.routesBySNI)
        let result = try runClient(harness, ["--sni", "split.example.test", "--alpn", "http/1.1",
                                             "--records", "3", "--segments", "10", "--pause", "0.05"])
        #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
        #expect(result.stdout.contains("STATUS HTTP/1.1 200"))
        let record = harness.decisionRecord(where: ["sni": "split.example.test"])
        #expect(record?["route"] == "split", "\(harness.decisionRecords)")
        #expect(record?["outcome"] == "matched")
        #expect(record?["alpn_offered"] == "http/1.1")
        try await harness.stop()
    }

    @Test func helloWrittenOneByteAtATime_routesBySNI() async throws {
        let harness = try await GatewayHarness(toml: Self.routesBySNI)
        let result = try runClient(harness, ["--sni", "split.example.test", "--alpn", "http/1.1",
                                             "--segments", "0", "--pause", "0.0005"])
        #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
        #expect(result.stdout.contains("STATUS HTTP/1.1 200"))
        #expect(harness.decisionRecord(where: ["sni": "split.example.test"])?["route"] == "split")
        try await harness.stop()
    }

    @Test func twoKiBHello_routesBySNI() async throws {
        let harness = try await GatewayHarness(toml: Self.routesBySNI)
        // Nine 214-byte dummy ALPN names: about the size of a hello with a
        // post-quantum key share.
        let result = try runClient(harness, ["--sni", "split.example.test", "--alpn", "http/1.1", "--alpn-padding", "9",
                                             "--records", "2", "--segments", "4"])
        #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
        #expect(result.stdout.contains("ALPN http/1.1"))
        let record = harness.decisionRecord(where: ["sni": "split.example.test"])
        #expect(record?["route"] == "split")
        #expect(Int(record?["sniff_bytes"] ?? "") ?? 0 > 2048)
        try await harness.stop()
    }

    @Test func helloLargerThanSniffMaxBytes_isClosedAndCountedTooLarge() async throws {
        let harness = try await GatewayHarness(toml: Self.routesBySNI, server: "sniff_max_bytes = 1024")
        let result = try runClient(harness, ["--sni", "split.example.test", "--alpn-padding", "9"])
        #expect(result.status == 3 && result.stdout.contains("CLOSED"), "\(result.stdout) \(result.stderr)")
        #expect(harness.decisionRecord(where: ["outcome": "too_large"]) != nil)
        #expect(harness.connectionCount(outcome: "too_large") == 1)
        try await harness.stop()
    }

    @Test func silentClient_hitsTheSniffTimeout_slowValidClientIsUnaffected() async throws {
        let harness = try await GatewayHarness(toml: Self.routesBySNI, server: "sniff_timeout = \"1s\"")
        let silent = try Peers.startPython(PythonScripts.bytesClient, ["127.0.0.1", String(harness.port)], in: harness.directory)
        // 10 segments 30 ms apart: slow, but well within its own 1 s.
        let slow = try runClient(harness, ["--sni", "split.example.test", "--segments", "10", "--pause", "0.03"])
        #expect(slow.status == 0, "\(slow.stdout) \(slow.stderr)")
        #expect(slow.stdout.contains("STATUS HTTP/1.1 200"))
        #expect(silent.wait(timeout: 10) == 0)
        #expect(silent.stdout.hasPrefix("EOF"))
        let timedOut = harness.decisionRecord(where: ["outcome": "sniff_timeout"])
        #expect(timedOut?["sniff_bytes"] == "0")
        #expect(harness.connectionCount(outcome: "sniff_timeout") == 1)
        #expect(harness.decisionRecord(where: ["route": "split"])?["outcome"] == "matched")
        try await harness.stop()
    }

    @Test func routedConnectionIdleLongerThanTheSniffTimeout_keepsWorking() async throws {
        let harness = try await GatewayHarness(server: "sniff_timeout = \"500ms\"")
        let result = try runClient(harness, ["--alpn", "http/1.1", "--requests", "2", "--idle", "1.2"])
        #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
        #expect(result.stdout.components(separatedBy: "STATUS HTTP/1.1 200").count == 3, "\(result.stdout)")
        try await harness.stop()
    }

    @Test func terminatedConnectionSilentBeforeItsFirstRequest_outlivesTheSniffTimeout() async throws {
        // Browsers open connections ahead of need: only the stage-1 sniff is
        // bound by sniff_timeout; after the handshake [portal].idle_timeout applies.
        let harness = try await GatewayHarness(server: "sniff_timeout = \"300ms\"")
        let result = try runClient(harness, ["--alpn", "http/1.1", "--idle", "1.0", "--idle-first"])
        #expect(result.stdout.contains("STATUS HTTP/1.1 200"), "\(result.stdout) \(result.stderr)")
        try await harness.stop()
    }

    @Test func terminatedConnectionSilentPastTheIdleTimeout_isClosed() async throws {
        let harness = try await GatewayHarness(toml: """
        [portal]
        idle_timeout = "300ms"
        """)
        let result = try runClient(harness, ["--alpn", "http/1.1", "--idle", "1.2", "--idle-first"])
        #expect(result.stdout.contains("CLOSED"), "\(result.stdout) \(result.stderr)")
        #expect(harness.waitForDecisionRecords(1).first?["reason"]?.contains("nothing after the handshake") == true)
        try await harness.stop()
    }

    @Test func garbageFirstBytes_areClosedAndCountedNotTLS() async throws {
        let harness = try await GatewayHarness()
        let result = try Peers.python(PythonScripts.bytesClient, ["127.0.0.1", String(harness.port),
                                                                  "000102030405060708090a0b0c0d0e0f1011"])
        #expect(result.stdout.hasPrefix("EOF") || result.stdout.hasPrefix("RESET"), "\(result.stdout) \(result.stderr)")
        #expect(harness.decisionRecord(where: ["outcome": "not_tls"]) != nil)
        #expect(harness.connectionCount(outcome: "not_tls") == 1)
        try await harness.stop()
    }

    @Test func malformedClientHello_isClosedAndCountedMalformed() async throws {
        let harness = try await GatewayHarness()
        // A handshake record holding a ClientHello of 2 bytes: too short for
        // version and random (RFC 8446 §4.1.2).
        let result = try Peers.python(PythonScripts.bytesClient, ["127.0.0.1", String(harness.port), "160301000601000002030300"])
        #expect(result.stdout.hasPrefix("EOF") || result.stdout.hasPrefix("RESET"), "\(result.stdout) \(result.stderr)")
        #expect(harness.decisionRecord(where: ["outcome": "malformed"]) != nil)
        #expect(harness.connectionCount(outcome: "malformed") == 1)
        try await harness.stop()
    }

    @Test func helloMatchingNoRoute_isClosedAndCountedNoRoute() async throws {
        let harness = try await GatewayHarness(toml: """
        [[route]]
        name = "only"
        match = { sni = ["only.example.test"] }
        action = "terminate"
        """)
        let result = try runClient(harness, ["--sni", "other.example.test"])
        #expect(result.stdout.contains("CLOSED"), "\(result.stdout) \(result.stderr)")
        #expect(harness.decisionRecord(where: ["outcome": "no_route"])?["sni"] == "other.example.test")
        #expect(harness.connectionCount(outcome: "no_route") == 1)
        try await harness.stop()
    }

    @Test func failedHandshake_isCountedHandshakeFailureNotMatched() async throws {
        let harness = try await GatewayHarness()
        _ = try Peers.sClient(port: harness.port, arguments: ["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"])
        #expect(harness.decisionRecord(where: ["outcome": "handshake_failure"])?["route"] == "default")
        #expect(harness.connectionCount(outcome: "handshake_failure", route: "default") == 1)
        #expect(harness.connectionCount(outcome: "matched") == 0)
        try await harness.stop()
    }

    @Test func connectionsBeyondMaxConnections_areClosedAndCountedOverloaded() async throws {
        let harness = try await GatewayHarness(server: "max_connections = 1")
        let holder = try Peers.startPython(PythonScripts.bytesClient, ["127.0.0.1", String(harness.port)], in: harness.directory)
        let deadline = Date().addingTimeInterval(10)
        while harness.gateway.openConnections < 1 && Date() < deadline { usleep(10_000) }
        let refused = try Peers.python(PythonScripts.bytesClient, ["127.0.0.1", String(harness.port)])
        #expect(refused.stdout.hasPrefix("EOF") || refused.stdout.hasPrefix("RESET"), "\(refused.stdout) \(refused.stderr)")
        #expect(harness.connectionCount(outcome: "overloaded") == 1)
        holder.stop()
        try await harness.stop()
    }

    @Test func plainHTTPOnTheTLSPort_isRedirectedToHTTPS() async throws {
        let harness = try await GatewayHarness()
        let result = try Peers.curl(["-i", "http://127.0.0.1:\(harness.port)/x?y"])
        #expect(result.stdout.hasPrefix("HTTP/1.1 308"), "\(result.stdout)")
        #expect(result.stdout.contains("Location: https://127.0.0.1:\(harness.port)/x?y"))
        #expect(harness.decisionRecord(where: ["outcome": "plain_http"])?["action"] == "plain-http")
        #expect(harness.connectionCount(outcome: "plain_http") == 1)
        try await harness.stop()
    }

    @Test func plainHTTPWithRejectPolicy_gets400() async throws {
        let harness = try await GatewayHarness(server: "plain_http = \"reject\"")
        let result = try Peers.curl(["-i", "http://127.0.0.1:\(harness.port)/x?y"])
        #expect(result.stdout.hasPrefix("HTTP/1.1 400"), "\(result.stdout)")
        #expect(!result.stdout.contains("Location:"))
        try await harness.stop()
    }

    @Test func autoClientCertificatePolicy_asksOnlyClientsWithoutALPN() async throws {
        let harness = try await GatewayHarness()
        let agentLike = try Peers.sClient(port: harness.port, arguments: ["-msg"])
        let browserLike = try Peers.sClient(port: harness.port, arguments: ["-msg", "-alpn", "h2,http/1.1"])
        #expect(agentLike.output.contains("CertificateRequest"))
        #expect(browserLike.output.contains("ALPN protocol: h2"))
        #expect(!browserLike.output.contains("CertificateRequest"))
        try await harness.stop()
    }

    @Test func sniffTimeoutWithARoute_handsTheSilentClientToThatRoute() async throws {
        let directory = TemporaryDirectory()
        let upstream = try Peers.startPython(PythonScripts.rawUpstream, ["banner"], in: directory)
        let upstreamPort = try Peers.announcedPort(of: upstream, prefix: "PORT ")
        let harness = try await GatewayHarness(toml: """
        [[route]]
        name = "server-speaks-first"
        match = { sni = ["never.example.test"] }
        action = "passthrough"
        upstream = "127.0.0.1:\(upstreamPort)"

        [[route]]
        name = "everything"
        action = "terminate"
        """, server: "sniff_timeout = \"300ms\"\non_sniff_timeout = \"server-speaks-first\"", directory: directory)
        let result = try Peers.python(PythonScripts.bytesClient, ["127.0.0.1", String(harness.port)])
        #expect(result.stdout.contains("BANNER"), "\(result.stdout) \(result.stderr)")
        let record = harness.decisionRecord(where: ["route": "server-speaks-first"])
        #expect(record?["outcome"] == "sniff_timeout")
        #expect(record?["action"] == "passthrough")
        #expect(harness.connectionCount(outcome: "sniff_timeout", route: "server-speaks-first") == 1)
        upstream.stop()
        try await harness.stop()
    }
}
