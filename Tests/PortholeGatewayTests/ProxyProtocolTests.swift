import Foundation
import PortholeTestSupport
import Testing

/// PROXY protocol in (haproxy proxy-protocol.txt v1 and v2): believed only
/// from trusted sources; the carried address is the client for routing
/// and logs.
@Suite struct ProxyProtocolTests {
    private func harness(mode: String, trusted: String) async throws -> GatewayHarness {
        try await GatewayHarness(toml: """
        [[listener]]
        name = "behind-lb"
        address = "127.0.0.1:0"
        proxy_protocol = "\(mode)"
        proxy_trusted = ["\(trusted)"]

        [[route]]
        name = "lb-clients"
        match = { source = ["203.0.113.0/24"] }
        action = "terminate"

        [[route]]
        name = "others"
        action = "terminate"
        """)
    }

    private func runClient(_ harness: GatewayHarness, _ arguments: [String]) throws -> (status: Int32?, stdout: String, stderr: String) {
        try Peers.python(PythonScripts.tlsClient, ["127.0.0.1", String(harness.port), "--alpn", "http/1.1"] + arguments, timeout: 30)
    }

    @Test(arguments: ["v1", "v2"])
    func headerFromATrustedSource_isTheClientForRoutingAndLogs(version: String) async throws {
        let harness = try await harness(mode: "optional", trusted: "127.0.0.0/8")
        let result = try runClient(harness, ["--proxy", version, "--proxy-source", "203.0.113.7:5555"])
        #expect(result.stdout.contains("STATUS HTTP/1.1 200"), "\(result.stdout) \(result.stderr)")
        let record = harness.decisionRecord(where: ["client": "203.0.113.7:5555"])
        #expect(record?["route"] == "lb-clients")
        #expect(record?["proxy_protocol"] == "true")
        #expect(record?["listener"] == "behind-lb")
        try await harness.stop()
    }

    @Test func requiredHeaderFromATrustedSource_isHonoured() async throws {
        let harness = try await harness(mode: "required", trusted: "127.0.0.0/8")
        let result = try runClient(harness, ["--proxy", "v2", "--proxy-source", "203.0.113.9:4444"])
        #expect(result.stdout.contains("STATUS HTTP/1.1 200"), "\(result.stdout) \(result.stderr)")
        #expect(harness.decisionRecord(where: ["client": "203.0.113.9:4444"])?["route"] == "lb-clients")
        try await harness.stop()
    }

    @Test func headerFromAnUntrustedSource_isClosedAndCounted() async throws {
        let harness = try await harness(mode: "optional", trusted: "10.0.0.0/8")
        let result = try runClient(harness, ["--proxy", "v1", "--proxy-source", "203.0.113.7:5555"])
        #expect(result.status == 3, "\(result.stdout) \(result.stderr)")
        #expect(harness.decisionRecord(where: ["outcome": "proxy_rejected"])?["client"]?.hasPrefix("127.0.0.1:") == true)
        #expect(harness.connectionCount(outcome: "proxy_rejected") == 1)
        #expect(harness.decisionRecord(where: ["route": "lb-clients"], timeout: 0.2) == nil)
        try await harness.stop()
    }

    @Test func requiredModeFromAnUntrustedSource_isClosedAndCounted() async throws {
        let harness = try await harness(mode: "required", trusted: "10.0.0.0/8")
        let result = try runClient(harness, [])
        #expect(result.status == 3, "\(result.stdout) \(result.stderr)")
        #expect(harness.decisionRecord(where: ["outcome": "proxy_rejected"]) != nil)
        #expect(harness.connectionCount(outcome: "proxy_rejected") == 1)
        try await harness.stop()
    }

    @Test func carriedAddress_isWhatAPassthroughPROXYv2HeaderNames() async throws {
        let directory = TemporaryDirectory()
        let upstream = try Peers.startPython(PythonScripts.rawUpstream, ["proxy-echo"], in: directory)
        let upstreamPort = try Peers.announcedPort(of: upstream, prefix: "PORT ")
        let harness = try await GatewayHarness(toml: """
        [[listener]]
        name = "behind-lb"
        address = "127.0.0.1:0"
        proxy_protocol = "optional"
        proxy_trusted = ["127.0.0.0/8"]

        [[route]]
        name = "backend"
        action = "passthrough"
        upstream = "127.0.0.1:\(upstreamPort)"
        proxy_protocol = "v2"
        """, directory: directory)
        let result = try Peers.python(PythonScripts.helloThenRawClient, ["127.0.0.1", String(harness.port),
                                                                         "--proxy-v1-source", "198.51.100.20:6000"])
        #expect(result.stdout.contains("RECEIVED SOURCE 198.51.100.20:6000"), "\(result.stdout) \(upstream.stderr)")
        upstream.stop()
        try await harness.stop()
    }

    @Test func requiredHeaderMissing_isClosedAndCounted() async throws {
        let harness = try await harness(mode: "required", trusted: "127.0.0.0/8")
        let result = try runClient(harness, [])
        #expect(result.status == 3, "\(result.stdout) \(result.stderr)")
        #expect(harness.decisionRecord(where: ["outcome": "proxy_rejected"]) != nil)
        #expect(harness.connectionCount(outcome: "proxy_rejected") == 1)
        try await harness.stop()
    }
}
