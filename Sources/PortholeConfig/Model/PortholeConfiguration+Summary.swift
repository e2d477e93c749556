extension PortholeConfiguration {
    /// What `porthole check` prints: the effective settings a person needs
    /// to confirm the file says what they meant, defaults included.
    public var summary: String {
        var lines: [String] = []
        lines.append("Configuration: \(sourceFile ?? "built-in defaults")")

        lines.append("Listeners (\(listeners.count)):")
        for listener in listeners {
            var details = ["mode \(listener.mode.rawValue)"]
            if listener.proxyProtocol != .off {
                let trusted = listener.proxyTrusted.map(\.description).joined(separator: ", ")
                details.append("PROXY \(listener.proxyProtocol.rawValue) from [\(trusted)]")
            }
            lines.append("  \(listener.name): \(listener.endpoint) (\(details.joined(separator: ", ")))")
        }

        if certificates.isEmpty {
            lines.append("Certificates: none configured; the self-signed certificate in \(server.stateDirectory) is used (generated on first run)")
        } else {
            lines.append("Certificates (\(certificates.count), the first is the default):")
            for certificate in certificates {
                let files: String
                switch certificate.source {
                case .pem(let certificateFile, let keyFile): files = "PEM \(certificateFile) + key \(keyFile)"
                case .pkcs12(let file, _): files = "PKCS#12 \(file)"
                }
                let names = certificate.serverNames.isEmpty
                    ? "" : ", SNI " + certificate.serverNames.map(\.description).joined(separator: ", ")
                lines.append("  \(certificate.name): \(files)\(names)")
            }
        }

        let legacy = tls.legacyVersions ? " (legacy versions allowed)" : ""
        let alpn = tls.alpn.isEmpty ? "none" : tls.alpn.joined(separator: ", ")
        lines.append("TLS: minimum \(tls.minVersion.rawValue)\(legacy), ALPN \(alpn), groups \(tls.groups.joined(separator: ", ")), session tickets \(tls.sessionTickets ? "on" : "off"), handshake timeout \(DurationSyntax.format(tls.handshakeTimeout))")

        if routes.isEmpty {
            let implicit = Route.implicitDefault(alpn: tls.alpn)
            lines.append("Routes: none configured; every connection: \(implicit.action.summary)")
        } else {
            lines.append("Routes (\(routes.count), first match wins; a connection matching none is closed):")
            for (index, route) in routes.enumerated() {
                lines.append("  \(index + 1). \(route.name): \(route.match.summary) → \(route.action.summary)")
            }
        }

        let onTimeout = server.onSniffTimeout == .close ? "close" : server.onSniffTimeout.description
        let httpsPort = server.httpsPort.map { " (port \($0))" } ?? ""
        lines.append("Server: sniff timeout \(DurationSyntax.format(server.sniffTimeout)) / \(server.sniffMaxBytes) bytes, on sniff timeout \(onTimeout), plain HTTP \(server.plainHTTP.rawValue)\(httpsPort), max \(server.maxConnections) connections, grace period \(DurationSyntax.format(server.gracePeriod)), state in \(server.stateDirectory)")

        switch admin.endpoint {
        case .disabled:
            lines.append("Admin: disabled")
        default:
            lines.append("Admin: \(admin.endpoint), \(admin.tokenFile.map { "bearer token from \($0)" } ?? "no token")")
        }

        lines.append("Portal: upstream \(portal.upstream), status path \(portal.statusPath), max body \(ByteSizeSyntax.format(portal.maxBody)), response timeout \(DurationSyntax.format(portal.responseTimeout))")

        let trust = [
            "\(polling.trustedThumbprints.count) trusted thumbprint\(polling.trustedThumbprints.count == 1 ? "" : "s")",
            polling.trustFile.map { "trust file \($0)" },
            "\(polling.agents.count) configured agent\(polling.agents.count == 1 ? "" : "s")",
        ].compactMap { $0 }.joined(separator: ", ")
        lines.append("Polling: comms path \(polling.commsPath), \(trust), keep-alive \(DurationSyntax.format(polling.keepaliveInterval)), max message \(ByteSizeSyntax.format(polling.maxMessageSize))")

        lines.append("Log: \(log.level.rawValue), \(log.format.rawValue), access log \(log.accessLog ? "on" : "off")")
        return lines.joined(separator: "\n")
    }
}
