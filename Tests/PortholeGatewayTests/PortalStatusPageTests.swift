import Foundation
import PortholeTestSupport
import Testing

/// The built-in status page: with no upstream at "/", and at
/// `[portal] status_path` in front of an upstream; rendered by a real
/// browser (headless Chromium) at phone width, and as JSON.
@Suite struct PortalStatusPageTests {
    static func chromium(_ arguments: [String], directory: TemporaryDirectory) throws -> (status: Int32?, stdout: String, stderr: String) {
        try ChildProcess.run("chromium", ["--headless", "--no-sandbox", "--disable-gpu", "--ignore-certificate-errors",
                                          "--user-data-dir=\(directory.file("chromium-profile"))"] + arguments, timeout: 60)
    }

    @Test func statusPathInFrontOfAnUpstream_rendersInChromiumWithTheThumbprint() async throws {
        let upstream = try PortalUpstream()
        defer { upstream.stop() }
        let harness = try await PortalProxyTests.harness(upstream, "status_path = \"/porthole/status\"")
        let thumbprint = harness.gateway.settings.certificates[0].identity.leaf.thumbprint
        let url = "https://127.0.0.1:\(harness.port)/porthole/status"
        let screenshot = harness.directory.file("status.png")
        let shot = try await offloaded { try Self.chromium(["--screenshot=\(screenshot)", "--window-size=412,900", url], directory: harness.directory) }
        #expect(shot.status == 0, "\(shot.stderr)")
        let png = FileManager.default.contents(atPath: screenshot) ?? Data()
        #expect(png.count > 1_000)
        #expect(png.prefix(8) == Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]))
        let dom = try await offloaded { try Self.chromium(["--dump-dom", url], directory: harness.directory) }
        #expect(dom.stdout.contains("id=\"thumbprint\">\(thumbprint)</p>"))
        #expect(dom.stdout.contains("width=device-width"))
        // Self-contained: nothing to fetch from elsewhere.
        #expect(!dom.stdout.contains("src=\"http") && !dom.stdout.contains("href=\"http"))
        // Everything else still goes to the upstream.
        let proxied = PortalProxyTests.json(try await offloaded { try Peers.curl(["-k", "https://127.0.0.1:\(harness.port)/echo"]).stdout })
        #expect(proxied?["path"] as? String == "/echo")
        try await harness.stop()
    }

    @Test(arguments: ["--http1.1", "--http2"])
    func jsonForm_parsesWithAndWithoutUpstream(version: String) async throws {
        let upstream = try PortalUpstream()
        defer { upstream.stop() }
        let proxying = try await PortalProxyTests.harness(upstream)
        let builtIn = try await GatewayHarness()
        for (harness, path) in [(proxying, "/porthole/status.json"), (proxying, "/porthole/status?format=json"), (builtIn, "/?format=json")] {
            let thumbprint = harness.gateway.settings.certificates[0].identity.leaf.thumbprint
            let result = try await offloaded { try Peers.curl(["-k", version, "https://127.0.0.1:\(harness.port)\(path)"]) }
            let parsed = PortalProxyTests.json(result.stdout)
            #expect(parsed?["serverThumbprint"] as? String == thumbprint, "\(path): \(result.stdout.prefix(200))")
            #expect(parsed?["product"] as? String == "Porthole")
        }
        try await proxying.stop()
        try await builtIn.stop()
    }
}
