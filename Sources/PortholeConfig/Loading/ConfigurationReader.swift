import PortholeWire
import TOMLKit

/// Turns a parsed TOML document into a configuration, section by section,
/// then checks what spans sections (names, references, shadowed routes).
/// Always returns a configuration — defaults stand in for bad values — so
/// that later sections are still checked; the loader discards it if the
/// sink holds errors.
struct ConfigurationReader {
    let document: TOMLTable
    let sink: DiagnosticSink

    /// A listener, certificate or route as written, valid or not: names
    /// are checked for uniqueness and references against these, so one
    /// broken item does not also break every reference to it.
    struct NamedItem {
        let name: String
        /// The item's table (or its `listen` element).
        let path: ConfigKeyPath
    }

    /// Where things were read, for diagnostics that span sections.
    struct Origins {
        var listenerItems: [NamedItem] = []
        var certificateItems: [NamedItem] = []
        var routeItems: [NamedItem] = []
        /// Parallel to `configuration.listeners` / `.routes`.
        var listenerPaths: [ConfigKeyPath] = []
        var routePaths: [ConfigKeyPath] = []
        var routeListenerKeys: [Int: [(name: String, path: ConfigKeyPath)]] = [:]
        var routeCertificateKey: [Int: (name: String, path: ConfigKeyPath)] = [:]
        var onSniffTimeoutPath: ConfigKeyPath?
        var listenKeyPath: ConfigKeyPath?
    }

    func read() -> PortholeConfiguration {
        let root = TableReader(table: document, path: .root, sink: sink)
        root.reportUnknownKeys(in: ConfigurationSchema.root)

        var configuration = PortholeConfiguration()
        var origins = Origins()

        let (server, shorthand) = readServer(singleTable("server"), origins: &origins)
        configuration.server = server
        configuration.listeners = shorthand ?? []

        for (index, table) in tableArray("listener").enumerated() {
            let reader = itemReader("listener", index: index, table: table)
            origins.listenerItems.append(NamedItem(name: reader.itemName(default: "listener-\(index + 1)"), path: reader.path))
            if let listener = readListener(reader, index: index) {
                configuration.listeners.append(listener)
                origins.listenerPaths.append(reader.path)
            }
        }
        if shorthand == nil && !document.contains(key: "listener") {
            configuration.listeners = PortholeConfiguration.Listener.defaultListeners
            origins.listenerPaths = configuration.listeners.map { _ in ConfigKeyPath.table("server") }
            origins.listenerItems = configuration.listeners.map { NamedItem(name: $0.name, path: .table("server")) }
        }

        configuration.tls = readTLS(singleTable("tls"))

        for (index, table) in tableArray("certificate").enumerated() {
            let reader = itemReader("certificate", index: index, table: table)
            origins.certificateItems.append(NamedItem(name: reader.itemName(default: "certificate-\(index + 1)"), path: reader.path))
            if let certificate = readCertificate(reader, index: index) {
                configuration.certificates.append(certificate)
            }
        }

        configuration.log = readLog(singleTable("log"))
        configuration.admin = readAdmin(singleTable("admin"))

        for (index, table) in tableArray("route").enumerated() {
            let reader = itemReader("route", index: index, table: table)
            origins.routeItems.append(NamedItem(name: reader.itemName(default: "route-\(index + 1)"), path: reader.path))
            if let route = readRoute(reader, index: index, tls: configuration.tls, origins: &origins) {
                configuration.routes.append(route)
                origins.routePaths.append(reader.path)
            }
        }

        configuration.portal = readPortal(singleTable("portal"))
        configuration.polling = readPolling(singleTable("polling"))

        checkAcrossSections(configuration, origins: origins)
        return configuration
    }

    private func itemReader(_ section: String, index: Int, table: TOMLTable) -> TableReader {
        TableReader(table: table, path: .arrayTable(section, index: index, label: table["name"]?.string), sink: sink)
    }

    // MARK: - top-level shapes

