import Foundation
import PortholeTestSupport
import Testing

/// `porthole run` re-reads the polling trust file on SIGHUP, as a user
/// would trigger it (`systemctl reload` / `kill -HUP`).
@Suite struct PollingTrustReloadSignalTests {
    @Test func sighupReloadsTheTrustFileAndLetsANewAgentIn() async throws {
        let certificates = try await PollingTestbed.sharedCertificates()
        let directory = TemporaryDirectory()
        let trustFile = directory.write("trusted.txt", "# nobody yet\n")
        let config = directory.write("porthole.toml", """
        [server]
        listen = ["127.0.0.1:0"]
        state_dir = "\(directory.file("state"))"
        [admin]
        listen = ""
        [polling]
        trust_file = "\(trustFile)"
        """)
        let (porthole, port) = try await offloaded { try PortholeBinary.start(["--config", config]) }
        defer { porthole.stop() }
        let stranger = certificates["stranger"]!
        let agent = try ChildProcess("python3", ["-u", PollingTestbed.agentScript, "--port", String(port), "--subscription", "poll://late/",
                                                 "--cert", stranger.cert, "--key", stranger.key])
        defer { agent.stop() }
        #expect(try await offloaded { porthole.waitForOutput(containing: "polling agent rejected", timeout: 20) })
        _ = directory.write("trusted.txt", "\(stranger.thumbprint)\n")
        porthole.signal(SIGHUP)
        #expect(try await offloaded { porthole.waitForOutput(containing: "reload requested", timeout: 20) }, "\(porthole.stderr)")
        #expect(try await offloaded { agent.waitForOutput(containing: "SUBSCRIBED", timeout: 20) }, "\(agent.stdout)")
        #expect(porthole.isRunning)
    }
}
