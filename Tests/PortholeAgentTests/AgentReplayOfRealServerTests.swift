import Foundation
import PortholeAgent
import PortholeTestSupport
import Testing

/// The real Halibut listener's recorded bytes (s2c units of server-*.json,
/// 2.6.19 with LF lines and 4.3.24 with CRLF) played to our agent by the
/// Python server; what the agent sends back must have the shape of the
/// recorded c2s units (same control lines, response ids, results, error
/// messages, DataStream frames).
@Suite struct AgentReplayOfRealServerTests {
    static let vectors: [String] = ["2.6.19", "4.3.24"].flatMap { version in
        ["keepalive", "rpc-string", "rpc-error", "rpc-datastream"].map { "server-\(version)-\($0).json" }
    }

    @Test(arguments: vectors)
    func agentAnswersRecordedRealServer_likeTheRecordedAgent(vector: String) async throws {
        let path = "\(AgentFixtures.vectors)/\(vector)"
        let server = try await PythonTestServer(["--replay", path])
        let configuration = try agentConfiguration(port: server.port, subscription: "poll://abcdefghij0123456789/")
        let report = try await withAgents(configuration) { _ in try await server.result() }
        #expect(report["subscription"] as? String == "poll://abcdefghij0123456789/")
        #expect((report["compared_units"] as? Int ?? 0) >= 1)
        #expect(report["coalesced_units"] as? [String] == [])
    }
}
