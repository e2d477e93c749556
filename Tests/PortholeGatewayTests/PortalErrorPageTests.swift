import Foundation
import PortholeTestSupport
import Testing

/// Errors a person can read: 502, 504, 431, 413 and 421, over HTTP/1.1 and
/// HTTP/2, against a real upstream (or a closed port).
@Suite struct PortalErrorPageTests {
    /// Status code and body of one curl request.
    static func fetch(_ version: String, _ url: String, _ extra: [String] = []) throws -> (code: String, body: String) {
        let result = try Peers.curl(["-k", version, "-w", "\n%{http_code}"] + extra + [url])
        let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        return (String(lines.last ?? ""), lines.dropLast().joined(separator: "\n"))
    }

    @Test(arguments: ["--http1.1", "--http2"])
    func upstreamDown_is502WithAPage(version: String) async throws {
        // A Unix socket path nothing listens on: a stopped upstream's TCP port
        // could be taken by another test's upstream running alongside.
        let directory = TemporaryDirectory("porthole-down")
        let harness = try await GatewayHarness(toml: """
        [portal]
        upstream = "unix:\(directory.file("nobody-listens.sock"))"
        """)
        let answer = try await offloaded { try Self.fetch(version, "https://127.0.0.1:\(harness.port)/") }
        #expect(answer.code == "502")
        #expect(answer.body.contains("could not connect to the portal"))
        try await harness.stop()
    }

    @Test(arguments: ["--http1.1", "--http2"])
    func slowUpstream_is504(version: String) async throws {
        let upstream = try PortalUpstream()
        defer { upstream.stop() }
        let harness = try await PortalProxyTests.harness(upstream, "response_timeout = \"1s\"")
        let answer = try await offloaded { try Self.fetch(version, "https://127.0.0.1:\(harness.port)/delay?ms=3000") }
        #expect(answer.code == "504")
        #expect(answer.body.contains("did not answer in time"))
        // The connection still serves the next request.
        #expect(try await offloaded { try Self.fetch(version, "https://127.0.0.1:\(harness.port)/echo").code } == "200")
        try await harness.stop()
    }

    @Test(arguments: ["--http1.1", "--http2"])
    func headersOverTheLimit_are431(version: String) async throws {
        let upstream = try PortalUpstream()
        defer { upstream.stop() }
        let harness = try await PortalProxyTests.harness(upstream, "max_header_bytes = \"8KB\"")
        let big = String(repeating: "c", count: 10_000)
        let answer = try await offloaded { try Self.fetch(version, "https://127.0.0.1:\(harness.port)/echo", ["-H", "Cookie: big=\(big)"]) }
        #expect(answer.code == "431")
        #expect(answer.body.contains("cookies"))
        #expect(try await offloaded { try Self.fetch(version, "https://127.0.0.1:\(harness.port)/echo").code } == "200")
        try await harness.stop()
    }

    @Test(arguments: ["--http1.1", "--http2"])
    func bodyOverTheLimit_is413(version: String) async throws {
        let upstream = try PortalUpstream()
        defer { upstream.stop() }
        let harness = try await PortalProxyTests.harness(upstream, "max_body = \"1KB\"")
        let file = harness.directory.write("body.bin", String(repeating: "z", count: 5000))
        let declared = try await offloaded { try Self.fetch(version, "https://127.0.0.1:\(harness.port)/echo", ["--data-binary", "@\(file)"]) }
        #expect(declared.code == "413")
        #expect(declared.body.contains("larger than this portal accepts"))
        if version == "--http1.1" {
            // No length up front: caught while streaming.
            let chunked = try await offloaded { try Self.fetch(version, "https://127.0.0.1:\(harness.port)/echo",
                                         ["-H", "Transfer-Encoding: chunked", "--data-binary", "@\(file)"]) }
            #expect(chunked.code == "413")
        }
        let small = try await offloaded { try Self.fetch(version, "https://127.0.0.1:\(harness.port)/echo", ["--data-binary", "hello"]) }
        #expect(small.code == "200")
        try await harness.stop()
    }

    @Test(arguments: ["--http1.1", "--http2"])
    func authorityNotTheConnectionsName_is421(version: String) async throws {
        let upstream = try PortalUpstream()
        defer { upstream.stop() }
        let harness = try await PortalProxyTests.harness(upstream)
        let connectTo = ["--connect-to", "portal.example:443:127.0.0.1:\(harness.port)"]
        let other = try await offloaded { try Self.fetch(version, "https://portal.example/echo", connectTo + ["-H", "Host: other.example"]) }
        #expect(other.code == "421")
        #expect(other.body.contains("Misdirected"))
        let same = try await offloaded { try Self.fetch(version, "https://portal.example/echo", connectTo) }
        #expect(same.code == "200")
        try await harness.stop()
    }
}
