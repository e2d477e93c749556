import Foundation
import PortholeAgent
import PortholeTestSupport
import PortholeWire
import Testing

/// The agent against an independent Python polling server written from the
/// spec (Scripts/halibut_test_server.py): real TLS on 127.0.0.1, real units.
@Suite struct AgentAgainstPythonServerTests {
    static let allServiceCalls = #"""
    [["IEchoService","SayHello",["World"]],
     ["IEchoService","Fail",["boom"]],
     ["IFileService","UploadFile",["C:\\Octopus\\Work\\upload.txt",{"$upload":"hello data stream\n"}]],
     ["IFileService","DownloadFile",["C:\\Octopus\\Work\\download.txt"]],
     ["IDelayService","Delay",[{"$int32":20}]],
     ["IUnknownService","Anything",[]],
     ["IEchoService","NoSuchMethod",[]]]
    """#

    private func results(_ report: [String: Any]) -> [[String: Any]] {
        report["results"] as? [[String: Any]] ?? []
    }

    private func errorMessage(_ result: [String: Any]) -> String? {
        (result["error"] as? [String: Any])?["message"] as? String
    }

    @Test func rawTLSAgent_answersEveryBuiltInService_withOneUnitPerRecordAndCRLF() async throws {
        let server = try await PythonTestServer(["--calls", Self.allServiceCalls,
                                                 "--client-thumbprint", AgentFixtures.thumbprint(AgentFixtures.agentCert)])
        let report = try await withAgents(try agentConfiguration(port: server.port, host: "localhost")) { _ in
            try await server.result()
        }
        let calls = results(report)
        #expect(calls.count == 7)
        guard calls.count == 7 else { return }
        #expect(calls[0]["result"] as? String == "Hello World")
        #expect(errorMessage(calls[1]) == "Failure requested: boom")
        #expect((calls[1]["error"] as? [String: Any])?["details"] is String)
        #expect(calls[2]["result"] as? [String: String] == ["$numberLong": "18"])
        let download = calls[3]["result"] as? [String: Any]
        #expect(download?["$type"] as? String == "Halibut.DataStream, Halibut")
        #expect(download?["length"] as? [String: String] == ["$numberLong": "41"])
        #expect((calls[3]["streams"] as? [String: String])?.values.first == "Contents of C:\\Octopus\\Work\\download.txt\n")
        #expect(calls[4]["result"] as? [String: String] == ["$numberLong": "20"])
        #expect(errorMessage(calls[5]) == "Service not found: IUnknownService")
        #expect(errorMessage(calls[6]) == "Service Porthole.Agent.EchoService::NoSuchMethod not found")
        // halibut.md §1: SNI is the configured host, no ALPN; §4: one unit per record.
        #expect(report["sni"] as? String == "localhost")
        #expect(report["alpn"] is NSNull)
        #expect(report["line_endings"] as? [String] == ["crlf"])
        #expect(report["coalesced_units"] as? [String] == [])
        #expect(report["subscription"] as? String == "poll://abc/")
    }

    @Test func webSocketAgent_sendsTextMXThenOneEndlessBinaryMessage_withLFLines() async throws {
        let server = try await PythonTestServer(["--transport", "websocket", "--calls",
                                                 #"[["IEchoService","SayHello",["ws"]],["IFileService","DownloadFile",["big:x"]]]"#])
        let configuration = try agentConfiguration(port: server.port, transport: .webSocket, lineEnding: .lf)
        let report = try await withAgents(configuration) { _ in try await server.result() }
        let calls = results(report)
        #expect(calls.first?["result"] as? String == "Hello ws")
        let body = (calls.last?["streams"] as? [String: String])?.values.first
        #expect(body?.count == 20_000)
        #expect(body?.hasPrefix("ABCDEFGHIJKLMNOPQRSTUVWXYZABC") == true)
        #expect(report["line_endings"] as? [String] == ["lf"])
        #expect(report["sni"] is NSNull)  // an IP literal is never sent as SNI
        // §8: like the .NET agent, first frame binary (2), then continuations (0), FIN never set.
        let frames = report["frames"] as? [[Int]]
        #expect(frames?.first == [2, 0])
        #expect(frames?.dropFirst().allSatisfy { $0 == [0, 0] } == true)
        #expect((report["upgrade_headers"] as? [String: String])?["sec-websocket-protocol"] == "Octopus")
    }

    @Test func agentWithWrongPinnedThumbprint_abortsTheHandshake_andNeverSubscribes() async throws {
        let server = try await PythonTestServer(["--expect-handshake-failure"])
        let wrongThumbprint = try AgentFixtures.thumbprint(AgentFixtures.certificate("untrusted-client.crt"))
        let configuration = try agentConfiguration(port: server.port, serverThumbprint: wrongThumbprint)
        let (report, statistics) = try await withAgents(configuration) { fleet in
            (try await server.result(), fleet.statistics.snapshot)
        }
        #expect(report["handshake"] as? String == "failed")
        #expect(statistics.connectionAttempts >= 1)
        #expect(statistics.subscriptions == 0)
    }

    @Test func agentReconnectsAfterTheServerGoesAway() async throws {
        let first = try await PythonTestServer(["--calls", "[]"])
        let configuration = try agentConfiguration(port: first.port)
        try await withAgents(configuration) { fleet in
            _ = try await first.result()
            // The port is free again; the agent keeps trying with back-off.
            let deadline = Date().addingTimeInterval(60)
            while fleet.statistics.snapshot.connectionAttempts < 3 && Date() < deadline {
                try await Task.sleep(nanoseconds: 50_000_000)
            }
            #expect(fleet.statistics.snapshot.subscriptions == 1)
            #expect(fleet.statistics.snapshot.connectionAttempts >= 3)
        }
    }

    @Test func agentBehindTinyproxy_tunnelsWithConnect() async throws {
        let proxy = try await Tinyproxy()
        defer { proxy.stop() }
        let server = try await PythonTestServer(["--calls", #"[["IEchoService","SayHello",["proxy"]]]"#])
        let configuration = try agentConfiguration(
            port: server.port, proxy: AgentProxy(url: "http://127.0.0.1:\(proxy.port)"))
        let report = try await withAgents(configuration) { _ in try await server.result() }
        #expect(results(report).first?["result"] as? String == "Hello proxy")
        #expect(proxy.log.contains("CONNECT"))
    }
}

