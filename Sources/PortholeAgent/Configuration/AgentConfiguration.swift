import PortholeTLS
import PortholeWire

/// How an agent reaches the polling server (halibut.md §2, §8).
public enum AgentTransport: String, Sendable, CaseIterable {
    /// TLS, then the byte protocol directly (classic `:10943` or the shared port).
    case raw
    /// TLS, an HTTP/1.1 upgrade on the comms path, a text `MX`, then the byte
    /// protocol inside binary WebSocket frames (§8).
    case webSocket = "websocket"
}

/// Line ends of what the agent writes (§2.1, §2.3): 4.x and Windows agents
/// send CRLF, 2.x agents on Linux bare LF. Servers must accept both.
public enum AgentLineEnding: String, Sendable, CaseIterable {
    case lf
    case crlf

    public var bytes: [UInt8] { self == .lf ? [0x0A] : [0x0D, 0x0A] }
}

/// An HTTP proxy the agent tunnels through with `CONNECT` (§9).
public struct AgentProxy: Sendable, Hashable {
    public var address: HostPort
    /// `user:password` for `Proxy-Authorization: Basic`, if the URL had one.
    public var credentials: String?

    public init(address: HostPort, credentials: String? = nil) {
        self.address = address
        self.credentials = credentials
    }

    /// Parses `http://[user:password@]host:port`.
    public init(url: String) throws(AgentConfigurationError) {
        guard url.lowercased().hasPrefix("http://") else {
            throw .invalidProxy(url, "only http:// proxies are supported (the tunnel itself carries TLS), e.g. http://127.0.0.1:8888")
        }
        var rest = Substring(url.dropFirst("http://".count))
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        var credentials: String?
        if let at = rest.lastIndex(of: "@") {
            credentials = String(rest[..<at])
            rest = rest[rest.index(after: at)...]
        }
        do {
            self.init(address: try HostPort.parse(rest), credentials: credentials)
        } catch {
            throw .invalidProxy(url, error.description)
        }
    }
}

/// How many subscriptions `--count N` agents use.
public enum AgentSubscriptionMode: String, Sendable, CaseIterable {
    /// Agent i subscribes as `poll://agent-<i>/` (i from 1): N queues.
    case distinct
    /// All agents share the configured subscription: N connections pulling
    /// from one queue.
    case shared
}

/// Reconnect delays: after a connection ends the agent waits a random time
/// between `minimum` and a ceiling that doubles with each failure in a row
/// up to `maximum`, so thousands of agents do not return in lockstep after a
/// server restart (§7: real agents wait 5 s, or a random 5 s – 2 min).
public struct AgentBackoff: Sendable, Hashable {
    public var minimumSeconds: Double
    public var maximumSeconds: Double

    public init(minimumSeconds: Double = 5, maximumSeconds: Double = 120) {
        self.minimumSeconds = minimumSeconds
        self.maximumSeconds = max(minimumSeconds, maximumSeconds)
    }

    /// The delay before attempt number `failures + 1`.
    public func delay<G: RandomNumberGenerator>(afterFailures failures: Int, using generator: inout G) -> Double {
        let ceiling = min(maximumSeconds, minimumSeconds * Double(1 << min(max(failures, 0), 20)))
        guard ceiling > minimumSeconds else { return minimumSeconds }
        return Double.random(in: minimumSeconds...ceiling, using: &generator)
    }
}

/// Everything one agent process needs.
public struct AgentConfiguration: Sendable {
    /// The polling server (`host:port`), as configured on a Tentacle.
    public var server: HostPort
    /// `poll://<id>/`: the queue the agent pulls from (§2.3).
    public var subscription: String
    public var transport: AgentTransport
    /// The comms path for `.webSocket` (§8).
    public var webSocketPath: String
    public var proxy: AgentProxy?
    public var lineEnding: AgentLineEnding
    /// The agent's client certificate and key.
    public var identity: CertificateIdentity
    /// The server certificate thumbprint the agent trusts (§1).
    public var serverThumbprint: String
    public var count: Int
    public var subscriptionMode: AgentSubscriptionMode
    public var backoff: AgentBackoff
    /// Timeout of the TCP connect, the proxy tunnel and the TLS handshake.
    public var connectTimeoutSeconds: Double

    public init(
        server: HostPort, subscription: String, identity: CertificateIdentity, serverThumbprint: String,
        transport: AgentTransport = .raw, webSocketPath: String = "/OctopusComms", proxy: AgentProxy? = nil,
        lineEnding: AgentLineEnding = .crlf, count: Int = 1, subscriptionMode: AgentSubscriptionMode = .distinct,
        backoff: AgentBackoff = AgentBackoff(), connectTimeoutSeconds: Double = 30
    ) throws(AgentConfigurationError) {
        do { self.subscription = try HalibutSubscriptionURI.normalize(subscription) } catch {
            throw .invalidSubscription(subscription, error.description)
        }
        guard (try? Thumbprint.normalize(serverThumbprint)) != nil else { throw .invalidThumbprint(serverThumbprint) }
        guard count >= 1 else { throw .invalidCount(count) }
        guard webSocketPath.hasPrefix("/") else { throw .invalidWebSocketPath(webSocketPath) }
        self.server = server
        self.identity = identity
        self.serverThumbprint = serverThumbprint
        self.transport = transport
        self.webSocketPath = webSocketPath
        self.proxy = proxy
        self.lineEnding = lineEnding
        self.count = count
        self.subscriptionMode = subscriptionMode
        self.backoff = backoff
        self.connectTimeoutSeconds = connectTimeoutSeconds
    }

    /// The subscription of agent `index` (0-based) of `count`.
    public func subscription(forAgent index: Int) -> String {
        guard count > 1, subscriptionMode == .distinct else { return subscription }
        return "poll://agent-\(index + 1)/"
    }

    /// The server host as text (SNI, Host header, CONNECT target).
    var serverHostText: String { server.host.description }
}

/// A setting the agent cannot work with; the message says what to pass.
public enum AgentConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
    case invalidSubscription(String, String)
    case invalidThumbprint(String)
    case invalidCount(Int)
    case invalidProxy(String, String)
    case invalidWebSocketPath(String)

    public var description: String {
        switch self {
        case let .invalidSubscription(text, reason):
            return "subscription \(String(reflecting: text)) is invalid (\(reason)); pass e.g. --subscription poll://abcdefghij0123456789/"
        case .invalidThumbprint(let text):
            return "server thumbprint \(String(reflecting: text)) is not 40 hex digits; `porthole thumbprint <server cert>` prints it"
        case .invalidCount(let count):
            return "--count \(count): the number of agents must be at least 1"
        case let .invalidProxy(url, reason):
            return "proxy \(String(reflecting: url)) is invalid: \(reason)"
        case .invalidWebSocketPath(let path):
            return "WebSocket path \(String(reflecting: path)) must start with /, e.g. /OctopusComms"
        }
    }
}
