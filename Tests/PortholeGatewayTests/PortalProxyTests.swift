import Foundation
import PortholeTestSupport
import Testing

/// The portal as a reverse proxy, checked with curl (HTTP/1.1 and HTTP/2)
/// through Porthole to a real Python upstream.
@Suite struct PortalProxyTests {
    static func harness(_ upstream: PortalUpstream, _ extra: String = "") async throws -> GatewayHarness {
        try await GatewayHarness(toml: """
        [portal]
        upstream = "http://127.0.0.1:\(upstream.port)"
        \(extra)
        """)
    }

    static func json(_ text: String) -> [String: Any]? {
        try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
    }

    /// Header values the upstream saw, by lower-case name.
    static func headers(_ echo: [String: Any]?) -> [String: String] {
        var result: [String: String] = [:]
        for pair in echo?["headers"] as? [[String]] ?? [] where pair.count == 2 { result[pair[0].lowercased()] = pair[1] }
        return result
    }

    @Test(arguments: ["--http1.1", "--http2"])
    func get_reachesUpstreamWithHostAndForwardingHeaders(version: String) async throws {
        let upstream = try PortalUpstream()
        defer { upstream.stop() }
        let harness = try await Self.harness(upstream)
        let result = try await offloaded { try Peers.curl(["-k", version, "-H", "X-Forwarded-For: 198.51.100.9", "-H", "Cookie: a=1",
                                     "https://127.0.0.1:\(harness.port)/echo?x=1"]) }
        let echo = Self.json(result.stdout)
        #expect(echo?["method"] as? String == "GET")
        #expect(echo?["path"] as? String == "/echo?x=1")
        let headers = Self.headers(echo)
        #expect(headers["host"] == "127.0.0.1:\(harness.port)")
        #expect(headers["x-forwarded-for"] == "198.51.100.9, 127.0.0.1")
        #expect(headers["x-forwarded-proto"] == "https")
        #expect(headers["x-forwarded-host"] == "127.0.0.1:\(harness.port)")
        #expect(headers["forwarded"]?.hasPrefix("for=127.0.0.1;proto=https;host=") == true)
        #expect(headers["cookie"] == "a=1")
        #expect(headers["connection"] == nil || headers["connection"]?.lowercased() == "keep-alive")
        let access = harness.log.entries.filter { $0.message == "access" }
        #expect(access.contains { $0.metadata["status"] == "200" && $0.metadata["path"] == "/echo?x=1"
                && $0.metadata["protocol"] == (version == "--http2" ? "h2" : "h1") && $0.metadata["upstream_ms"] != nil })
        try await harness.stop()
    }

    @Test(arguments: ["--http1.1", "--http2"])
    func post_streamsTheBodyToUpstream(version: String) async throws {
        let upstream = try PortalUpstream()
        defer { upstream.stop() }
        let harness = try await Self.harness(upstream)
        let body = String(repeating: "porthole ", count: 20_000)
        let file = harness.directory.write("body.txt", body)
        let result = try await offloaded { try Peers.curl(["-k", version, "--data-binary", "@\(file)", "https://127.0.0.1:\(harness.port)/echo"]) }
        let echo = Self.json(result.stdout)
        #expect(echo?["method"] as? String == "POST")
        #expect(echo?["body_length"] as? Int == body.utf8.count)
        // Chunked on the way in (HTTP/1.1) and a body without length (HTTP/2) both arrive whole.
        let chunked = try await offloaded { try Peers.curl(["-k", version, "-H", "Transfer-Encoding: chunked", "--data-binary", "@\(file)",
                                      "https://127.0.0.1:\(harness.port)/echo"]) }
        #expect(Self.json(chunked.stdout)?["body_length"] as? Int == body.utf8.count)
        try await harness.stop()
    }

    @Test func http1KeepAliveAndPipelining_answerInOrderOnOneConnection() async throws {
        let upstream = try PortalUpstream()
        defer { upstream.stop() }
        let harness = try await Self.harness(upstream)
        let requests = (1...3).map { "GET /echo?n=\($0) HTTP/1.1\r\nHost: localhost\r\n\r\n" }.joined()
            + "GET /echo?n=4 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        let result = try await offloaded { try Peers.sClient(port: harness.port, arguments: ["-quiet", "-alpn", "http/1.1"], input: requests,
                                       untilServerCloses: true) }
        let positions = (1...4).compactMap { result.output.range(of: "/echo?n=\($0)")?.lowerBound }
        #expect(positions.count == 4)
        #expect(positions == positions.sorted())
        #expect(result.output.components(separatedBy: "HTTP/1.1 200 OK").count == 5)
        try await harness.stop()
    }

    @Test func expect100Continue_getsContinueThenTheAnswer() async throws {
        let upstream = try PortalUpstream()
        defer { upstream.stop() }
        let harness = try await Self.harness(upstream)
        let file = harness.directory.write("body.txt", String(repeating: "x", count: 5000))
        let result = try await offloaded { try Peers.curl(["-k", "--http1.1", "-v", "-H", "Expect: 100-continue", "--data-binary", "@\(file)",
                                     "https://127.0.0.1:\(harness.port)/echo"]) }
        #expect(result.stderr.contains("HTTP/1.1 100 Continue"))
        #expect(Self.json(result.stdout)?["body_length"] as? Int == 5000)
        try await harness.stop()
    }

    @Test func largeResponseHeaders_passThrough() async throws {
        let upstream = try PortalUpstream()
        defer { upstream.stop() }
        let harness = try await Self.harness(upstream)
        for version in ["--http1.1", "--http2"] {
            let result = try await offloaded { try Peers.curl(["-k", version, "-D", "-", "-o", "/dev/null", "https://127.0.0.1:\(harness.port)/bigheaders?bytes=30000"]) }
            #expect(result.stdout.lowercased().contains("x-big: " + String(repeating: "b", count: 30000)))
        }
        try await harness.stop()
    }

    @Test func nghttp_hundredConcurrentStreamsOnOneConnection() async throws {
        let upstream = try PortalUpstream()
        defer { upstream.stop() }
        let harness = try await Self.harness(upstream)
        let uris = (1...100).map { "https://127.0.0.1:\(harness.port)/echo?stream=\($0)" }
        let result = try await offloaded { try ChildProcess.run("nghttp", ["-n", "-s"] + uris, timeout: 60) }
        #expect(result.status == 0)
        let access = harness.log.entries.filter { $0.message == "access" && $0.metadata["protocol"] == "h2" && $0.metadata["status"] == "200" }
        #expect(Set(access.compactMap { $0.metadata["path"] }).count == 100)
        try await harness.stop()
    }

    /// The full `-n 20000` run is the benchmark harness's; in a debug build
    /// 2,000 requests over the same 20 × 10 shape keep this test to seconds.
    @Test func h2load_completesWithZeroErrors() async throws {
        let upstream = try PortalUpstream()
        defer { upstream.stop() }
        let harness = try await Self.harness(upstream)
        let result = try await offloaded { try ChildProcess.run("h2load", ["-n", "2000", "-c", "20", "-m", "10", "https://127.0.0.1:\(harness.port)/echo"],
                                          timeout: 120) }
        #expect(result.status == 0)
        #expect(result.stdout.contains("2000 succeeded, 0 failed, 0 errored, 0 timeout"))
        #expect(result.stdout.contains("status codes: 2000 2xx"))
        try await harness.stop()
    }

    @Test func unixSocketUpstream_isProxiedTo() async throws {
        let directory = TemporaryDirectory("porthole-unix")
        let socket = directory.file("portal.sock")
        let upstream = try PortalUpstream(unixSocket: socket)
        defer { upstream.stop() }
        let harness = try await GatewayHarness(toml: """
        [portal]
        upstream = "unix:\(socket)"
        """)
        let result = try await offloaded { try Peers.curl(["-k", "--http2", "https://127.0.0.1:\(harness.port)/echo?via=unix"]) }
        #expect(Self.json(result.stdout)?["path"] as? String == "/echo?via=unix")
        try await harness.stop()
    }

    @Test func accessLogOff_writesNoAccessLines() async throws {
        let upstream = try PortalUpstream()
        defer { upstream.stop() }
        let harness = try await GatewayHarness(toml: """
        [log]
        access_log = false
        [portal]
        upstream = "http://127.0.0.1:\(upstream.port)"
        """)
        let result = try await offloaded { try Peers.curl(["-k", "https://127.0.0.1:\(harness.port)/echo"]) }
        #expect(Self.json(result.stdout)?["method"] as? String == "GET")
        #expect(!harness.log.entries.contains { $0.message == "access" })
        try await harness.stop()
    }
}
