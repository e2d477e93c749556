import Testing
import PortholeWire
@testable import PortholeConfig

private typealias Match = PortholeConfiguration.Route.Match

private func route(_ name: String, _ match: Match = Match(), upstream: String? = nil) -> PortholeConfiguration.Route {
    if let upstream {
        return .init(name: name, match: match, action: .passthrough(.init(upstream: try! HostPort.parse(upstream))))
    }
    return .init(name: name, match: match, action: .terminate(.init()))
}

private func sni(_ patterns: String...) -> [ServerNamePattern] {
    patterns.map { try! ServerNamePattern(parsing: $0) }
}

private func facts(sni: String? = nil, alpn: [String] = [], source: String? = "198.51.100.7",
                   listener: String = "listen-1") -> ConnectionFacts {
    ConnectionFacts(serverName: sni, offeredALPN: alpn, source: source.flatMap { IPAddress($0) }, listener: listener)
}

@Suite struct RouteTableTests {
    @Test func test_twoMatchingRoutes_firstWins() {
        let table = RouteTable(routes: [
            route("first", Match(serverNames: sni("*.example.com"))),
            route("second", Match(serverNames: sni("portal.example.com"))),
        ])
        let decision = table.match(facts(sni: "portal.example.com"))
        #expect(decision.outcome == .route(index: 0))
        #expect(decision.routeName == "first")
    }

    @Test func test_wildcardSNI_matchesExactlyOneLabel() {
        let table = RouteTable(routes: [route("wild", Match(serverNames: sni("*.example.com")))])
        #expect(table.match(facts(sni: "portal.example.com")).outcome == .route(index: 0))
        #expect(table.match(facts(sni: "example.com")).outcome == .noMatch)
        #expect(table.match(facts(sni: "a.b.example.com")).outcome == .noMatch)
        #expect(table.match(facts(sni: "portalexample.com")).outcome == .noMatch)
        #expect(table.match(facts(sni: nil)).outcome == .noMatch)
    }

    @Test func test_exactSNI_isCaseInsensitiveAndIgnoresTrailingDot() {
        let table = RouteTable(routes: [route("exact", Match(serverNames: sni("Tentacle.Example.com")))])
        #expect(table.match(facts(sni: "TENTACLE.example.COM.")).outcome == .route(index: 0))
        #expect(table.match(facts(sni: "tentacle.example.org")).outcome == .noMatch)
    }

    @Test func test_sniNone_matchesHelloWithoutServerName() {
        let table = RouteTable(routes: [route("by-ip", Match(serverNames: sni("none")))])
        #expect(table.match(facts(sni: nil)).outcome == .route(index: 0))
        #expect(table.match(facts(sni: "a.example.com")).outcome == .noMatch)
    }

    @Test func test_alpnNone_matchesOnlyHelloWithoutALPN() {
        let table = RouteTable(routes: [route("agents", Match(alpn: [.none]))])
        #expect(table.match(facts(alpn: [])).outcome == .route(index: 0))
        #expect(table.match(facts(alpn: ["http/1.1"])).outcome == .noMatch)
        // A malformed, empty extension counts as no ALPN.
        let empty = ConnectionFacts(serverName: nil, offeredALPN: [], alpnExtensionPresent: true,
                                    source: nil, listener: "listen-1")
        #expect(table.match(empty).outcome == .route(index: 0))
    }

    @Test func test_alpnProtocol_matchesAnyOfferedProtocol() {
        let table = RouteTable(routes: [route("h2", Match(alpn: [.protocolID("h2")]))])
        #expect(table.match(facts(alpn: ["http/1.1", "h2"])).outcome == .route(index: 0))
        #expect(table.match(facts(alpn: ["http/1.1"])).outcome == .noMatch)
        #expect(table.match(facts(alpn: [])).outcome == .noMatch)
    }

