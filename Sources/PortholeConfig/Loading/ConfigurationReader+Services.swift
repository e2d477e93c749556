import PortholeWire
import TOMLKit

// [log], [admin], [portal], [polling] and [[polling.agent]].
extension ConfigurationReader {
    func readLog(_ reader: TableReader?) -> PortholeConfiguration.Log {
        var log = PortholeConfiguration.Log()
        guard let reader else { return log }
        if let level = reader.enumeration("level", PortholeConfiguration.LogLevel.self) { log.level = level }
        if let format = reader.enumeration("format", PortholeConfiguration.LogFormat.self) { log.format = format }
        if let access = reader.bool("access_log") { log.accessLog = access }
        return log
    }

    func readAdmin(_ reader: TableReader?) -> PortholeConfiguration.Admin {
        var admin = PortholeConfiguration.Admin()
        guard let reader else { return admin }
        admin.tokenFile = optionalPath(reader, "token_file")

        if let text = reader.string("listen") {
            let path = reader.path.key("listen")
            if text.isEmpty {
                admin.endpoint = .disabled
            } else if text.hasPrefix("unix:") {
                if let socketPath = unixSocketPath(text, at: path, example: #"listen = "unix:/run/porthole/admin.sock""#) {
                    admin.endpoint = .unix(path: socketPath)
                }
            } else if let endpoint = listenAddress(text, at: path, defaultPort: 9090, example: "127.0.0.1:9090") {
                admin.endpoint = .tcp(endpoint)
            }
        }

        // The admin API can dispatch calls to agents: on a reachable address
        // without a token, anyone who can connect can run work on them.
        if !admin.endpoint.isLocalOnly && admin.tokenFile == nil {
            sink.warning(.adminWithoutToken, reader.path.key("listen"),
                         "the admin API listens on \(admin.endpoint), which is not loopback, and has no token",
                         fix: "set token_file = \"/etc/porthole/admin.token\" in [admin], or listen on \"127.0.0.1:9090\"")
        }
        return admin
    }

    func readPortal(_ reader: TableReader?) -> PortholeConfiguration.Portal {
        var portal = PortholeConfiguration.Portal()
        guard let reader else { return portal }

        if let text = reader.string("upstream") {
            if let upstream = portalUpstream(text, at: reader.path.key("upstream")) { portal.upstream = upstream }
        }
        if let path = urlPath(reader, "status_path") { portal.statusPath = path }
        if let timeout = reader.duration("connect_timeout") { portal.connectTimeout = timeout }
        if let timeout = reader.duration("response_timeout") { portal.responseTimeout = timeout }
        if let timeout = reader.duration("idle_timeout") { portal.idleTimeout = timeout }
        if let bytes = reader.size("max_body", in: 0...(1 << 40)) { portal.maxBody = bytes }
        if let bytes = reader.size("max_header_bytes", in: 1_024...(16 << 20)) { portal.maxHeaderBytes = bytes }
        if let streams = reader.integer("max_concurrent_streams", in: 1...10_000) { portal.maxConcurrentStreams = streams }
        return portal
    }

