import PortholeWire

/// Shorthand inside this module; public API spells out `PortholeConfiguration.Route`
/// so that importers keep the name `Route` free for their own types.
typealias Route = PortholeConfiguration.Route

/// The ordered route table: a pure function from `ConnectionFacts` to a
/// route. First match wins; with no routes configured the implicit default
/// applies; with routes configured and none matching, the connection has
/// no route (the gateway closes it).
public struct RouteTable: Sendable {
    public let routes: [PortholeConfiguration.Route]
    public let implicitDefault: PortholeConfiguration.Route

    public init(routes: [PortholeConfiguration.Route],
                implicitDefault: PortholeConfiguration.Route = .implicitDefault(alpn: ["h2", "http/1.1"])) {
        self.routes = routes
        self.implicitDefault = implicitDefault
    }

    /// The hot path: no strings are built here; `RouteDecision.reasons`
    /// describes the decision only when someone asks.
    public func match(_ facts: ConnectionFacts) -> RouteDecision {
        guard !routes.isEmpty else {
            return RouteDecision(outcome: .implicitDefault, route: implicitDefault, facts: facts)
        }
        let normalized = NormalizedFacts(facts)
        for (index, route) in routes.enumerated() where route.match.matches(normalized) {
            return RouteDecision(outcome: .route(index: index), route: route, facts: facts)
        }
        return RouteDecision(outcome: .noMatch, route: nil, facts: facts)
    }

    /// For `porthole routes explain`: every route in order with whether it
    /// matched and why, then the decision.
    public func explain(_ facts: ConnectionFacts) -> [String] {
        var lines = ["connection: \(facts.summary)"]
        let decision = match(facts)
        guard !routes.isEmpty else {
            lines.append("no routes configured: the implicit default route applies to every connection")
            lines.append("decision: implicit default route \"\(implicitDefault.name)\" → \(implicitDefault.action.summary)")
            return lines
        }

        let normalized = NormalizedFacts(facts)
        var matchedIndex: Int?
        for (index, route) in routes.enumerated() {
            let label = Self.label(index: index, route: route)
            if let matchedIndex {
                lines.append("\(label): not reached (\(Self.label(index: matchedIndex, route: routes[matchedIndex])) matched first)")
                continue
            }
            let conditions = route.match.conditions(normalized)
            if conditions.allSatisfy(\.matched) {
                matchedIndex = index
                lines.append("\(label): MATCH: " + Self.describe(conditions, of: route))
            } else {
                // Only the failing conditions: they are what the reader must change.
                let failing = conditions.filter { !$0.matched }.map(\.explanation)
                lines.append("\(label): no match: " + failing.joined(separator: "; "))
            }
        }

        switch decision.outcome {
        case .route(let index):
            lines.append("decision: \(Self.label(index: index, route: routes[index])) → \(routes[index].action.summary)")
        case .implicitDefault, .noMatch:
            lines.append("decision: no route matched → the connection is closed")
        }
        return lines
    }

    /// Routes that can never match because one earlier route matches every
    /// connection they could. Conservative: a route covered only by the
    /// union of several earlier routes is not reported.
    public func shadowedRoutes() -> [RouteShadowing] {
        var result: [RouteShadowing] = []
        for (later, route) in routes.enumerated() {
            for earlier in 0..<later where routes[earlier].match.covers(route.match) {
                let earlierRoute = routes[earlier]
                let why = earlierRoute.match.isCatchAll
                    ? "it has no match conditions and takes every connection"
                    : "its conditions (\(earlierRoute.match.summary)) include every connection this route's (\(route.match.summary)) can match"
                result.append(RouteShadowing(
                    shadowedIndex: later, shadowingIndex: earlier,
                    explanation: "\(Self.label(index: earlier, route: earlierRoute)) comes first and \(why)"))
                break
            }
        }
        return result
    }

    /// `route #2 "agents"`: 1-based, like the `[[route]] #2` in config errors.
    static func label(index: Int, route: Route) -> String {
        "route #\(index + 1) \"\(route.name)\""
    }

    static func describe(_ conditions: [Route.Match.Condition], of route: Route) -> String {
        route.match.isCatchAll
            ? "catch-all (no match conditions)"
            : conditions.map(\.explanation).joined(separator: "; ")
    }
}

/// What the route table decided for one connection.
public struct RouteDecision: Sendable {
    public enum Outcome: Sendable, Hashable {
        /// Index into `RouteTable.routes`.
        case route(index: Int)
        case implicitDefault
        /// Routes are configured and none matched: close the connection.
        case noMatch
    }

    public let outcome: Outcome
    /// nil exactly when `outcome` is `.noMatch`.
    public let route: PortholeConfiguration.Route?
    public let facts: ConnectionFacts

    public var routeName: String? { route?.name }

    /// Human-readable reasons for logs: which conditions held.
    public var reasons: [String] {
        switch outcome {
        case .implicitDefault:
            return ["no routes configured; the implicit default route applies"]
        case .noMatch:
            return ["no configured route matched (\(facts.summary))"]
        case .route:
            guard let route else { return [] }
            if route.match.isCatchAll { return ["catch-all route (no match conditions)"] }
            return route.match.conditions(NormalizedFacts(facts)).map(\.explanation)
        }
    }
}

/// A route that can never match, and the earlier route that takes its traffic.
public struct RouteShadowing: Sendable, Hashable {
    /// Indexes into the route list (0-based).
    public let shadowedIndex: Int
    public let shadowingIndex: Int
    public let explanation: String
}

