import PortholeWire

// [[route]].
extension ConfigurationReader {
    private static let passthroughOnlyKeys = ["upstream", "proxy_protocol", "connect_timeout"]
    private static let terminateOnlyKeys = ["certificate", "alpn", "client_certificate"]

    func readRoute(_ reader: TableReader, index: Int, tls: PortholeConfiguration.TLS,
                   origins: inout Origins) -> Route? {
        reader.reportUnknownKeys()
        let name = nonEmptyString(reader, "name") ?? "route-\(index + 1)"
        let match = readMatch(reader, routeIndex: index, origins: &origins)

        guard reader.has("action") else {
            sink.error(.missingKey, reader.path.key("action"), "a [[route]] needs an action",
                       fix: "add action = \"passthrough\" (splice TLS to an upstream) or action = \"terminate\" (Porthole handles TLS)")
            return nil
        }
        guard let keyword = reader.enumeration("action", ActionKeyword.self) else { return nil }

        let action: Route.Action
        switch keyword {
        case .passthrough:
            for key in Self.terminateOnlyKeys where reader.has(key) {
                sink.error(.keyNotForAction, reader.path.key(key),
                           "\(key) applies only to action = \"terminate\"; a passthrough route never decrypts, so the upstream presents its own certificate and ALPN",
                           fix: "remove \(key), or set action = \"terminate\"")
            }
            guard reader.has("upstream") else {
                sink.error(.passthroughWithoutUpstream, reader.path.key("upstream"),
                           "action = \"passthrough\" needs an upstream to splice to",
                           fix: "add upstream = \"127.0.0.1:10943\" (host:port of the server that terminates this TLS)")
                return nil
            }
            guard let text = nonEmptyString(reader, "upstream"),
                  let upstream = hostPort(text, at: reader.path.key("upstream"), defaultPort: 443,
                                          example: "127.0.0.1:10943") else { return nil }
            var passthrough = Route.Passthrough(upstream: upstream)
            if let proxy = reader.enumeration("proxy_protocol", Route.UpstreamProxyProtocol.self) {
                passthrough.proxyProtocol = proxy
            }
            if let timeout = reader.duration("connect_timeout") { passthrough.connectTimeout = timeout }
            action = .passthrough(passthrough)

        case .terminate:
            for key in Self.passthroughOnlyKeys where reader.has(key) {
                sink.error(.keyNotForAction, reader.path.key(key),
                           "\(key) applies only to action = \"passthrough\"; a terminate route is handled by Porthole itself",
                           fix: "remove \(key), or set action = \"passthrough\"")
            }
            var terminate = Route.Terminate(certificate: nil, alpn: tls.alpn, clientCertificate: .auto)
            if let certificate = nonEmptyString(reader, "certificate") {
                terminate.certificate = certificate
                origins.routeCertificateKey[index] = (certificate, reader.path.key("certificate"))
            }
            if let entries = reader.stringList("alpn") {
                terminate.alpn = alpnOffer(entries)
            }
            if let policy = reader.enumeration("client_certificate", Route.ClientCertificatePolicy.self) {
                terminate.clientCertificate = policy
            }
            action = .terminate(terminate)
        }

        return match.map { Route(name: name, match: $0, action: action) }
    }

    /// nil when the match table is present but broken (already reported).
    private func readMatch(_ route: TableReader, routeIndex: Int, origins: inout Origins) -> Route.Match? {
        guard route.has("match") else { return Route.Match() }
        guard let reader = route.table("match") else { return nil }
        reader.reportUnknownKeys()
        let errorsBefore = sink.errorCount
        var match = Route.Match()

        func list(_ key: String, what: String) -> [(value: String, path: ConfigKeyPath)]? {
            reader.stringList(key, allowEmpty: false,
                              emptyFix: "an empty list matches no connection; list \(what), or remove \(key) to match any")
        }

        if let entries = list("sni", what: "host names") {
            match.serverNames = entries.compactMap { serverNamePattern($0.value, at: $0.path) }
        }
        if let entries = list("alpn", what: "protocols (\"none\" for hellos without ALPN)") {
            match.alpn = alpnProtocolIDs(entries, allowNone: true)
        }
        if let entries = list("source", what: "address blocks") {
            match.sources = entries.compactMap { cidr($0.value, at: $0.path) }
        }
        if let entries = list("listener", what: "listener names") {
            match.listeners = entries.map(\.value)
            origins.routeListenerKeys[routeIndex] = entries.map { ($0.value, $0.path) }
        }
        return sink.errorCount == errorsBefore ? match : nil
    }

    /// The `action` values; kept apart from `Route.Action`, which carries
    /// each action's settings.
    enum ActionKeyword: String, CaseIterable {
        case passthrough
        case terminate
    }
}
