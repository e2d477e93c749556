import Foundation
import PortholeTestSupport
import Testing

/// Issue 5's "done when": behind one shared port, a browser-like session to
/// the portal (HTTP/2, HTTP/1.1 and a WebSocket) works against a real
/// upstream while agents (raw and WebSocket) keep polling on the same port.
@Suite struct PortalAndPollingSharedPortTests {
    @Test func portalSessionAndPollingAgents_shareOnePort() async throws {
        let upstream = try PortalUpstream()
        defer { upstream.stop() }
        let testbed = try await PollingTestbed(toml: { text in
            text + "\n[portal]\nupstream = \"http://127.0.0.1:\(upstream.port)\"\n"
        })
        let port = testbed.port
        try testbed.startAgent(subscription: "poll://rawagent000000000001/", arguments: ["--transport", "raw"])
        try testbed.startAgent(subscription: "poll://wsagent0000000000001/", arguments: ["--transport", "ws", "--newline", "lf"])
        let agents = try await testbed.waitForAgents(2)
        #expect(Set(agents.compactMap { $0["transport"] as? String }) == ["raw", "websocket"])

        // The browser side, while both agents stay connected.
        let h2 = try await offloaded { try Peers.curl(["-k", "--http2", "-d", "hello", "https://127.0.0.1:\(port)/echo"]) }
        #expect(PortalProxyTests.json(h2.stdout)?["method"] as? String == "POST", "\(h2.stderr)")
        let h1 = try await offloaded { try Peers.curl(["-k", "--http1.1", "https://127.0.0.1:\(port)/echo?x=1"]) }
        #expect(PortalProxyTests.json(h1.stdout)?["path"] as? String == "/echo?x=1", "\(h1.stderr)")
        let webSocket = try await offloaded {
            try Peers.python(PortalScripts.webSocketEcho, ["127.0.0.1", "\(port)", "/ws"], timeout: 30)
        }
        #expect(webSocket.stdout.contains("status=101 text=ok binary=ok close=ok"), "\(webSocket.stderr)")

        // And the agents still answer calls made through the dispatch API.
        for subscription in ["rawagent000000000001", "wsagent0000000000001"] {
            let call = try await testbed.call(subscription, #"{"service":"IEchoService","method":"SayHello","params":["portal"]}"#)
            #expect(call.status == 200)
            #expect(call.json["result"] as? String == "Hello portal", "\(call.json)")
        }
        #expect(try await testbed.waitForAgents(2).count == 2)
        let handlers = testbed.harness.decisionRecords.compactMap { $0["handler"] }
        #expect(handlers.contains("portal-h2"))
        #expect(handlers.contains("portal-http1"))
        try await testbed.stop()
    }
}
