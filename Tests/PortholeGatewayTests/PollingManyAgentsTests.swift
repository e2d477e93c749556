import Foundation
import PortholeTestSupport
import Testing

/// Many agents connected at once (one Python process, one thread per
/// agent), each answering 10 calls dispatched concurrently through the API:
/// every call must get its own correct result. scripts/test.sh runs it on
/// its own with PORTHOLE_POLLING_AGENTS=1000, the size the issue asks for;
/// a plain `swift test` uses 60 so that it stays light beside other suites.
@Suite struct PollingManyAgentsTests {
    static let agentCount = Int(ProcessInfo.processInfo.environment["PORTHOLE_POLLING_AGENTS"] ?? "") ?? 60
    static let callsPerAgent = 10

    /// Fires every call at once from a thread pool over keep-alive
    /// connections; prints "OK n" or the first mismatches.
    static let caller = #"""
import concurrent.futures, http.client, json, sys, threading
port, agents, calls = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
local = threading.local()
def call(job):
    agent, k = job
    if not hasattr(local, "conn"):
        local.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    name = "a%d-c%d" % (agent, k)
    body = json.dumps({"service": "IEchoService", "method": "SayHello", "params": [name], "timeout": "60s"})
    local.conn.request("POST", "/v1/agents/many%d/calls" % agent, body, {"Content-Type": "application/json"})
    response = local.conn.getresponse()
    data = json.loads(response.read())
    return name, response.status, data
jobs = [(a, k) for a in range(agents) for k in range(calls)]
bad = []
with concurrent.futures.ThreadPoolExecutor(max_workers=min(64, len(jobs))) as pool:
    for name, status, data in pool.map(call, jobs):
        if status != 200 or data.get("result") != "Hello " + name or data.get("error") is not None:
            bad.append((name, status, data))
print("OK %d" % (len(jobs) - len(bad)))
for entry in bad[:5]:
    print("BAD", entry)
"""#

    @Test func everyConcurrentCallGetsItsOwnResult() async throws {
        let testbed = try await PollingTestbed(serverTOML: "listen = [\"127.0.0.1:0\"]\nmax_connections = 5000")
        try testbed.startAgent(subscription: "poll://many{i}/", arguments: ["--count", String(Self.agentCount)])
        let connected = try await testbed.waitForAgents(Self.agentCount, timeout: 60)
        #expect(connected.count == Self.agentCount)
        let arguments = [String(testbed.adminPort), String(Self.agentCount), String(Self.callsPerAgent)]
        let result = try await offloaded { try Peers.python(Self.caller, arguments, timeout: 120) }
        #expect(result.stdout.hasPrefix("OK \(Self.agentCount * Self.callsPerAgent)\n"), "\(result.stdout)\n\(result.stderr)")
        try await testbed.stop()
    }
}
