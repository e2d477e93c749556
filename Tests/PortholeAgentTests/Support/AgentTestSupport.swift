import Foundation
import Logging
import NIOPosix
import PortholeAgent
import PortholeTestSupport
import PortholeTLS
import PortholeWire

/// Paths, certificates and the Python test server for the agent tests.
enum AgentFixtures {
    static let testsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    static let serverScript = testsDirectory.appendingPathComponent("Scripts/halibut_test_server.py").path
    /// The recorded vectors and their test-only certificates.
    static let vectors = testsDirectory.deletingLastPathComponent()
        .appendingPathComponent("PortholeWireTests/Halibut/Fixtures/halibut").path
    static func certificate(_ name: String) -> String { "\(vectors)/certs/\(name)" }

    static let serverCert = certificate("octopus-server.crt")
    static let serverKey = certificate("octopus-server.key")
    static let agentCert = certificate("tentacle-client.crt")
    static let agentKey = certificate("tentacle-client.key")

    static func thumbprint(_ path: String) throws -> String { try Thumbprint.ofFile(path: path) }

    static func agentIdentity() throws -> CertificateIdentity {
        try CertificateIdentity.load(certPath: agentCert, keyPath: agentKey)
    }

    static let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
}

/// The Python Halibut test server (Scripts/halibut_test_server.py), started
/// on 127.0.0.1 with an ephemeral port and stopped by pid.
final class PythonTestServer {
    let process: ChildProcess
    let port: Int

    init(_ arguments: [String]) async throws {
        let base = ["-u", AgentFixtures.serverScript, "--cert", AgentFixtures.serverCert, "--key", AgentFixtures.serverKey,
                    "--client-cert", AgentFixtures.agentCert, "--timeout", "120"]
        process = try ChildProcess("python3", base + arguments)
        // Generous bounds, and the condition is checked once more after the
        // deadline: in a full parallel run on 2 cores other tests may hold
        // the cooperative threads, so a sleep can last far longer than asked.
        let deadline = Date().addingTimeInterval(60)
        var port: Int?
        while true {
            if let line = process.stdout.split(separator: "\n").first(where: { $0.hasPrefix("PORT ") }) {
                port = Int(line.dropFirst(5))
                break
            }
            if !process.isRunning || Date() > deadline { break }
            try await Task.sleep(nanoseconds: 10_000_000)
        }
        guard let port else { throw TestSupportError("test server did not start: \(process.stderr)") }
        self.port = port
    }

    /// Waits (without blocking a thread) for the server to finish and
    /// returns its RESULT object.
    func result(timeout: TimeInterval = 150) async throws -> [String: Any] {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { try await Task.sleep(nanoseconds: 20_000_000) }
        process.stop()
        try await Task.sleep(nanoseconds: 50_000_000)  // let the pipe handlers collect the last output
        guard let line = process.stdout.split(separator: "\n").first(where: { $0.hasPrefix("RESULT ") }),
              let object = try JSONSerialization.jsonObject(with: Data(line.dropFirst(7).utf8)) as? [String: Any]
        else { throw TestSupportError("test server gave no result; stderr: \(process.stderr) stdout: \(process.stdout.prefix(2000))") }
        return object
    }
}

/// Runs an in-process agent fleet until `body` is done.
func withAgents<T>(
    _ configuration: AgentConfiguration, _ body: (PollingAgentFleet) async throws -> T
) async throws -> T {
    var logger = Logger(label: "agent-test")
    logger.logLevel = .critical
    let fleet = try PollingAgentFleet(configuration: configuration, group: AgentFixtures.group, logger: logger)
    let task = Task { await fleet.run() }
    defer { task.cancel() }
    let value = try await body(fleet)
    task.cancel()
    await task.value
    return value
}

func agentConfiguration(
    port: Int, host: String = "127.0.0.1", subscription: String = "poll://abc/", transport: AgentTransport = .raw,
    lineEnding: AgentLineEnding = .crlf, proxy: AgentProxy? = nil, serverThumbprint: String? = nil
) throws -> AgentConfiguration {
    try AgentConfiguration(
        server: HostPort.parse("\(host):\(port)"), subscription: subscription, identity: AgentFixtures.agentIdentity(),
        serverThumbprint: serverThumbprint ?? AgentFixtures.thumbprint(AgentFixtures.serverCert),
        transport: transport, proxy: proxy, lineEnding: lineEnding,
        backoff: AgentBackoff(minimumSeconds: 0.2, maximumSeconds: 0.5), connectTimeoutSeconds: 10)
}
