import Foundation
import PortholeTestSupport
import Testing

/// `porthole agent` (the built binary, as a user runs it) polls through the
/// gateway's shared TLS port and answers calls made with curl against the
/// dispatch API: raw and WebSocket, CRLF and LF, through a real HTTP CONNECT
/// proxy, and as several agents in one process.
@Suite struct AgentCommandEndToEndTests {
    /// Starts `porthole agent` with the testbed's trusted certificate.
    private func startAgent(_ testbed: PollingTestbed, subscription: String = "poll://agent0000000000000001/",
                            _ arguments: [String] = []) throws -> ChildProcess {
        let trusted = testbed.agents["trusted"]!
        return try ChildProcess(PortholeBinary.path, [
            "agent", "--server", "127.0.0.1:\(testbed.port)", "--subscription", subscription,
            "--cert", trusted.cert, "--key", trusted.key,
            "--server-thumbprint", testbed.harness.gateway.settings.certificates[0].identity.leaf.thumbprint,
            "--reconnect-min", "0.2", "--reconnect-max", "1",
        ] + arguments)
    }

    private func expectAnswers(_ testbed: PollingTestbed, _ id: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let hello = try await testbed.call(id, #"{"service":"IEchoService","method":"SayHello","params":["\#(id)"],"timeout":"20s"}"#)
        #expect(hello.status == 200, "\(hello.json)", sourceLocation: sourceLocation)
        #expect(hello.json["result"] as? String == "Hello \(id)", "\(hello.json)", sourceLocation: sourceLocation)
        #expect(hello.json["error"] is NSNull, sourceLocation: sourceLocation)
    }

    @Test(arguments: [
        [String](),
        ["--line-endings", "lf"],
        ["--websocket"],
        ["--websocket", "--line-endings", "lf"],
    ])
    func agentCommand_subscribesThroughTheSharedPort_andAnswersDispatchedCalls(arguments: [String]) async throws {
        let testbed = try await PollingTestbed()
        let agent = try startAgent(testbed, arguments)
        defer { agent.stop() }
        let agents = try await testbed.waitForAgents(1)
        #expect(agents.first?["subscription"] as? String == "poll://agent0000000000000001/", "\(agent.stderr)")
        #expect(agents.first?["thumbprint"] as? String == testbed.agents["trusted"]!.thumbprint)
        #expect(agents.first?["transport"] as? String == (arguments.contains("--websocket") ? "websocket" : "raw"))

        try await expectAnswers(testbed, "agent0000000000000001")
        let failed = try await testbed.call("agent0000000000000001", #"{"service":"IEchoService","method":"Fail","params":["boom"]}"#)
        #expect((failed.json["error"] as? [String: Any])?["message"] as? String == "Failure requested: boom", "\(failed.json)")
        #expect(failed.json["result"] is NSNull)

        // Typed values round-trip through Echo in Extended JSON v2.
        let echo = try await testbed.call("agent0000000000000001", #"""
        {"service":"IEchoService","method":"Echo","params":[{"$type":"Test.Thing, Test","Count":{"$numberInt":"5"},"Big":{"$numberLong":"9007199254740993"}}]}
        """#)
        let result = echo.json["result"] as? [String: Any]
        #expect((result?["Count"] as? [String: Any])?["$numberInt"] as? String == "5", "\(echo.json)")
        #expect((result?["Big"] as? [String: Any])?["$numberLong"] as? String == "9007199254740993")

        // DataStreams both ways.
        let upload = try await testbed.call("agent0000000000000001", #"{"service":"IFileService","method":"UploadFile","params":["a.txt",{"$dataStream":{"base64":"aGVsbG8gd29ybGQ="}}]}"#)
        #expect((upload.json["result"] as? [String: Any])?["$numberLong"] as? String == "11", "\(upload.json)")
        let download = try await testbed.call("agent0000000000000001", #"{"service":"IFileService","method":"DownloadFile","params":["C:\\x.txt"]}"#)
        let stream = (download.json["result"] as? [String: Any])?["$dataStream"] as? [String: Any]
        let bytes = Data(base64Encoded: stream?["base64"] as? String ?? "") ?? Data()
        #expect(String(decoding: bytes, as: UTF8.self) == "Contents of C:\\x.txt\n", "\(download.json)")
        agent.stop()
        try await testbed.stop()
    }

    @Test func agentCommandBehindTinyproxy_reachesTheSharedPortThroughConnect() async throws {
        let proxy = try await Tinyproxy()
        defer { proxy.stop() }
        let testbed = try await PollingTestbed()
        let agent = try startAgent(testbed, ["--proxy", "http://127.0.0.1:\(proxy.port)"])
        defer { agent.stop() }
        let agents = try await testbed.waitForAgents(1)
        #expect(agents.count == 1, "\(agent.stderr)")
        try await expectAnswers(testbed, "agent0000000000000001")
        #expect(proxy.log.contains("CONNECT"))
        agent.stop()
        try await testbed.stop()
    }

    @Test func agentCommandWithCount_runsDistinctSubscriptionsInOneProcess() async throws {
        let testbed = try await PollingTestbed()
        let agent = try startAgent(testbed, ["--count", "5"])
        defer { agent.stop() }
        let agents = try await testbed.waitForAgents(5)
        let subscriptions = Set(agents.compactMap { $0["subscription"] as? String })
        #expect(subscriptions == Set((1...5).map { "poll://agent-\($0)/" }), "\(agent.stderr)")
        for index in 1...5 { try await expectAnswers(testbed, "agent-\(index)") }
        agent.stop()
        try await testbed.stop()
    }
}
