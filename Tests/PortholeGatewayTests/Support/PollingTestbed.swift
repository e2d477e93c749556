import Foundation
import PortholeTLS
import PortholeTestSupport

/// A gateway with polling configured, agent certificates made by openssl,
/// the independent Python agent (PythonAgent/halibut_agent.py) and a
/// dispatch client (curl against the admin listener).
final class PollingTestbed: @unchecked Sendable {
    let harness: GatewayHarness
    let directory: TemporaryDirectory
    /// name → (cert, key, thumbprint)
    let agents: [String: (cert: String, key: String, thumbprint: String)]
    private var processes: [ChildProcess] = []

    static let agentScript = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("PythonAgent/halibut_agent.py").path

    var port: Int { harness.port }
    var adminPort: Int { harness.adminPort! }

    /// Agent certificates and the server's state directory (its
    /// self-signed certificate), made once per test process: key generation
    /// is the slow part of a testbed, and tests run side by side.
    private struct SharedMaterial: @unchecked Sendable {
        let directory: TemporaryDirectory
        let certificates: [String: (cert: String, key: String, thumbprint: String)]
        var stateDirectory: String { directory.path + "/state" }
    }

    private static let material: Result<SharedMaterial, Error> = Result {
        let directory = TemporaryDirectory("porthole-polling")
        var made: [String: (cert: String, key: String, thumbprint: String)] = [:]
        for name in ["trusted", "stranger"] {
            let (cert, key) = try OpenSSLTool.makeSelfSigned(in: directory, name: name, commonName: "agent-\(name)")
            made[name] = (cert, key, try OpenSSLTool.thumbprint(ofPEM: cert))
        }
        _ = try DefaultIdentityStore.loadOrCreate(stateDirectory: directory.path + "/state")
        return SharedMaterial(directory: directory, certificates: made)
    }

    /// The shared agent certificates: name → (cert, key, thumbprint).
    static func sharedCertificates() async throws -> [String: (cert: String, key: String, thumbprint: String)] {
        try await offloaded { try material.get() }.certificates
    }

    /// `pollingTOML` goes into `[polling]` and may use
    /// `{{thumbprint:trusted}}`, `{{thumbprint:stranger}}` and `{{dir}}`;
    /// "trusted" is trusted, "stranger" is not. `toml` may add sections.
    init(toml: ((String) -> String)? = nil, pollingTOML: String = "",
         serverTOML: String = "listen = [\"127.0.0.1:0\"]") async throws {
        let material = try await offloaded { try Self.material.get() }
        var text = """
        [server]
        \(serverTOML)
        state_dir = "\(material.stateDirectory)"

        [polling]
        trusted_thumbprints = ["\(material.certificates["trusted"]!.thumbprint)"]
        \(pollingTOML)
        """
        for (name, entry) in material.certificates { text = text.replacingOccurrences(of: "{{thumbprint:\(name)}}", with: entry.thumbprint) }
        if let toml { text = toml(text) }
        let directory = TemporaryDirectory()
        self.directory = directory
        self.agents = material.certificates
        self.harness = try await GatewayHarness(toml: text, directory: directory)
    }

    /// Starts the Python agent with the named certificate (nil: none).
    @discardableResult
    func startAgent(certificate: String? = "trusted", subscription: String = "poll://agent0000000000000001/",
                    arguments: [String] = [], port: Int? = nil) throws -> ChildProcess {
        var args = [Self.agentScript, "--port", String(port ?? self.port), "--subscription", subscription,
                    "--server-thumbprint", harness.gateway.settings.certificates[0].identity.leaf.thumbprint]
        if let certificate, let entry = agents[certificate] { args += ["--cert", entry.cert, "--key", entry.key] }
        let process = try ChildProcess("python3", ["-u"] + args + arguments)
        processes.append(process)
        return process
    }

    /// Waits until GET /v1/agents lists `count` agents.
    func waitForAgents(_ count: Int, timeout: TimeInterval = 30) async throws -> [[String: Any]] {
        let deadline = Date().addingTimeInterval(timeout)
        var agents: [[String: Any]] = []
        while Date() < deadline {
            let (_, body) = try await admin("GET", "/v1/agents")
            agents = (body as? [String: Any])?["agents"] as? [[String: Any]] ?? []
            if agents.count >= count { return agents }
            try await Task.sleep(for: .milliseconds(50))
        }
        return agents
    }

    /// An admin API request (curl, on its own thread); returns the HTTP
    /// status and the parsed JSON.
    func admin(_ method: String, _ path: String, body: String? = nil) async throws -> (status: Int, json: Any?) {
        let (status, text) = try await offloaded { [adminPort] in try Self.curlAdmin(port: adminPort, method, path, body: body) }
        return (status, try? JSONSerialization.jsonObject(with: Data(text.utf8)))
    }

    private static func curlAdmin(port adminPort: Int, _ method: String, _ path: String, body: String?) throws -> (Int, String) {
        var arguments = ["-X", method, "-w", "\n%{http_code}", "--max-time", "60", "http://127.0.0.1:\(adminPort)\(path)"]
        if let body { arguments += ["-H", "Content-Type: application/json", "--data-binary", body] }
        let result = try ChildProcess.run("curl", ["--silent", "--show-error"] + arguments, timeout: 70)
        let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        let status = Int(lines.last ?? "") ?? 0
        return (status, lines.dropLast().joined(separator: "\n"))
    }

    /// POST /v1/agents/{subscription}/calls.
    func call(_ subscriptionID: String, _ body: String) async throws -> (status: Int, json: [String: Any]) {
        let (status, json) = try await admin("POST", "/v1/agents/\(subscriptionID)/calls", body: body)
        return (status, json as? [String: Any] ?? [:])
    }

    /// Waits for a process to exit without holding a cooperative thread.
    func exitStatus(of process: ChildProcess, timeout: TimeInterval = 20) async throws -> Int32? {
        try await offloaded { process.wait(timeout: timeout) }
    }

    func stop() async throws {
        for process in processes { process.stop() }
        try await harness.stop()
    }
}