    private func portalUpstream(_ text: String, at path: ConfigKeyPath) -> PortholeConfiguration.PortalUpstream? {
        if text.isEmpty { return .statusPage }
        if text.hasPrefix("unix:") {
            return unixSocketPath(text, at: path, example: #"upstream = "unix:/run/portal/http.sock""#).map { .unix(path: $0) }
        }
        if text.lowercased().hasPrefix("https://") {
            sink.error(.badURL, path, "Porthole speaks plain HTTP/1.1 to the portal upstream (it already terminated TLS)",
                       fix: "use \"http://…\" to a local or trusted address, e.g. \"http://127.0.0.1:8080\"")
            return nil
        }
        guard text.lowercased().hasPrefix("http://") else {
            sink.error(.badURL, path, "\"\(text)\" is not an http:// URL or unix: socket",
                       fix: "e.g. upstream = \"http://127.0.0.1:8080\", \"unix:/run/portal/http.sock\", or \"\" for the built-in status page")
            return nil
        }
        var authority = text.dropFirst("http://".count)
        if authority.hasSuffix("/") { authority = authority.dropLast() }
        if authority.contains("/") || authority.contains("?") || authority.contains("@") {
            sink.error(.badURL, path, "\"\(text)\" has a path, query or user info; requests are forwarded with their own path",
                       fix: "give only scheme, host and port, e.g. \"http://127.0.0.1:8080\"")
            return nil
        }
        // http:// without a port means 80, as in any URL.
        let hasPort = authority.hasPrefix("[") ? authority.contains("]:") : authority.contains(":")
        let withPort = hasPort ? String(authority) : "\(authority):80"
        guard let endpoint = hostPort(withPort, at: path, defaultPort: 8080, example: "127.0.0.1:8080") else { return nil }
        return .http(endpoint)
    }

    private func urlPath(_ reader: TableReader, _ key: String) -> String? {
        guard let text = reader.string(key) else { return nil }
        guard text.hasPrefix("/"), !text.contains(" "), !text.contains("?"), !text.contains("#") else {
            sink.error(.badPath, reader.path.key(key), "\"\(text)\" is not a URL path",
                       fix: "start it with \"/\", e.g. \(key) = \(reader.example(key) ?? "\"/…\"")")
            return nil
        }
        return text
    }

    func readPolling(_ reader: TableReader?) -> PortholeConfiguration.Polling {
        var polling = PortholeConfiguration.Polling()
        guard let reader else { return polling }

        if let path = urlPath(reader, "comms_path") { polling.commsPath = path }
        for entry in reader.stringList("trusted_thumbprints") ?? [] {
            if let thumbprint = thumbprint(entry.value, at: entry.path) { polling.trustedThumbprints.append(thumbprint) }
        }
        polling.trustFile = optionalPath(reader, "trust_file")
        if let interval = reader.duration("keepalive_interval") { polling.keepaliveInterval = interval }
        if let timeout = reader.duration("collection_timeout") { polling.collectionTimeout = timeout }
        if let timeout = reader.duration("response_timeout") { polling.responseTimeout = timeout }
        if let timeout = reader.duration("next_timeout") { polling.nextTimeout = timeout }
        if let bytes = reader.size("max_message_size", in: 1_024...(1 << 31)) { polling.maxMessageSize = bytes }
        if let limit = reader.integer("max_connections_per_subscription", in: 1...1_024) {
            polling.maxConnectionsPerSubscription = limit
        }
        if let html = reader.string("friendly_html") { polling.friendlyHTML = html }
        if let headers = reader.table("friendly_headers") {
            polling.friendlyHeaders = readHeaders(headers)
        }
        if reader.has("agent") {
            polling.agents = readAgents(reader)
        }
        return polling
    }

    private func readHeaders(_ reader: TableReader) -> [PortholeConfiguration.Polling.HeaderField] {
        var fields: [PortholeConfiguration.Polling.HeaderField] = []
        for name in reader.table.keys.sorted() {
            guard let value = reader.string(name) else { continue }
            let path = reader.path.key(name)
            // RFC 9110 §5.6.2 token characters.
            guard !name.isEmpty, name.unicodeScalars.allSatisfy({ isASCIIAlphanumeric($0) || "!#$%&'*+-.^_`|~".unicodeScalars.contains($0) }) else {
                sink.error(.badHeader, path, "\"\(name)\" is not a valid HTTP header name",
                           fix: "use letters, digits and hyphens, e.g. \"X-Frame-Options\"")
                continue
            }
            // A CR or LF in a value would let configuration inject headers.
            guard !value.contains("\r"), !value.contains("\n"), !value.unicodeScalars.contains("\0") else {
                sink.error(.badHeader, path, "the value of \"\(name)\" contains a line break or NUL",
                           fix: "put the whole value on one line")
                continue
            }
            fields.append(.init(name: name, value: value))
        }
        return fields
    }

    private func readAgents(_ polling: TableReader) -> [PortholeConfiguration.Polling.Agent] {
        guard let array = polling.raw("agent")?.array else {
            sink.error(.wrongType, polling.path.key("agent"), "[polling.agent] must be an array of tables, one per agent",
                       fix: "write [[polling.agent]] (double brackets) before each agent")
            return []
        }
        var agents: [PortholeConfiguration.Polling.Agent] = []
        var seen: [String: Int] = [:]
        for index in 0..<array.count {
            guard let table = array[index].table else { continue }
            let reader = TableReader(table: table, path: .arrayTable("polling.agent", index: index, label: nil), sink: sink)
            reader.reportUnknownKeys()
            for key in ["subscription", "thumbprint"] where !reader.has(key) {
                sink.error(.missingKey, reader.path.key(key), "a [[polling.agent]] needs \(key)",
                           fix: "add \(key) = \(reader.example(key) ?? "\"…\"")")
            }
            guard let subscriptionText = reader.string("subscription"), let thumbprintText = reader.string("thumbprint") else {
                continue
            }
            let subscription = self.subscription(subscriptionText, at: reader.path.key("subscription"))
            let thumbprint = self.thumbprint(thumbprintText, at: reader.path.key("thumbprint"))
            guard let subscription, let thumbprint else { continue }
            if let first = seen[subscription] {
                sink.error(.duplicateName, reader.path.key("subscription"),
                           "subscription \(subscription) is already used by [[polling.agent]] #\(first + 1)",
                           fix: "give each agent its own subscription, or remove the duplicate")
                continue
            }
            seen[subscription] = index
            agents.append(.init(subscription: subscription, thumbprint: thumbprint))
        }
        return agents
    }

    /// "poll://<id>/", normalised to lowercase: Halibut compares
    /// subscriptions as .NET `Uri`s, whose host part is case-insensitive.
    private func subscription(_ text: String, at path: ConfigKeyPath) -> String? {
        let lowered = text.lowercased()
        var id = lowered.hasPrefix("poll://") ? lowered.dropFirst("poll://".count) : nil
        if id?.hasSuffix("/") == true { id = id?.dropLast() }
        guard let id, !id.isEmpty,
              id.unicodeScalars.allSatisfy({ isASCIIAlphanumeric($0) || "-_.".unicodeScalars.contains($0) })
        else {
            sink.error(.badSubscription, path, "\"\(text)\" is not a polling subscription",
                       fix: "use the agent's subscription ID as a poll:// URL, e.g. \"poll://abcdefghij0123456789/\"")
            return nil
        }
        return "poll://\(id)/"
    }

    func thumbprint(_ text: String, at path: ConfigKeyPath) -> CertificateThumbprint? {
        do {
            return try CertificateThumbprint(parsing: text)
        } catch {
            var fix = "a thumbprint is the certificate's SHA-1 as 40 hex digits, e.g. \"0123456789ABCDEF0123456789ABCDEF01234567\""
            let stripped = text.filter { $0.isASCII && $0.isHexDigit }
            if stripped.count == 40 && stripped.count != text.count {
                fix = error == .invisibleCharacter
                    ? "remove the invisible character: \"\(stripped.uppercased())\""
                    : "remove the separators: \"\(stripped.uppercased())\""
            }
            sink.error(.badThumbprint, path, "\"\(text)\" \(error)", fix: fix)
            return nil
        }
    }
}

private func isASCIIAlphanumeric(_ scalar: Unicode.Scalar) -> Bool {
    switch scalar {
    case "a"..."z", "A"..."Z", "0"..."9": return true
    default: return false
    }
}
