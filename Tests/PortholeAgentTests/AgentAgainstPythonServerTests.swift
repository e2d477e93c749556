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
            let deadline = Date().addingTimeInterval(10)
            while fleet.statistics.snapshot.connectionAttempts < 3 && Date() < deadline {
                try await Task.sleep(nanoseconds: 50_000_000)
            }
            #expect(fleet.statistics.snapshot.subscriptions == 1)
            #expect(fleet.statistics.snapshot.connectionAttempts >= 3)
        }
    }

    @Test func agentBehindTinyproxy_tunnelsWithConnect() async throws {
        let directory = TemporaryDirectory("porthole-agent-proxy")
        let proxyPort = try freeLocalPort()
        let config = directory.write("tinyproxy.conf", """
            Port \(proxyPort)
            Listen 127.0.0.1
            Timeout 60
            MaxClients 10
            Allow 127.0.0.1
            LogLevel Info
            LogFile "\(directory.file("tinyproxy.log"))"
            PidFile "\(directory.file("tinyproxy.pid"))"
            """)
        let proxy = try ChildProcess("tinyproxy", ["-d", "-c", config])
        defer { proxy.stop() }
        try await waitForListener(port: proxyPort)
        let server = try await PythonTestServer(["--calls", #"[["IEchoService","SayHello",["proxy"]]]"#])
        let configuration = try agentConfiguration(
            port: server.port, proxy: AgentProxy(url: "http://127.0.0.1:\(proxyPort)"))
        let report = try await withAgents(configuration) { _ in try await server.result() }
        #expect(results(report).first?["result"] as? String == "Hello proxy")
        let log = (try? String(contentsOfFile: directory.file("tinyproxy.log"), encoding: .utf8)) ?? ""
        #expect(log.contains("CONNECT"))
    }
}

/// An ephemeral port that was free a moment ago (for peers that cannot
/// listen on port 0 and report it, like tinyproxy).
func freeLocalPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Int32 in
            guard bind(fd, pointer, length) == 0 else { return -1 }
            return getsockname(fd, pointer, &length)
        }
    }
    guard bound == 0 else { throw TestSupportError("cannot find a free port") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Waits until something accepts connections on 127.0.0.1:`port`.
func waitForListener(port: Int, timeout: TimeInterval = 10) async throws {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        close(fd)
        if connected == 0 { return }
        try await Task.sleep(nanoseconds: 50_000_000)
    }
    throw TestSupportError("nothing listens on 127.0.0.1:\(port) after \(timeout) s")
}