    @Test func test_sourceCIDR_matchesIPv4IPv6AndMappedAddresses() {
        let table = RouteTable(routes: [
            route("v4", Match(sources: [CIDR("192.0.2.0/24")!])),
            route("v6", Match(sources: [CIDR("2001:db8::/32")!])),
        ])
        #expect(table.match(facts(source: "192.0.2.200")).routeName == "v4")
        #expect(table.match(facts(source: "::ffff:192.0.2.200")).routeName == "v4")
        #expect(table.match(facts(source: "2001:db8:1::5")).routeName == "v6")
        #expect(table.match(facts(source: "192.0.3.1")).outcome == .noMatch)
        #expect(table.match(facts(source: nil)).outcome == .noMatch)
    }

    @Test func test_listenerCondition_matchesByName() {
        let table = RouteTable(routes: [route("internal", Match(listeners: ["internal", "vpn"]))])
        #expect(table.match(facts(listener: "vpn")).outcome == .route(index: 0))
        #expect(table.match(facts(listener: "listen-1")).outcome == .noMatch)
    }

    @Test func test_allKeysMustHold() {
        let table = RouteTable(routes: [route("agents", Match(serverNames: sni("tentacle.example.com"), alpn: [.none]))])
        #expect(table.match(facts(sni: "tentacle.example.com")).outcome == .route(index: 0))
        #expect(table.match(facts(sni: "tentacle.example.com", alpn: ["h2"])).outcome == .noMatch)
        #expect(table.match(facts(sni: "portal.example.com")).outcome == .noMatch)
    }

    @Test func test_catchAll_takesWhatEarlierRoutesLeave() {
        let table = RouteTable(routes: [
            route("agents", Match(alpn: [.none]), upstream: "127.0.0.1:10943"),
            route("everything-else"),
        ])
        #expect(table.match(facts(alpn: [])).routeName == "agents")
        let decision = table.match(facts(alpn: ["h2"]))
        #expect(decision.routeName == "everything-else")
        #expect(decision.reasons == ["catch-all route (no match conditions)"])
    }

    @Test func test_noRoutes_implicitDefaultTerminatesWithAutoClientCertificate() {
        let decision = RouteTable(routes: []).match(facts())
        #expect(decision.outcome == .implicitDefault)
        #expect(decision.routeName == "default")
        guard case .terminate(let terminate)? = decision.route?.action else {
            Issue.record("implicit default should terminate")
            return
        }
        #expect(terminate.clientCertificate == .auto)
        #expect(terminate.certificate == nil)
    }

    @Test func test_routesButNoMatch_hasNoRoute() {
        let decision = RouteTable(routes: [route("only", Match(alpn: [.none]))]).match(facts(alpn: ["h2"]))
        #expect(decision.outcome == .noMatch)
        #expect(decision.route == nil)
    }

    @Test func test_decisionReasons_nameTheMatchingConditions() {
        let table = RouteTable(routes: [route("portal", Match(serverNames: sni("*.example.com"), sources: [CIDR("10.0.0.0/8")!]))])
        let reasons = table.match(facts(sni: "portal.example.com", source: "10.1.2.3")).reasons
        #expect(reasons == [#"sni "portal.example.com" matches *.example.com"#, "source 10.1.2.3 is in 10.0.0.0/8"])
    }

