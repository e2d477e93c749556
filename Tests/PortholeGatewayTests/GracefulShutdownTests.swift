import Foundation
import PortholeTestSupport
import Testing

/// SIGTERM: stop accepting, finish what is open, exit 0.
@Suite struct GracefulShutdownTests {
    @Test func connectionOpenAtSIGTERM_isServedToItsEnd_andExitCodeIsZero() throws {
        let directory = TemporaryDirectory()
        let (porthole, port) = try PortholeBinary.start(["--listen", "127.0.0.1:0", "--state-dir", directory.file("state"),
                                                         "--admin", "off"])
        defer { porthole.stop() }
        // The client sends a request head announcing a body, signals that it
        // is mid-request, waits for SIGTERM, then sends the rest.
        let client = try ChildProcess("python3", ["-c", PythonScripts.slowRequestAcrossSIGTERM, "127.0.0.1", String(port)])
        defer { client.stop() }
        #expect(client.waitForOutput(containing: "mid-request", timeout: 20))
        porthole.signal(SIGTERM)
        #expect(porthole.waitForOutput(containing: "shutting down", timeout: 10))
        // New connections are refused once the listener is closed.
        let refused = try ChildProcess.run("curl", ["-sk", "--max-time", "5", "https://127.0.0.1:\(port)/"])
        #expect(refused.status != 0)
        client.write("go\n")
        #expect(client.wait(timeout: 20) == 0, "\(client.stderr)")
        #expect(client.stdout.contains("HTTP/1.1 200 OK"))
        #expect(client.stdout.lowercased().contains("connection: close"))
        #expect(porthole.wait(timeout: 20) == 0, "\(porthole.stderr)")
        #expect(porthole.stderr.contains("stopped"))
    }
}
