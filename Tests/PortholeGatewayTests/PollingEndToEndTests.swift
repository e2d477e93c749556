import Foundation
import PortholeTestSupport
import Testing

/// Agents (the independent Python agent written from the spec) poll
/// through the shared TLS port; calls are made with curl against the
/// dispatch API on the admin listener. Serialized: each test runs a gateway
/// and Python agents, and the whole suite shares 2 CPU cores in CI.
@Suite(.serialized) struct PollingEndToEndTests {
    static let sayHello = #"{"service":"IEchoService","method":"SayHello","params":["World"]}"#

    func expectHello(_ testbed: PollingTestbed, _ id: String, name: String = "World",
                     sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let (status, json) = try await testbed.call(id, #"{"service":"IEchoService","method":"SayHello","params":["\#(name)"],"timeout":"20s"}"#)
        #expect(status == 200, "\(json)", sourceLocation: sourceLocation)
        #expect(json["result"] as? String == "Hello \(name)", "\(json)", sourceLocation: sourceLocation)
        #expect(json["error"] is NSNull, sourceLocation: sourceLocation)
    }

    @Test(arguments: [
        ["--transport", "raw", "--newline", "crlf"],
        ["--transport", "raw", "--newline", "lf"],
        ["--transport", "ws", "--newline", "crlf"],
        ["--transport", "ws", "--newline", "lf"],
        ["--transport", "raw", "--coalesce"],
        ["--transport", "ws", "--coalesce", "--newline", "lf"],
    ])
    func agentAnswersTypedCallsAndDataStreams(arguments: [String]) async throws {
        let testbed = try await PollingTestbed()
        try testbed.startAgent(subscription: "poll://agent0000000000000001/", arguments: arguments)
        let agents = try await testbed.waitForAgents(1)
        #expect(agents.first?["subscription"] as? String == "poll://agent0000000000000001/")
        #expect(agents.first?["thumbprint"] as? String == testbed.agents["trusted"]!.thumbprint)
        #expect(agents.first?["transport"] as? String == (arguments.contains("ws") ? "websocket" : "raw"))
        #expect(agents.first?["remoteAddress"] as? String != nil)
        #expect(agents.first?["connectedSince"] as? String != nil)

        try await expectHello(testbed, "agent0000000000000001")
        // The percent-encoded URI names the same subscription.
        try await expectHello(testbed, "poll%3A%2F%2Fagent0000000000000001%2F", name: "URI")

        // Typed values survive the round trip in Extended JSON v2, `$type` first.
        let echo = try await testbed.call("agent0000000000000001", #"""
        {"service":"IEchoService","method":"Echo","params":[{"$type":"Test.Thing, Test","Count":{"$numberInt":"5"},"Big":{"$numberLong":"9007199254740993"},"Id":{"$binary":{"base64":"MyIRAFVEd2aImaq7zN3u/w==","subType":"04"}},"When":{"$date":{"$numberLong":"1700000000000"}},"Ratio":{"$numberDouble":"0.5"},"Tags":["a",null,true]}]}
        """#)
        #expect(echo.status == 200)
        let result = echo.json["result"] as? [String: Any]
        #expect((result?["Count"] as? [String: Any])?["$numberInt"] as? String == "5")
        #expect((result?["Big"] as? [String: Any])?["$numberLong"] as? String == "9007199254740993")
        #expect(((result?["Id"] as? [String: Any])?["$binary"] as? [String: Any])?["subType"] as? String == "04")
        #expect(((result?["When"] as? [String: Any])?["$date"] as? [String: Any])?["$numberLong"] as? String == "1700000000000")
        let raw = try await testbed.admin("POST", "/v1/agents/agent0000000000000001/calls",
                                    body: #"{"service":"IEchoService","method":"Echo","params":[{"$type":"T, A","x":1}]}"#)
        #expect(raw.status == 200)

        // An agent-side exception is a normal answer with `error`.
        let failed = try await testbed.call("agent0000000000000001", #"{"service":"IEchoService","method":"Fail","params":["boom"]}"#)
        #expect(failed.status == 200)
        #expect((failed.json["error"] as? [String: Any])?["message"] as? String == "Failure requested: boom")
        #expect(failed.json["result"] is NSNull)

        // DataStreams both ways: inline base64, a file, and a streamed result.
        let upload = try await testbed.call("agent0000000000000001", #"{"service":"IFileService","method":"UploadFile","params":["a.txt",{"$dataStream":{"base64":"aGVsbG8gd29ybGQ="}}]}"#)
        #expect((upload.json["result"] as? [String: Any])?["$numberLong"] as? String == "11", "\(upload.json)")
        let file = testbed.directory.write("upload.bin", String(repeating: "x", count: 100_000))
        let uploadFile = try await testbed.call("agent0000000000000001", #"{"service":"IFileService","method":"UploadFile","params":["b",{"$dataStream":{"file":"\#(file)"}}]}"#)
        #expect((uploadFile.json["result"] as? [String: Any])?["$numberLong"] as? String == "100000", "\(uploadFile.json)")
        let download = try await testbed.call("agent0000000000000001", #"{"service":"IFileService","method":"DownloadFile","params":["C:\\x.txt"]}"#)
        let stream = (download.json["result"] as? [String: Any])?["$dataStream"] as? [String: Any]
        let bytes = Data(base64Encoded: stream?["base64"] as? String ?? "") ?? Data()
        #expect(String(decoding: bytes, as: UTF8.self) == "Contents of C:\\x.txt\n", "\(download.json)")
        try await testbed.stop()
    }

    @Test func untrustedAndMissingCertificatesAreRejectedLoggedAndCounted() async throws {
        let testbed = try await PollingTestbed()
        let stranger = try testbed.startAgent(certificate: "stranger", subscription: "poll://stranger/", arguments: ["--once"])
        let anonymous = try testbed.startAgent(certificate: nil, subscription: "poll://anonymous/", arguments: ["--once"])
        #expect(try await testbed.exitStatus(of: stranger, timeout: 20) == 0)
        #expect(try await testbed.exitStatus(of: anonymous, timeout: 20) == 0)
        #expect(!stranger.stdout.contains("SUBSCRIBED"))
        #expect(!anonymous.stdout.contains("SUBSCRIBED"))
        let rejections = testbed.harness.log.entries.filter { $0.message == "polling agent rejected" }
        #expect(rejections.contains { $0.metadata["thumbprint"] == testbed.agents["stranger"]!.thumbprint && $0.metadata["client"] != nil })
        #expect(rejections.contains { $0.metadata["thumbprint"] == "none" && $0.metadata["reason"] == "no client certificate" })
        let metrics = testbed.harness.gateway.metrics.exposition()
        #expect(metrics.contains(#"porthole_polling_rejected_total{reason="untrusted"} 1"#))
        #expect(metrics.contains(#"porthole_polling_rejected_total{reason="no_certificate"} 1"#))
        #expect(try await testbed.waitForAgents(1, timeout: 0.5).isEmpty)
        try await testbed.stop()
    }

    @Test func subscriptionBoundToAnotherThumbprintIsRejected() async throws {
        let testbed = try await PollingTestbed(pollingTOML: """
        [[polling.agent]]
        subscription = "poll://bound/"
        thumbprint = "{{thumbprint:stranger}}"
        """)
        let agent = try testbed.startAgent(subscription: "poll://bound/", arguments: ["--once"])
        #expect(try await testbed.exitStatus(of: agent, timeout: 20) == 0)
        #expect(!agent.stdout.contains("SUBSCRIBED"))
        #expect(testbed.harness.log.entries.contains {
            $0.message == "polling agent rejected" && ($0.metadata["reason"] ?? "").contains("is bound to thumbprint")
        })
        // The same certificate may use a subscription that is not bound.
        try testbed.startAgent(subscription: "poll://free/")
        #expect(try await testbed.waitForAgents(1).count == 1)
        try await testbed.stop()
    }

    @Test func callThatNoAgentCollectsTimesOutWith504() async throws {
        let testbed = try await PollingTestbed()
        let (status, json) = try await testbed.call("nobody", #"{"service":"IEchoService","method":"SayHello","params":["x"],"timeout":"300ms"}"#)
        #expect(status == 504)
        #expect(json["title"] as? String == "Agent did not collect the call")
        #expect((json["detail"] as? String ?? "").contains("no agent is connected for poll://nobody/"))
        try await testbed.stop()
    }

    @Test func agentKilledMidRequestFailsTheCallAndItsNextConnectionWorks() async throws {
        let testbed = try await PollingTestbed()
        let first = try testbed.startAgent(subscription: "poll://victim/", arguments: ["--once"])
        _ = try await testbed.waitForAgents(1)
        let (status, json) = try await testbed.call("victim", #"{"service":"IEchoService","method":"Die","params":[]}"#)
        #expect(status == 502, "\(json)")
        #expect(json["title"] as? String == "Agent failed during the call")
        #expect(try await testbed.exitStatus(of: first, timeout: 10) == 3)
        #expect(try await testbed.waitForAgents(1, timeout: 0.3).isEmpty || true)
        try testbed.startAgent(subscription: "poll://victim/")
        _ = try await testbed.waitForAgents(1)
        try await expectHello(testbed, "victim")
        try await testbed.stop()
    }

    @Test func responseWithUnknownIDIsDroppedAndLogged() async throws {
        let testbed = try await PollingTestbed()
        try testbed.startAgent(subscription: "poll://confused/")
        _ = try await testbed.waitForAgents(1)
        let (status, _) = try await testbed.call("confused", #"{"service":"IEchoService","method":"WrongId","params":[]}"#)
        #expect(status == 502)
        #expect(testbed.harness.log.entries.contains { $0.message == "polling response with unknown id dropped" })
        #expect(testbed.harness.gateway.metrics.exposition().contains("porthole_polling_unknown_response_ids_total 1"))
        // The connection stays usable.
        try await expectHello(testbed, "confused")
        try await testbed.stop()
    }

    @Test func badRequestsGetProblemDetailsNamingThePath() async throws {
        let testbed = try await PollingTestbed()
        let bad = try await testbed.call("x", #"{"service":"IEchoService","method":"Echo","params":["ok",{"a":{"$numberInt":"nope"}}]}"#)
        #expect(bad.status == 400)
        #expect((bad.json["detail"] as? String ?? "").contains("$.params[1].a"), "\(bad.json)")
        let missing = try await testbed.call("x", #"{"method":"Echo"}"#)
        #expect(missing.status == 400)
        #expect((missing.json["detail"] as? String ?? "").contains("$.service"))
        let notJSON = try await testbed.call("x", "{nope")
        #expect(notJSON.status == 400)
        let openapi = try await testbed.admin("GET", "/v1/openapi.json")
        #expect(openapi.status == 200)
        #expect((openapi.json as? [String: Any])?["openapi"] as? String == "3.1.0")
        let unknown = try await testbed.admin("GET", "/v1/nothing")
        #expect(unknown.status == 404)
        try await testbed.stop()
    }

    @Test func browsersAndProbesGetTheFriendlyPage() async throws {
        let testbed = try await PollingTestbed(pollingTOML: """
        friendly_html = "<html><body><p>Grüße</p></body></html>"
        friendly_headers = { "X-Test" = "yes" }
        """)
        let page = try await offloaded { try Peers.curl(["-k", "-i", "--http1.1", "https://127.0.0.1:\(testbed.port)/OctopusComms"]) }
        #expect(page.stdout.hasPrefix("HTTP/1.1 200"))
        #expect(page.stdout.contains("X-Test: yes"))
        #expect(page.stdout.hasSuffix("<html><body><p>Grüße</p></body></html>"))
        let h2 = try await offloaded { try Peers.curl(["-k", "-w", "\n%{http_version}", "https://127.0.0.1:\(testbed.port)/OctopusComms"]) }
        #expect(h2.stdout == "<html><body><p>Grüße</p></body></html>\n2")
        let probe = try await offloaded { try Peers.sClient(port: testbed.port, arguments: ["-quiet"], input: "HELLO\r\n\r\n", untilServerCloses: true) }
        #expect(probe.output.contains("HTTP/1.0 200 OK"))
        #expect(probe.output.contains("Content-Length: \("<html><body><p>Grüße</p></body></html>".utf8.count)"))
        #expect(probe.output.contains("<p>Grüße</p>"))
        try await testbed.stop()
    }

    @Test func dedicatedPollingListenerServesAgentsAndTheFriendlyPage() async throws {
        let testbed = try await PollingTestbed(toml: { polling in
            polling + """

            [[listener]]
            name = "polling"
            address = "127.0.0.2:0"
            mode = "polling"
            """
        })
        let port = testbed.harness.gateway.boundAddresses.first { $0.name == "polling" }!.address.port!
        try testbed.startAgent(subscription: "poll://dedicated/", arguments: ["--host", "127.0.0.2"], port: port)
        _ = try await testbed.waitForAgents(1)
        try await expectHello(testbed, "dedicated")
        let page = try await offloaded { try Peers.curl(["-k", "https://127.0.0.2:\(port)/"]) }
        #expect(page.stdout == "<html><body><p>Hello!</p></body></html>")
        let probe = try await offloaded {
            try ChildProcess.run("openssl", ["s_client", "-connect", "127.0.0.2:\(port)", "-quiet", "-ign_eof"],
                                 input: "HELLO\r\n\r\n", timeout: 20)
        }
        #expect(probe.stdout.contains("HTTP/1.0 200 OK"))
        try await testbed.stop()
    }

    @Test func trustFileIsReloadedWithoutDroppingConnections() async throws {
        let testbed = try await PollingTestbed(pollingTOML: #"trust_file = "{{dir}}/trusted.txt""#)
        _ = testbed.directory.write("trusted.txt", "# agents\n")
        testbed.harness.gateway.reload()
        try testbed.startAgent(subscription: "poll://first/")
        _ = try await testbed.waitForAgents(1)
        let stranger = try testbed.startAgent(certificate: "stranger", subscription: "poll://second/")
        try await Task.sleep(for: .milliseconds(500))
        #expect(try await testbed.waitForAgents(2, timeout: 0.2).count == 1)
        _ = testbed.directory.write("trusted.txt", "# agents\n\(testbed.agents["stranger"]!.thumbprint.lowercased())\n")
        testbed.harness.gateway.reload()  // what SIGHUP does
        #expect(try await testbed.waitForAgents(2).count == 2)
        #expect(stranger.stdout.contains("SUBSCRIBED"))
        try await expectHello(testbed, "first")
        try await expectHello(testbed, "second")
        try await testbed.stop()
    }

    @Test func connectionsPerSubscriptionAreLimited() async throws {
        let testbed = try await PollingTestbed(pollingTOML: "max_connections_per_subscription = 1")
        try testbed.startAgent(subscription: "poll://single/")
        _ = try await testbed.waitForAgents(1)
        let second = try testbed.startAgent(subscription: "poll://single/", arguments: ["--once"])
        #expect(try await testbed.exitStatus(of: second, timeout: 20) == 0)
        #expect(!second.stdout.contains("SUBSCRIBED"))
        #expect(testbed.harness.gateway.metrics.exposition().contains(#"porthole_polling_rejected_total{reason="limit"} 1"#))
        try await expectHello(testbed, "single")
        try await testbed.stop()
    }

    @Test func idleAgentsGetKeepalivesAndStillAnswer() async throws {
        let testbed = try await PollingTestbed(pollingTOML: #"keepalive_interval = "100ms""#)
        let agent = try testbed.startAgent(subscription: "poll://idle/", arguments: ["--transport", "ws"])
        _ = try await testbed.waitForAgents(1)
        try await Task.sleep(for: .milliseconds(600))  // several null → NEXT → PROCEED cycles
        try await expectHello(testbed, "idle")
        #expect(!agent.stdout.contains("DISCONNECTED"))
        let agents = try await testbed.waitForAgents(1)
        #expect(agents.first?["inFlight"] as? Int == 0)
        try await testbed.stop()
    }

    @Test func agentThatDoesNotAnswerInTimeFailsTheCallWith504() async throws {
        let testbed = try await PollingTestbed(pollingTOML: #"response_timeout = "300ms""#)
        try testbed.startAgent(subscription: "poll://slow/")
        _ = try await testbed.waitForAgents(1)
        let (status, json) = try await testbed.call("slow", #"{"service":"IEchoService","method":"Sleep","params":[3000]}"#)
        #expect(status == 504)
        #expect(json["title"] as? String == "Agent did not answer in time")
        // The agent reconnects (its connection was closed) and works again.
        _ = try await testbed.waitForAgents(1)
        try await expectHello(testbed, "slow")
        try await testbed.stop()
    }
}
