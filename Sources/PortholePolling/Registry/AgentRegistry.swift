import Foundation
import NIOConcurrencyHelpers

/// One connected agent, as `GET /v1/agents` and the status page show it.
public struct ConnectedAgent: Sendable {
    public var connection: PollingConnectionID
    public var subscription: String
    public var thumbprint: String
    public var remoteAddress: String
    public var transport: PollingTransport
    public var connectedSince: Date
    public var lastActivity: Date
    public var inFlight: Int
}

/// The agents connected now. Admission enforces the optional
/// subscription→thumbprint bindings and the per-subscription limit.
public final class AgentRegistry: Sendable {
    private let bindings: [String: String]
    private let maxPerSubscription: Int
    private let agents = NIOLockedValueBox<[PollingConnectionID: ConnectedAgent]>([:])

    public init(bindings: [PollingSettings.Binding], maxConnectionsPerSubscription: Int) {
        var map: [String: String] = [:]
        for binding in bindings { map[binding.subscription] = binding.thumbprint }
        self.bindings = map
        self.maxPerSubscription = maxConnectionsPerSubscription
    }

    /// Registers the agent, or says why not.
    public func admit(_ agent: ConnectedAgent) -> PollingRejection? {
        if let bound = bindings[agent.subscription], bound != agent.thumbprint.uppercased() {
            return PollingRejection(.bindingMismatch, "subscription \(agent.subscription) is bound to thumbprint \(bound), but the agent presented \(agent.thumbprint) ([[polling.agent]])")
        }
        return agents.withLockedValue { agents in
            let open = agents.values.filter { $0.subscription == agent.subscription }.count
            if open >= maxPerSubscription {
                return PollingRejection(.connectionLimit, "subscription \(agent.subscription) already has \(open) connections ([polling].max_connections_per_subscription = \(maxPerSubscription))")
            }
            agents[agent.connection] = agent
            return nil
        }
    }

    public func remove(_ connection: PollingConnectionID) {
        agents.withLockedValue { _ = $0.removeValue(forKey: connection) }
    }

    public func touch(_ connection: PollingConnectionID, inFlight: Int? = nil) {
        let now = Date()
        agents.withLockedValue { agents in
            agents[connection]?.lastActivity = now
            if let inFlight { agents[connection]?.inFlight = inFlight }
        }
    }

    public func isSubscribed(_ subscription: String) -> Bool {
        agents.withLockedValue { $0.values.contains { $0.subscription == subscription } }
    }

    /// Sorted by subscription, then connection time.
    public var all: [ConnectedAgent] {
        agents.withLockedValue { Array($0.values) }.sorted {
            ($0.subscription, $0.connectedSince) < ($1.subscription, $1.connectedSince)
        }
    }
}
