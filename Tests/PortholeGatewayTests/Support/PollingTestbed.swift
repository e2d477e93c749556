import Foundation
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

    /// `toml` may use `{{thumbprint:<name>}}` for a certificate's thumbprint
    /// and `{{dir}}`. Certificates named in `certificates` are made first;
    /// by default "trusted" is trusted and "stranger" is not.
    init(certificates: [String] = ["trusted", "stranger"], toml: ((String) -> String)? = nil,
         pollingTOML: String = "") async throws {
        let directory = TemporaryDirectory()
        var made: [String: (String, String, String)] = [:]
        for name in certificates {
            let (cert, key) = try OpenSSLTool.makeSelfSigned(in: directory, name: name, commonName: "agent-\(name)")
            made[name] = (cert, key, try OpenSSLTool.thumbprint(ofPEM: cert))
        }
        var text = """
        [polling]
        trusted_thumbprints = ["\(made["trusted"]?.2 ?? "")"]
        \(pollingTOML)
        """
        for (name, entry) in made { text = text.replacingOccurrences(of: "{{thumbprint:\(name)}}", with: entry.2) }
        if let toml { text = toml(text) }
        self.directory = directory
        self.agents = made.mapValues { (cert: $0.0, key: $0.1, thumbprint: $0.2) }
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
    func waitForAgents(_ count: Int, timeout: TimeInterval = 30) throws -> [[String: Any]] {
        let deadline = Date().addingTimeInterval(timeout)
        var agents: [[String: Any]] = []
        while Date() < deadline {
            let (_, body) = try admin("GET", "/v1/agents")
            agents = (body as? [String: Any])?["agents"] as? [[String: Any]] ?? []
            if agents.count >= count { return agents }
            usleep(50_000)
        }
        return agents
    }

    /// An admin API request; returns the HTTP status and the parsed JSON.
    func admin(_ method: String, _ path: String, body: String? = nil) throws -> (status: Int, json: Any?) {
        var arguments = ["-X", method, "-w", "\n%{http_code}", "--max-time", "60", "http://127.0.0.1:\(adminPort)\(path)"]
        if let body { arguments += ["-H", "Content-Type: application/json", "--data-binary", body] }
        let result = try ChildProcess.run("curl", ["--silent", "--show-error"] + arguments, timeout: 70)
        let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        let status = Int(lines.last ?? "") ?? 0
        let text = lines.dropLast().joined(separator: "\n")
        return (status, try? JSONSerialization.jsonObject(with: Data(text.utf8)))
    }

    /// POST /v1/agents/{subscription}/calls.
    func call(_ subscriptionID: String, _ body: String) throws -> (status: Int, json: [String: Any]) {
        let (status, json) = try admin("POST", "/v1/agents/\(subscriptionID)/calls", body: body)
        return (status, json as? [String: Any] ?? [:])
    }

    func stop() async throws {
        for process in processes { process.stop() }
        try await harness.stop()
    }
}
