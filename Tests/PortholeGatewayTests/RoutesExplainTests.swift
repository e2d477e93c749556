import Foundation
import PortholeTestSupport
import Testing

/// `porthole routes explain`, run from the built binary as an operator would.
@Suite struct RoutesExplainTests {
    static let shadowedConfig = """
    [server]
    listen = ["127.0.0.1:8443"]
    state_dir = "/tmp/porthole-cli-test"

    [[route]]
    name = "agents"
    match = { alpn = ["none"], source = ["10.0.0.0/8"] }
    action = "passthrough"
    upstream = "127.0.0.1:10943"

    [[route]]
    name = "example"
    match = { sni = ["*.example.com"] }
    action = "terminate"

    [[route]]
    name = "portal"
    match = { sni = ["portal.example.com"] }
    action = "terminate"
    """

    private func explain(_ arguments: [String]) throws -> (status: Int32?, stdout: String, stderr: String) {
        let directory = TemporaryDirectory()
        let config = directory.write("porthole.toml", Self.shadowedConfig)
        return try PortholeBinary.run(["routes", "explain", "--config", config] + arguments, timeout: 30)
    }

    @Test func routesExplain_namesTheMatchingRouteAndWhy() throws {
        let result = try explain(["--sni", "portal.example.com", "--alpn", "h2,http/1.1", "--source", "10.1.2.3"])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains { $0.hasPrefix("route #1 \"agents\": no match") && $0.contains("alpn") }, "\(result.stdout)")
        #expect(lines.contains { $0.hasPrefix("route #2 \"example\": MATCH") })
        #expect(lines.contains { $0.hasPrefix("decision: route #2 \"example\"") && $0.contains("terminate") })
    }

    @Test func routesExplain_agentWithoutALPNFromTheLANTakesThePassthrough() throws {
        let result = try explain(["--source", "10.9.9.9"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("decision: route #1 \"agents\""), "\(result.stdout)")
        #expect(result.stdout.contains("127.0.0.1:10943"))
    }

    @Test func routesExplain_warnsAboutAShadowedRoute() throws {
        let result = try explain(["--sni", "other.test"])
        #expect(result.status == 0, "\(result.stderr)")
        let warnings = (result.stdout + result.stderr).split(separator: "\n").filter { $0.contains("warning") }
        #expect(warnings.contains { $0.contains("route #3 \"portal\" can never match") && $0.contains("route #2 \"example\" comes first") },
                "\(result.stdout) \(result.stderr)")
        #expect(result.stdout.contains("decision: no route matched"))
    }
}