/// Facts lowercased and simplified once per connection, so each route's
/// check is plain comparisons.
struct NormalizedFacts {
    let serverName: String?
    let offersNoALPN: Bool
    let offeredALPN: [String]
    let source: IPAddress?
    let listener: String

    init(_ facts: ConnectionFacts) {
        serverName = ServerNamePattern.normalize(facts.serverName)
        offersNoALPN = facts.offersNoALPN
        offeredALPN = facts.offeredALPN
        source = facts.source
        listener = facts.listener
    }
}

extension Route.Match {
    func matches(_ facts: NormalizedFacts) -> Bool {
        if let serverNames, !serverNames.contains(where: { $0.matches(normalized: facts.serverName) }) { return false }
        if let alpn, !alpn.contains(where: { $0.matches(facts) }) { return false }
        if let sources {
            guard let source = facts.source, sources.contains(where: { $0.contains(source) }) else { return false }
        }
        if let listeners, !listeners.contains(facts.listener) { return false }
        return true
    }

    struct Condition {
        let matched: Bool
        let explanation: String
    }

    /// One entry per configured key, in schema order.
    func conditions(_ facts: NormalizedFacts) -> [Condition] {
        var result: [Condition] = []
        if let serverNames {
            let list = Self.list(serverNames)
            if let hit = serverNames.first(where: { $0.matches(normalized: facts.serverName) }) {
                let what = facts.serverName.map { "sni \"\($0)\" matches \(hit)" } ?? "no sni, and the route accepts none"
                result.append(Condition(matched: true, explanation: what))
            } else {
                let what = facts.serverName.map { "sni \"\($0)\" is not in \(list)" } ?? "no sni, the route wants \(list)"
                result.append(Condition(matched: false, explanation: what))
            }
        }
        if let alpn {
            let offered = facts.offersNoALPN ? "no alpn offered" : "alpn offered \(Self.list(facts.offeredALPN))"
            if let hit = alpn.first(where: { $0.matches(facts) }) {
                result.append(Condition(matched: true, explanation: "\(offered), the route accepts \(hit)"))
            } else {
                result.append(Condition(matched: false, explanation: "\(offered), the route wants \(Self.list(alpn))"))
            }
        }
        if let sources {
            if let source = facts.source {
                let shown = source.unmapped
                if let hit = sources.first(where: { $0.contains(source) }) {
                    result.append(Condition(matched: true, explanation: "source \(shown) is in \(hit)"))
                } else {
                    result.append(Condition(matched: false, explanation: "source \(shown) is not in \(Self.list(sources))"))
                }
            } else {
                result.append(Condition(matched: false,
                                        explanation: "source address unknown, the route wants \(Self.list(sources))"))
            }
        }
        if let listeners {
            let matched = listeners.contains(facts.listener)
            result.append(Condition(matched: matched, explanation: matched
                ? "listener \"\(facts.listener)\" is in \(Self.list(listeners))"
                : "listener \"\(facts.listener)\" is not in \(Self.list(listeners))"))
        }
        return result
    }

    /// True when every connection `other` matches is matched by `self`:
    /// each key `self` sets, `other` sets too, to a subset.
    func covers(_ other: Route.Match) -> Bool {
        if let serverNames {
            guard let theirs = other.serverNames,
                  theirs.allSatisfy({ pattern in serverNames.contains { $0.covers(pattern) } }) else { return false }
        }
        if let alpn {
            guard let theirs = other.alpn, theirs.allSatisfy({ alpn.contains($0) }) else { return false }
        }
        if let sources {
            guard let theirs = other.sources,
                  theirs.allSatisfy({ block in sources.contains { $0.contains(block) } }) else { return false }
        }
        if let listeners {
            guard let theirs = other.listeners, theirs.allSatisfy({ listeners.contains($0) }) else { return false }
        }
        return true
    }

    /// "sni [a, *.b]; alpn [none]" or "any connection".
    public var summary: String {
        var parts: [String] = []
        if let serverNames { parts.append("sni \(Self.list(serverNames))") }
        if let alpn { parts.append("alpn \(Self.list(alpn))") }
        if let sources { parts.append("source \(Self.list(sources))") }
        if let listeners { parts.append("listener \(Self.list(listeners))") }
        return parts.isEmpty ? "any connection" : parts.joined(separator: "; ")
    }

    static func list(_ items: [some CustomStringConvertible]) -> String {
        "[" + items.map(\.description).joined(separator: ", ") + "]"
    }
}

extension Route.ALPNCondition {
    func matches(_ facts: NormalizedFacts) -> Bool {
        switch self {
        case .none: return facts.offersNoALPN
        case .protocolID(let id): return !facts.offersNoALPN && facts.offeredALPN.contains(id)
        }
    }
}

extension Route.Action {
    /// "passthrough to 127.0.0.1:10943 (PROXY v2, connect timeout 5s)".
    public var summary: String {
        switch self {
        case .passthrough(let passthrough):
            let proxy = passthrough.proxyProtocol == .v2 ? "PROXY v2" : "no PROXY header"
            return "passthrough to \(passthrough.upstream) (\(proxy), connect timeout \(DurationSyntax.format(passthrough.connectTimeout)))"
        case .terminate(let terminate):
            let certificate = terminate.certificate.map { "certificate \"\($0)\"" } ?? "certificate by SNI"
            let alpn = terminate.alpn.isEmpty ? "no ALPN" : "ALPN \(terminate.alpn.joined(separator: ", "))"
            return "terminate (\(certificate), \(alpn), client certificate \(terminate.clientCertificate.rawValue))"
        }
    }
}
