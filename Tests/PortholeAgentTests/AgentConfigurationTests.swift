import PortholeAgent
import PortholeWire
import Testing

@Suite struct AgentConfigurationTests {
    @Test func countedAgents_getDistinctSubscriptions_unlessShared() throws {
        var configuration = try agentConfiguration(port: 443, subscription: "POLL://ABC")
        #expect(configuration.subscription == "poll://abc/")
        configuration.count = 3
        #expect((0..<3).map(configuration.subscription(forAgent:)) == ["poll://agent-1/", "poll://agent-2/", "poll://agent-3/"])
        configuration.subscriptionMode = .shared
        #expect((0..<3).map(configuration.subscription(forAgent:)) == ["poll://abc/", "poll://abc/", "poll://abc/"])
    }

    @Test func backoff_staysWithinBounds_andItsCeilingGrowsWithFailures() {
        let backoff = AgentBackoff(minimumSeconds: 5, maximumSeconds: 120)
        var generator = SystemRandomNumberGenerator()
        let first = (0..<200).map { _ in backoff.delay(afterFailures: 0, using: &generator) }
        #expect(first.allSatisfy { $0 == 5 })
        let later = (0..<200).map { _ in backoff.delay(afterFailures: 10, using: &generator) }
        #expect(later.allSatisfy { $0 >= 5 && $0 <= 120 })
        #expect(Set(later).count > 100)  // jittered, not lockstep
        let third = (0..<200).map { _ in backoff.delay(afterFailures: 2, using: &generator) }
        #expect(third.allSatisfy { $0 >= 5 && $0 <= 20 })
    }

    @Test func proxyURL_parsesHostPortAndCredentials_andRejectsOtherSchemes() throws {
        let proxy = try AgentProxy(url: "http://user:secret@127.0.0.1:8888/")
        #expect(proxy.address.port == 8888)
        #expect(proxy.credentials == "user:secret")
        #expect(throws: AgentConfigurationError.self) { try AgentProxy(url: "https://127.0.0.1:8888") }
    }

    @Test func invalidThumbprintAndSubscription_areRejectedWithAHint() throws {
        #expect(throws: AgentConfigurationError.self) { try agentConfiguration(port: 443, serverThumbprint: "nothex") }
        #expect(throws: AgentConfigurationError.self) { try agentConfiguration(port: 443, subscription: "abc") }
    }
}
