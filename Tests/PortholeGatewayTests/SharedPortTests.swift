import Foundation
import PortholeTestSupport
import Testing

/// The sniffing issue's "done when": one listener on one port serves a
/// browser, an agent with a client certificate and an SNI passthrough side
/// by side, each routed correctly and logged with one decision record.
@Suite struct SharedPortTests {
    @Test func browserAgentAndPassthrough_shareOnePort_eachWithItsDecisionRecord() async throws {
        let directory = TemporaryDirectory()
        let backendIdentity = try OpenSSLTool.makeSelfSigned(in: directory, name: "backend", commonName: "backend.example.test",
                                                             dnsNames: ["backend.example.test"])
        let agentIdentity = try OpenSSLTool.makeSelfSigned(in: directory, name: "agent", commonName: "agent")
        let (backend, backendPort) = try Peers.sServer(certificate: backendIdentity, clientCA: agentIdentity.cert)
        let harness = try await GatewayHarness(toml: """
        [[route]]
        name = "backend"
        match = { sni = ["backend.example.test"] }
        action = "passthrough"
        upstream = "127.0.0.1:\(backendPort)"

        [[route]]
        name = "agents"
        match = { alpn = ["none"] }
        action = "terminate"
        client_certificate = "request"

        [[route]]
        name = "browsers"
        action = "terminate"
        client_certificate = "none"
        """, directory: directory)
        let port = harness.port

        // Browser-like: curl with h2/http1.1, SNI portal.example.test.
        let browser = try Peers.curl(["-k", "--resolve", "portal.example.test:\(port):127.0.0.1",
                                      "https://portal.example.test:\(port)/"])
        #expect(browser.status == 0, "\(browser.stderr)")
        #expect(browser.stdout.contains("Porthole"))

        // Agent-like: no ALPN, a client certificate, the polling preamble.
        let agent = try Peers.sClient(port: port, arguments: ["-servername", "agent.example.test",
                                                              "-cert", agentIdentity.cert, "-key", agentIdentity.key],
                                      input: "MX\r\n\r\n")
        #expect(agent.output.contains("CONNECTED"))

        // Passthrough: the backend's own certificate, verified end to end.
        let passthrough = try Peers.sClient(port: port, arguments: [
            "-servername", "backend.example.test", "-CAfile", backendIdentity.cert, "-verify_return_error",
            "-cert", agentIdentity.cert, "-key", agentIdentity.key,
        ], input: "GET / HTTP/1.0\r\n\r\n", untilServerCloses: true)
        #expect(passthrough.status == 0)
        #expect(passthrough.output.contains("Verification: OK"), "\(passthrough.output)")
        #expect(passthrough.output.contains("Ciphers supported in s_server binary"))
        #expect(Peers.serverSubjectCN(in: passthrough.output) == "backend.example.test")

        let records = harness.waitForDecisionRecords(3)
        #expect(records.count == 3)
        let required = ["client", "sni", "alpn_offered", "alpn", "decide_ms", "sniff_bytes", "route", "action", "outcome"]
        for record in records {
            #expect(required.allSatisfy { record[$0] != nil }, "missing fields in \(record)")
            #expect(record["client"]?.hasPrefix("127.0.0.1:") == true)
            #expect(record["outcome"] == "matched")
        }

        let browserRecord = records.first { $0["sni"] == "portal.example.test" }
        #expect(browserRecord?["route"] == "browsers")
        #expect(browserRecord?["action"] == "terminate")
        #expect(browserRecord?["alpn_offered"] == "h2,http/1.1")
        #expect(browserRecord?["alpn"] == "h2")
        #expect(browserRecord?["handler"] == "portal-h2")

        let agentRecord = records.first { $0["sni"] == "agent.example.test" }
        #expect(agentRecord?["route"] == "agents")
        #expect(agentRecord?["alpn_offered"] == "none")
        #expect(agentRecord?["alpn"] == "none")
        #expect(agentRecord?["peer_thumbprint"] == (try OpenSSLTool.thumbprint(ofPEM: agentIdentity.cert)))
        #expect(agentRecord?["handler"] == "polling-raw")

        let passthroughRecord = records.first { $0["sni"] == "backend.example.test" }
        #expect(passthroughRecord?["route"] == "backend")
        #expect(passthroughRecord?["action"] == "passthrough")
        #expect(passthroughRecord?["alpn"] == "unknown")
        #expect(passthroughRecord?["peer_thumbprint"] == nil)

        #expect(harness.connectionCount(outcome: "matched") == 3)
        backend.stop()
        try await harness.stop()
    }
}
