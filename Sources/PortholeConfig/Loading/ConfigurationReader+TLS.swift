// [tls] and [[certificate]].
extension ConfigurationReader {
    func readTLS(_ reader: TableReader?) -> PortholeConfiguration.TLS {
        var tls = PortholeConfiguration.TLS()
        guard let reader else { return tls }

        if let legacy = reader.bool("legacy_versions") { tls.legacyVersions = legacy }
        if let version = reader.enumeration("min_version", PortholeConfiguration.TLSVersion.self) {
            if version.isLegacy && !tls.legacyVersions {
                sink.error(.legacyTLSVersion, reader.path.key("min_version"),
                           "TLS \(version.rawValue) is deprecated (RFC 8996) and refused unless legacy versions are enabled",
                           fix: "use min_version = \"1.2\", or, only for old agents that cannot do TLS 1.2, also set legacy_versions = true in [tls]")
            } else {
                tls.minVersion = version
            }
        }

        if let ciphers = nonEmptyString(reader, "ciphers") { tls.ciphers = ciphers }
        if let suites = nonEmptyString(reader, "ciphersuites") {
            // OpenSSL keeps TLS 1.3 suites and TLS 1.2 ciphers in separate
            // lists and ignores misplaced names without complaint.
            let misplaced = suites.split(separator: ":").filter { !$0.hasPrefix("TLS_") }
            if let first = misplaced.first {
                sink.error(.unknownValue, reader.path.key("ciphersuites"),
                           "\"\(first)\" is not a TLS 1.3 ciphersuite",
                           fix: "TLS 1.3 suites look like \"TLS_AES_128_GCM_SHA256\"; TLS 1.2 cipher names such as \"ECDHE-RSA-AES256-GCM-SHA384\" go in ciphers")
            } else {
                tls.ciphersuites = suites
            }
        }
        if let groups = reader.stringList("groups", allowEmpty: false,
                                          emptyFix: "list at least one key-exchange group, e.g. groups = [\"X25519\", \"P-256\"], or remove the key for the default") {
            tls.groups = groups.map(\.value)
        }
        if let entries = reader.stringList("alpn") {
            tls.alpn = alpnOffer(entries)
        }
        if let tickets = reader.bool("session_tickets") { tls.sessionTickets = tickets }
        if let timeout = reader.duration("handshake_timeout") { tls.handshakeTimeout = timeout }
        return tls
    }

    func readCertificate(_ reader: TableReader, index: Int) -> PortholeConfiguration.Certificate? {
        reader.reportUnknownKeys()
        let name = nonEmptyString(reader, "name") ?? "certificate-\(index + 1)"
        let certificateFile = nonEmptyString(reader, "cert")
        let keyFile = nonEmptyString(reader, "key")
        let pfxFile = nonEmptyString(reader, "pfx")
        let passwordFile = nonEmptyString(reader, "password_file")
        let path = reader.path

        var serverNames: [ServerNamePattern] = []
        for entry in reader.stringList("sni") ?? [] {
            if entry.value.lowercased() == "none" {
                sink.error(.badServerName, entry.path, "\"none\" only has a meaning in a route's match",
                           fix: "the first [[certificate]] already serves hellos without SNI; remove \"none\"")
                continue
            }
            if let pattern = serverNamePattern(entry.value, at: entry.path) { serverNames.append(pattern) }
        }

        let hasPEM = reader.has("cert") || reader.has("key")
        if reader.has("pfx") && hasPEM {
            let other = reader.has("cert") ? "cert" : "key"
            sink.error(.conflictingCertificateSources, path.key("pfx"),
                       "both pfx and \(other) are set",
                       fix: "use either cert + key (PEM files) or pfx + password_file (PKCS#12), not both")
            return nil
        }
        if reader.has("cert") && !reader.has("key") {
            sink.error(.certificateWithoutKey, path.key("cert"), "cert is set but key is missing",
                       fix: "add key = \"/etc/porthole/server.key\" (the PEM private key of this certificate)")
            return nil
        }
        if reader.has("key") && !reader.has("cert") {
            sink.error(.keyWithoutCertificate, path.key("key"), "key is set but cert is missing",
                       fix: "add cert = \"/etc/porthole/server.pem\" (the PEM certificate chain, leaf first)")
            return nil
        }
        if reader.has("pfx") && !reader.has("password_file") {
            sink.error(.pfxWithoutPasswordFile, path.key("pfx"), "pfx is set but password_file is missing",
                       fix: "add password_file = \"/etc/porthole/pfx.pass\" (a file holding the PFX password; an empty file if it has none)")
            return nil
        }
        if reader.has("password_file") && !reader.has("pfx") {
            sink.error(.passwordFileWithoutPFX, path.key("password_file"), "password_file is only used with pfx",
                       fix: "remove password_file, or use pfx = \"/etc/porthole/server.pfx\" instead of cert and key")
            return nil
        }
        if !hasPEM && !reader.has("pfx") {
            sink.error(.missingCertificateSource, path, "a [[certificate]] needs its files",
                       fix: "add cert = \"/etc/porthole/server.pem\" and key = \"/etc/porthole/server.key\", or pfx = \"/etc/porthole/server.pfx\" and password_file = \"/etc/porthole/pfx.pass\"")
            return nil
        }

        let source: PortholeConfiguration.Certificate.Source
        if let pfxFile, let passwordFile {
            source = .pkcs12(file: pfxFile, passwordFile: passwordFile)
        } else if let certificateFile, let keyFile {
            source = .pem(certificateFile: certificateFile, keyFile: keyFile)
        } else {
            return nil // a value of the wrong type, already reported
        }
        return PortholeConfiguration.Certificate(name: name, source: source, serverNames: serverNames)
    }

    func serverNamePattern(_ text: String, at path: ConfigKeyPath) -> ServerNamePattern? {
        do {
            return try ServerNamePattern(parsing: text)
        } catch {
            let fix: String
            switch error {
            case .ipAddress:
                fix = "clients connecting by IP address send no SNI: match them with sni = [\"none\"] or by source address"
            case .misplacedWildcard:
                fix = "use an exact name such as \"portal.example.com\" or a whole-label wildcard such as \"*.example.com\" (one label)"
            default:
                fix = "use an exact name such as \"portal.example.com\" or a wildcard such as \"*.example.com\""
            }
            sink.error(.badServerName, path, error.description, fix: fix)
            return nil
        }
    }
}
