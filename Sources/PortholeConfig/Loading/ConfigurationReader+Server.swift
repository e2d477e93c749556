import PortholeWire

// [server] and [[listener]].
extension ConfigurationReader {
    /// The settings, and the shorthand listeners: nil when `listen` is
    /// absent (so the defaults may apply), else the entries that parsed.
    func readServer(_ reader: TableReader?, origins: inout Origins)
        -> (PortholeConfiguration.Server, [PortholeConfiguration.Listener]?) {
        var server = PortholeConfiguration.Server()
        guard let reader else { return (server, nil) }

        var shorthand: [PortholeConfiguration.Listener]?
        if reader.has("listen") {
            shorthand = []
            origins.listenKeyPath = reader.path.key("listen")
            for (index, entry) in (reader.stringList("listen") ?? []).enumerated() {
                origins.listenerItems.append(NamedItem(
                    name: PortholeConfiguration.Listener.shorthandName(index: index), path: entry.path))
                guard let endpoint = listenAddress(entry.value, at: entry.path, defaultPort: 443, example: "0.0.0.0:443"),
                      case .address(let address) = endpoint.host else { continue }
                shorthand?.append(PortholeConfiguration.Listener(
                    name: PortholeConfiguration.Listener.shorthandName(index: index), address: address, port: endpoint.port))
                origins.listenerPaths.append(entry.path)
            }
        }

        if let directory = absolutePath(reader, "state_dir") { server.stateDirectory = directory }
        if let grace = reader.duration("grace_period", minimum: .zero) { server.gracePeriod = grace }
        if let timeout = reader.duration("sniff_timeout") { server.sniffTimeout = timeout }
        // A ClientHello with post-quantum key shares is ~1.8 KB and large
        // extension sets reach several KB; below 1 KB real clients would fail.
        if let bytes = reader.size("sniff_max_bytes", in: 1_024...(1 << 20)) { server.sniffMaxBytes = bytes }
        if let policy = reader.enumeration("plain_http", PortholeConfiguration.PlainHTTPPolicy.self) {
            server.plainHTTP = policy
        }
        if let port = reader.integer("https_port", in: 1...65_535) { server.httpsPort = UInt16(port) }
        if let action = reader.string("on_sniff_timeout") {
            if action == "close" {
                server.onSniffTimeout = .close
            } else if action.isEmpty {
                sink.error(.emptyValue, reader.path.key("on_sniff_timeout"), "the value is empty",
                           fix: "use \"close\" or the name of a [[route]]")
            } else {
                // Checked against the route names once all routes are read.
                server.onSniffTimeout = .route(action)
                origins.onSniffTimeoutPath = reader.path.key("on_sniff_timeout")
            }
        }
        if let limit = reader.integer("max_connections", in: 1...10_000_000) { server.maxConnections = limit }
        return (server, shorthand)
    }

    func readListener(_ reader: TableReader, index: Int) -> PortholeConfiguration.Listener? {
        reader.reportUnknownKeys()
        let name = nonEmptyString(reader, "name") ?? "listener-\(index + 1)"

        guard reader.has("address") else {
            sink.error(.missingKey, reader.path.key("address"), "a [[listener]] needs an address",
                       fix: "add address = \"0.0.0.0:443\" (or \"[::]:443\" for IPv6)")
            return nil
        }
        var result: PortholeConfiguration.Listener?
        if let text = reader.string("address"),
           let endpoint = listenAddress(text, at: reader.path.key("address"), defaultPort: 443, example: "0.0.0.0:443"),
           case .address(let address) = endpoint.host {
            result = PortholeConfiguration.Listener(name: name, address: address, port: endpoint.port)
        }

        let proxyProtocol = reader.enumeration("proxy_protocol", PortholeConfiguration.ProxyProtocolPolicy.self) ?? .off
        var trusted: [CIDR] = []
        for entry in reader.stringList("proxy_trusted") ?? [] {
            if let block = cidr(entry.value, at: entry.path) { trusted.append(block) }
        }
        let mode = reader.enumeration("mode", PortholeConfiguration.ListenerMode.self) ?? .shared

        // Absent or literally empty; a malformed list has its own errors already.
        let listsNoSource = !reader.has("proxy_trusted") || reader.raw("proxy_trusted")?.array?.isEmpty == true
        if listsNoSource {
            switch proxyProtocol {
            case .required:
                sink.error(.proxyRequiredWithoutTrustedSources, reader.path.key("proxy_protocol"),
                           "proxy_protocol = \"required\" but proxy_trusted lists no sources, so every connection would be refused",
                           fix: "add the load balancer's addresses: proxy_trusted = [\"10.0.0.0/8\"]")
            case .optional:
                sink.warning(.proxyOptionalWithoutTrustedSources, reader.path.key("proxy_protocol"),
                             "proxy_protocol = \"optional\" but proxy_trusted lists no sources, so PROXY headers are never accepted",
                             fix: "add the load balancer's addresses to proxy_trusted, or set proxy_protocol = \"off\"")
            case .off:
                break
            }
        }

        result?.proxyProtocol = proxyProtocol
        result?.proxyTrusted = trusted
        result?.mode = mode
        return result
    }
}