    /// A `[name]` table; `[[name]]` or `name = 1` are reported and ignored.
    private func singleTable(_ name: String) -> TableReader? {
        guard let value = document[name] else { return nil }
        guard let table = value.table else {
            let fix = value.type == .array
                ? "write [\(name)] once, not [[\(name)]]"
                : "write it as a table: [\(name)] on its own line, then its keys"
            sink.error(.wrongType, .table(name), "expected the table [\(name)], found \(TableReader.describe(value))", fix: fix)
            return nil
        }
        let reader = TableReader(table: table, path: .table(name), sink: sink)
        reader.reportUnknownKeys()
        return reader
    }

    /// A `[[name]]` array of tables; a single `[name]` is reported, because
    /// TOML would otherwise silently make it something else.
    private func tableArray(_ name: String) -> [TOMLTable] {
        guard let value = document[name] else { return [] }
        guard let array = value.array else {
            sink.error(.wrongType, .table(name), "[\(name)] must be an array of tables, one per \(name)",
                       fix: "write [[\(name)]] (double brackets) before each \(name)")
            return []
        }
        var tables: [TOMLTable] = []
        for index in 0..<array.count {
            guard let table = array[index].table else {
                sink.error(.wrongType, ConfigKeyPath.root.key(name).element(index),
                           "expected a table, found \(TableReader.describe(array[index]))",
                           fix: "write each \(name) as a [[\(name)]] section")
                continue
            }
            tables.append(table)
        }
        return tables
    }
}

extension TOMLTable {
    func contains(key: String) -> Bool { self[key] != nil }
}

// MARK: - shared value parsers

extension ConfigurationReader {
    /// A host:port to listen on: must be an IP literal, because a name
    /// could resolve to several addresses or change between restarts.
    func listenAddress(_ text: String, at path: ConfigKeyPath, defaultPort: UInt16, example: String) -> HostPort? {
        guard let endpoint = hostPort(text, at: path, defaultPort: defaultPort, example: example, allowingPortZero: true) else {
            return nil
        }
        if case .name(let name) = endpoint.host {
            let fix = name == "localhost"
                ? "use \"127.0.0.1:\(endpoint.port)\" or \"[::1]:\(endpoint.port)\""
                : "use an IP address: \"0.0.0.0:\(endpoint.port)\" for all IPv4 interfaces, \"[::]:\(endpoint.port)\" for all IPv6"
            sink.error(.badAddress, path, "\"\(text)\" is a host name; listen addresses must be IP addresses", fix: fix)
            return nil
        }
        return endpoint
    }

    /// Any host:port, with a fix tailored to what went wrong.
    func hostPort(_ text: String, at path: ConfigKeyPath, defaultPort: UInt16, example: String,
                  allowingPortZero: Bool = false) -> HostPort? {
        do {
            return try HostPort.parse(text, allowingPortZero: allowingPortZero)
        } catch {
            let fix: String
            switch error {
            case .missingPort(let host):
                // An address keeps the reader's address; a bare name gets the
                // context's example, since "localhost" rarely is what an
                // upstream on another port should say anyway.
                let unbracketed = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
                switch IPAddress(unbracketed) {
                case .v4?: fix = "expected \"host:port\", e.g. \"\(unbracketed):\(defaultPort)\""
                case .v6?: fix = "expected \"[address]:port\", e.g. \"[\(unbracketed)]:\(defaultPort)\""
                case nil: fix = "expected \"host:port\", e.g. \"\(example)\""
                }
            case .ipv6NeedsBrackets(let raw):
                // "::1:443" is also a valid address (::0.1.4.67), but a port
                // glued on is by far the likelier intent.
                if let colon = raw.lastIndex(of: ":"), IPv6Address(raw[..<colon]) != nil,
                   raw[raw.index(after: colon)...].allSatisfy(\.isNumber), raw.last != ":" {
                    fix = "put IPv6 addresses in brackets: \"[\(raw[..<colon])]\(raw[colon...])\""
                } else if IPv6Address(raw) != nil {
                    fix = "put IPv6 addresses in brackets and add a port: \"[\(raw)]:\(defaultPort)\""
                } else {
                    fix = "expected \"host:port\" or \"[ipv6]:port\", e.g. \"\(example)\""
                }
            case .badPort:
                fix = "use a port from 1 to 65535, e.g. \"\(example)\""
            default:
                fix = "expected \"host:port\" or \"[ipv6]:port\", e.g. \"\(example)\""
            }
            sink.error(.badAddress, path, error.description, fix: fix)
            return nil
        }
    }

