import CoreMetrics
import Prometheus

/// Why a connection ended the way it did; one label value per outcome so
/// that dashboards can tell a scan from a broken agent.
public enum ConnectionOutcome: String, Sendable, CaseIterable {
    case matched
    case noRoute = "no_route"
    case sniffTimeout = "sniff_timeout"
    case tooLarge = "too_large"
    case malformed
    case notTLS = "not_tls"
    case plainHTTP = "plain_http"
    case proxyRejected = "proxy_rejected"
    case upstreamConnectFailure = "upstream_connect_failure"
    case handshakeFailure = "handshake_failure"
    case overloaded
}

/// Every counter the gateway exports, made once per gateway from its own
/// Prometheus registry (so that several gateways in one test process never
/// share numbers) through the swift-metrics API.
public final class GatewayMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    private let factory: PrometheusMetricsFactory

    public let connectionsAccepted: CoreMetrics.Counter
    public let connectionsOpen: CoreMetrics.Meter
    public let handshakesCompleted: CoreMetrics.Counter
    public let bytesFromClients: CoreMetrics.Counter
    public let bytesToClients: CoreMetrics.Counter

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        self.factory = PrometheusMetricsFactory(registry: registry)
        connectionsAccepted = CoreMetrics.Counter(label: "porthole_connections_accepted_total", factory: factory)
        connectionsOpen = CoreMetrics.Meter(label: "porthole_connections_open", factory: factory)
        handshakesCompleted = CoreMetrics.Counter(label: "porthole_tls_handshakes_total", factory: factory)
        bytesFromClients = CoreMetrics.Counter(label: "porthole_client_bytes_received_total", factory: factory)
        bytesToClients = CoreMetrics.Counter(label: "porthole_client_bytes_sent_total", factory: factory)
    }

    /// One count per connection decision: outcome and route.
    public func recordOutcome(_ outcome: ConnectionOutcome, route: String?) {
        CoreMetrics.Counter(label: "porthole_connections_total",
                            dimensions: [("outcome", outcome.rawValue), ("route", route ?? "")],
                            factory: factory).increment()
    }

    public func recordHandshakeFailure(reason: String) {
        CoreMetrics.Counter(label: "porthole_tls_handshake_failures_total", dimensions: [("reason", reason)],
                            factory: factory).increment()
    }

    /// Counters for other layers (polling, portal) that share the registry.
    public func counter(_ label: String, _ dimensions: [(String, String)] = []) -> CoreMetrics.Counter {
        CoreMetrics.Counter(label: label, dimensions: dimensions, factory: factory)
    }

    /// Prometheus text exposition format.
    public func exposition() -> String { registry.emitToString() }
}
