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

    /// The four transport × line-end variants, each its own `porthole agent`
    /// process with its own subscription, on one gateway (one testbed keeps
    /// the suite light on a 2-core CI).
    static let variants: [(id: String, arguments: [String], transport: String)] = [
        ("rawcrlf", [], "raw"),
        ("rawlf", ["--line-endings", "lf"], "raw"),
        ("wscrlf", ["--websocket"], "websocket"),
        ("wslf", ["--websocket", "--line-endings", "lf"], "websocket"),
    ]

    @Test func agentCommand_rawAndWebSocket_CRLFAndLF_subscribeThroughTheSharedPort_andAnswerDispatchedCalls() async throws {
        let testbed = try await PollingTestbed()
        let agents = try Self.variants.map { try startAgent(testbed, subscription: "poll://\($0.id)/", $0.arguments) }
        defer { agents.forEach { $0.stop() } }
        let listed = try await testbed.waitForAgents(Self.variants.count)
        for (variant, agent) in zip(Self.variants, agents) {
            let entry = listed.first { $0["subscription"] as? String == "poll://\(variant.id)/" }
            #expect(entry != nil, "\(variant.id): \(agent.stderr)")
            #expect(entry?["thumbprint"] as? String == testbed.agents["trusted"]!.thumbprint)
            #expect(entry?["transport"] as? String == variant.transport, "\(variant.id)")
            try await expectCalls(testbed, variant.id)
        }
        agents.forEach { $0.stop() }
        try await testbed.stop()
    }

    /// SayHello, Fail, Echo with typed values, and DataStreams both ways.
    private func expectCalls(_ testbed: PollingTestbed, _ id: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        try await expectAnswers(testbed, id, sourceLocation: sourceLocation)
        let failed = try await testbed.call(id, #"{"service":"IEchoService","method":"Fail","params":["boom"]}"#)
        #expect((failed.json["error"] as? [String: Any])?["message"] as? String == "Failure requested: boom", "\(failed.json)",
                sourceLocation: sourceLocation)
        #expect(failed.json["result"] is NSNull, sourceLocation: sourceLocation)

        // Typed values round-trip through Echo in Extended JSON v2.
        let echo = try await testbed.call(id, #"""
        {"service":"IEchoService","method":"Echo","params":[{"$type":"Test.Thing, Test","Count":{"$numberInt":"5"},"Big":{"$numberLong":"9007199254740993"}}]}
        """#)
        let result = echo.json["result"] as? [String: Any]
        #expect((result?["Count"] as? [String: Any])?["$numberInt"] as? String == "5", "\(echo.json)", sourceLocation: sourceLocation)
        #expect((result?["Big"] as? [String: Any])?["$numberLong"] as? String == "9007199254740993", sourceLocation: sourceLocation)

        let upload = try await testbed.call(id, #"{"service":"IFileService","method":"UploadFile","params":["a.txt",{"$dataStream":{"base64":"aGVsbG8gd29ybGQ="}}]}"#)
        #expect((upload.json["result"] as? [String: Any])?["$numberLong"] as? String == "11", "\(upload.json)", sourceLocation: sourceLocation)
        let download = try await testbed.call(id, #"{"service":"IFileService","method":"DownloadFile","params":["C:\\x.txt"]}"#)
        let stream = (download.json["result"] as? [String: Any])?["$dataStream"] as? [String: Any]
        let bytes = Data(base64Encoded: stream?["base64"] as? String ?? "") ?? Data()
        #expect(String(decoding: bytes, as: UTF8.self) == "Contents of C:\\x.txt\n", "\(download.json)", sourceLocation: sourceLocation)
    }

    @Test func agentCommandWithCount_behindTinyproxy_reachesTheSharedPortThroughConnect_asDistinctSubscriptions() async throws {
        let proxy = try await Tinyproxy()
        defer { proxy.stop() }
        let testbed = try await PollingTestbed()
        let agent = try startAgent(testbed, ["--proxy", "http://127.0.0.1:\(proxy.port)", "--count", "3"])
        defer { agent.stop() }
        let agents = try await testbed.waitForAgents(3)
        let subscriptions = Set(agents.compactMap { $0["subscription"] as? String })
        #expect(subscriptions == Set((1...3).map { "poll://agent-\($0)/" }), "\(agent.stderr)")
        for index in 1...3 { try await expectAnswers(testbed, "agent-\(index)") }
        #expect(proxy.log.contains("CONNECT"))
        agent.stop()
        try await testbed.stop()
    }
}