    /// A CIDR list entry. Host bits past the prefix are accepted with a
    /// warning: the block is clear, but the text suggests a typo.
    func cidr(_ text: String, at path: ConfigKeyPath) -> CIDR? {
        do {
            return try CIDR.parse(text, allowingHostBits: false)
        } catch {
            if case .hostBitsSet(let masked) = error {
                let host = text.split(separator: "/").first.map(String.init) ?? text
                sink.warning(.hostBitsSet, path, "\"\(text)\" has host bits set; it is read as \(masked)",
                             fix: "write \"\(masked)\" for the block, or \"\(host)\" for the single host")
                return masked
            }
            sink.error(.badCIDR, path, "\"\(text)\": \(error)",
                       fix: "write an address block such as \"10.0.0.0/8\" or \"2001:db8::/32\", or a single address such as \"192.0.2.10\"")
            return nil
        }
    }

    /// Non-empty, with a path-specific example in the fix.
    func nonEmptyString(_ reader: TableReader, _ key: String) -> String? {
        guard let text = reader.string(key) else { return nil }
        guard !text.isEmpty else {
            sink.error(.emptyValue, reader.path.key(key), "the value is empty",
                       fix: "give a value, e.g. \(key) = \(reader.example(key) ?? "\"…\""), or remove the key")
            return nil
        }
        return text
    }

    /// "" means "not set" for optional file keys such as token_file.
    func optionalPath(_ reader: TableReader, _ key: String) -> String? {
        guard let text = reader.string(key), !text.isEmpty else { return nil }
        return text
    }

    func absolutePath(_ reader: TableReader, _ key: String) -> String? {
        guard let text = nonEmptyString(reader, key) else { return nil }
        guard text.hasPrefix("/") else {
            sink.error(.badPath, reader.path.key(key), "\"\(text)\" is a relative path",
                       fix: "use an absolute path, e.g. \(key) = \(reader.example(key) ?? "\"/…\"") (a service's working directory is not the config's)")
            return nil
        }
        return text
    }

    /// A list of ALPN protocols to offer (no "none": that is a match term).
    func alpnOffer(_ entries: [(value: String, path: ConfigKeyPath)]) -> [String] {
        alpnProtocolIDs(entries, allowNone: false).compactMap {
            if case .protocolID(let id) = $0 { return id }
            return nil
        }
    }

    /// "unix:/absolute/path" → the path; reports relative paths.
    func unixSocketPath(_ text: String, at path: ConfigKeyPath, example: String) -> String? {
        let socketPath = String(text.dropFirst("unix:".count))
        guard socketPath.hasPrefix("/") else {
            sink.error(.badPath, path, "\"\(text)\" needs an absolute socket path", fix: "e.g. \(example)")
            return nil
        }
        return socketPath
    }

    /// ALPN protocol IDs (RFC 7301: 1…255 bytes), or "none" in a match.
    func alpnProtocolIDs(_ entries: [(value: String, path: ConfigKeyPath)], allowNone: Bool) -> [Route.ALPNCondition] {
        var result: [Route.ALPNCondition] = []
        for (value, path) in entries {
            if value == "none" {
                if allowNone {
                    result.append(.none)
                } else {
                    sink.error(.badALPN, path, "\"none\" only has a meaning in a route's match (a hello without ALPN)",
                               fix: "list protocols to offer, e.g. [\"h2\", \"http/1.1\"], or [] to offer none")
                }
                continue
            }
            guard (1...255).contains(value.utf8.count),
                  value.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 0x20 && $0.value < 0x7F }) else {
                sink.error(.badALPN, path, "\"\(value)\" is not an ALPN protocol ID",
                           fix: "use a registered ID such as \"h2\" or \"http/1.1\" (1 to 255 printable ASCII characters)")
                continue
            }
            result.append(.protocolID(value))
        }
        return result
    }
}