    @Test func test_explain_describesEveryRouteAndTheDecision() {
        let table = RouteTable(routes: [
            route("agents", Match(serverNames: sni("tentacle.example.com"), alpn: [.none]), upstream: "127.0.0.1:10943"),
            route("portal", Match(serverNames: sni("*.example.com"))),
            route("rest"),
        ])
        let lines = table.explain(facts(sni: "portal.example.com", alpn: ["h2", "http/1.1"], source: "::ffff:192.0.2.1"))
        #expect(lines == [
            #"connection: sni "portal.example.com", alpn h2, http/1.1, source 192.0.2.1, listener "listen-1""#,
            #"route #1 "agents": no match: sni "portal.example.com" is not in [tentacle.example.com]; alpn offered [h2, http/1.1], the route wants [none]"#,
            #"route #2 "portal": MATCH: sni "portal.example.com" matches *.example.com"#,
            #"route #3 "rest": not reached (route #2 "portal" matched first)"#,
            "decision: route #2 \"portal\" → terminate (certificate by SNI, ALPN h2, http/1.1, client certificate auto)",
        ])
    }

    @Test func test_explain_noMatchAndImplicitDefault() {
        let noMatch = RouteTable(routes: [route("agents", Match(alpn: [.none]))]).explain(facts(alpn: ["h2"]))
        #expect(noMatch.last == "decision: no route matched → the connection is closed")
        let implicit = RouteTable(routes: []).explain(facts())
        #expect(implicit.count == 3)
        #expect(implicit[2].hasPrefix(#"decision: implicit default route "default" → terminate"#))
    }

    // MARK: shadowing

    @Test func test_routeAfterCatchAll_isShadowed() {
        let table = RouteTable(routes: [route("all"), route("agents", Match(alpn: [.none]))])
        let shadowed = table.shadowedRoutes()
        #expect(shadowed.map(\.shadowedIndex) == [1])
        #expect(shadowed.first?.shadowingIndex == 0)
        #expect(shadowed.first?.explanation.contains("no match conditions") == true)
    }

    @Test func test_exactNameAfterCoveringWildcard_isShadowed() {
        let table = RouteTable(routes: [
            route("wild", Match(serverNames: sni("*.example.com", "example.org"))),
            route("portal", Match(serverNames: sni("portal.example.com", "example.org"), alpn: [.protocolID("h2")])),
        ])
        #expect(table.shadowedRoutes().map(\.shadowedIndex) == [1])
    }

    @Test func test_sameSourceBlockNarrowerLater_isShadowed() {
        let table = RouteTable(routes: [
            route("lan", Match(sources: [CIDR("10.0.0.0/8")!])),
            route("office", Match(sources: [CIDR("10.20.0.0/16")!, CIDR("::ffff:10.30.0.0/112")!], listeners: ["public"])),
        ])
        #expect(table.shadowedRoutes().map(\.shadowedIndex) == [1])
    }

    @Test func test_earlierRouteWithExtraCondition_doesNotShadow() {
        let table = RouteTable(routes: [
            route("agents", Match(serverNames: sni("tentacle.example.com"), alpn: [.none])),
            route("portal", Match(serverNames: sni("tentacle.example.com"))),
        ])
        #expect(table.shadowedRoutes().isEmpty)
    }

    @Test func test_wildcardDoesNotCoverDeeperNamesOrOtherWildcards() {
        let table = RouteTable(routes: [
            route("wild", Match(serverNames: sni("*.example.com"))),
            route("deeper", Match(serverNames: sni("a.b.example.com"))),
            route("apex", Match(serverNames: sni("example.com"))),
            route("sub-wild", Match(serverNames: sni("*.b.example.com"))),
        ])
        #expect(table.shadowedRoutes().isEmpty)
    }

    @Test func test_routeCoveredOnlyByUnionOfEarlierRoutes_isNotReported() {
        // Conservative: together "a" and "b" cover "both", but neither alone does.
        let table = RouteTable(routes: [
            route("a", Match(serverNames: sni("a.example.com"))),
            route("b", Match(serverNames: sni("b.example.com"))),
            route("both", Match(serverNames: sni("a.example.com", "b.example.com"))),
        ])
        #expect(table.shadowedRoutes().isEmpty)
    }

    @Test func test_shadowedRouteInFile_warnsWithLine() {
        expectWarning("""
            [[route]]
            name = "everything"
            action = "terminate"

            [[route]]
            name = "agents"
            match = { alpn = ["none"] }
            action = "passthrough"
            upstream = "127.0.0.1:10943"
            """, .shadowedRoute, keyPath: #"[[route]] #2 ("agents")"#, line: 5, fix: #"move route "agents" above route "everything""#)
    }

    @Test func test_specificRoutesBeforeCatchAll_doNotWarn() {
        let loaded = loadValid("""
            [[route]]
            name = "agents"
            match = { alpn = ["none"], sni = ["tentacle.example.com"] }
            action = "passthrough"
            upstream = "127.0.0.1:10943"

            [[route]]
            name = "everything"
            action = "terminate"
            """)
        #expect(loaded?.warnings.isEmpty == true)
    }
}
