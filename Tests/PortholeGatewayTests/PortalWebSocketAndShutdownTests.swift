import Foundation
import PortholeTestSupport
import Testing

/// WebSocket upgrades spliced to the upstream, and graceful shutdown of
/// HTTP/2 connections.
@Suite struct PortalWebSocketAndShutdownTests {
    @Test func webSocketEcho_throughPortholeToTheUpstream() async throws {
        let upstream = try PortalUpstream()
        defer { upstream.stop() }
        let harness = try await PortalProxyTests.harness(upstream)
        let result = try await offloaded { try Peers.python(PortalScripts.webSocketEcho, ["127.0.0.1", "\(harness.port)", "/ws"], timeout: 30) }
        #expect(result.stdout.contains("status=101 text=ok binary=ok close=ok"), "\(result.stderr)")
        let access = harness.log.entries.filter { $0.message == "access" }
        #expect(access.contains { $0.metadata["path"] == "/ws" && $0.metadata["status"] == "101" })
        try await harness.stop()
    }

    @Test func gracefulShutdown_inFlightStreamCompletes_newStreamRefusedByGoAway() async throws {
        let upstream = try PortalUpstream()
        defer { upstream.stop() }
        let harness = try await PortalProxyTests.harness(upstream)
        let directory = TemporaryDirectory("porthole-py")
        let script = directory.write("probe.py", PortalScripts.goAwayProbe)
        let probe = try ChildProcess("python3", ["-u", script, "127.0.0.1", "\(harness.port)", "/delay?ms=1500"])
        #expect(try await offloaded { probe.waitForOutput(containing: "open", timeout: 20) })
        try await Task.sleep(for: .milliseconds(300)) // stream 1 reaches the upstream
        try await harness.stop()
        _ = try await offloaded { probe.wait(timeout: 20) }
        let line = probe.stdout.split(separator: "\n").last.map(String.init) ?? ""
        let result = PortalProxyTests.json(line)
        #expect(result?["goaway_last_stream"] as? Int == 1, "\(probe.stdout) \(probe.stderr)")
        #expect(result?["goaway_error"] as? Int == 0)
        let streams = result?["streams"] as? [String: [String: Any]]
        #expect(streams?["1"]?["complete"] as? Bool == true)
        #expect((streams?["1"]?["bytes"] as? Int ?? 0) > 0)
        #expect(streams?["3"]?["headers"] == nil)
        let access = harness.log.entries.filter { $0.message == "access" }
        #expect(access.contains { $0.metadata["path"] == "/delay?ms=1500" && $0.metadata["status"] == "200" })
    }

    @Test func rapidReset_getsGoAwayEnhanceYourCalm_andOthersAreServed() async throws {
        let harness = try await GatewayHarness()
        let result = try await offloaded {
            try Peers.python(PortalScripts.rapidReset, ["127.0.0.1", "\(harness.port)", "400"], timeout: 60)
        }
        #expect(result.stdout.contains("goaway=11"), "\(result.stdout) \(result.stderr)") // ENHANCE_YOUR_CALM
        let ok = try await offloaded { try Peers.curl(["-k", "--http2", "-o", "/dev/null", "-w", "%{http_code}",
                                                      "https://127.0.0.1:\(harness.port)/"]) }
        #expect(ok.stdout == "200")
        try await harness.stop()
    }
}
