import Foundation
import Logging
import NIOCore
import PortholeConfig
import PortholePortal
import PortholeTLS
import PortholeWire

extension GatewaySettings {
    /// Loads what the configuration points at (certificates, password and
    /// token files) and builds the runtime form. Every failure names the
    /// file and says what to do.
    public static func make(from configuration: PortholeConfiguration, logger: Logger) throws -> GatewaySettings {
        let certificates = try loadCertificates(configuration, logger: logger)

        var tls = TLSServerConfiguration(certificates: certificates)
        tls.minimumVersion = TLSProtocolVersion(rawValue: configuration.tls.minVersion.rawValue) ?? .tls1_2
        tls.cipherList = configuration.tls.ciphers
        tls.cipherSuites = configuration.tls.ciphersuites
        tls.groups = configuration.tls.groups
        tls.sessionTickets = configuration.tls.sessionTickets
        let tlsContext = try TLSServerContext(configuration: tls)

        let listeners = try configuration.listeners.map { listener in
            GatewaySettings.Listener(
                name: listener.name,
                address: try SocketAddress(ipAddress: listener.address.description, port: Int(listener.port)),
                proxyProtocol: ProxyProtocolMode(rawValue: listener.proxyProtocol.rawValue) ?? .off,
                proxyTrusted: listener.proxyTrusted,
                dedicatedPolling: listener.mode == .polling)
        }

        var actions: [String: RouteAction] = [:]
        let table = configuration.routeTable
        for route in table.routes + [table.implicitDefault] {
            switch route.action {
            case .passthrough(let passthrough):
                actions[route.name] = .passthrough(upstream: passthrough.upstream,
                                                   connectTimeout: passthrough.connectTimeout.timeAmount,
                                                   sendProxyHeader: passthrough.proxyProtocol == .v2)
            case .terminate(let terminate):
                actions[route.name] = .terminate(TLSConnectionPolicy(
                    alpnProtocols: terminate.alpn,
                    clientCertificate: PortholeTLS.ClientCertificatePolicy(rawValue: terminate.clientCertificate.rawValue) ?? .auto,
                    certificateName: terminate.certificate))
            }
        }

        var adminAddress: SocketAddress?
        switch configuration.admin.endpoint {
        case .disabled: adminAddress = nil
        case .tcp(let endpoint): adminAddress = try SocketAddress(ipAddress: endpoint.hostForConnect, port: Int(endpoint.port))
        case .unix(let path):
            // A stale socket file from a previous run would make bind fail.
            try? FileManager.default.removeItem(atPath: path)
            adminAddress = try SocketAddress(unixDomainSocketPath: path)
        }
        let adminToken = try configuration.admin.tokenFile.map { try readSecret($0, what: "[admin].token_file") }

        let plainHTTP: PlainHTTPAnswer
        switch configuration.server.plainHTTP {
        case .redirect: plainHTTP = .redirect(httpsPort: configuration.server.httpsPort.map(Int.init))
        case .reject: plainHTTP = .reject
        }

        let sniffTimeoutRoute: String?
        switch configuration.server.onSniffTimeout {
        case .close: sniffTimeoutRoute = nil
        case .route(let name): sniffTimeoutRoute = name
        }

        return GatewaySettings(
            listeners: listeners,
            adminAddress: adminAddress,
            adminToken: adminToken,
            tlsContext: tlsContext,
            certificates: certificates,
            routeTable: table,
            routeActions: actions,
            sniffTimeout: configuration.server.sniffTimeout.timeAmount,
            sniffMaxBytes: configuration.server.sniffMaxBytes,
            sniffTimeoutRoute: sniffTimeoutRoute,
            firstRequestTimeout: configuration.portal.idleTimeout.timeAmount,
            handshakeTimeout: configuration.tls.handshakeTimeout.timeAmount,
            plainHTTP: plainHTTP,
            gracePeriod: configuration.server.gracePeriod.timeAmount,
            maxConnections: configuration.server.maxConnections,
            commsPath: configuration.polling.commsPath,
            friendlyPage: FriendlyPage(html: configuration.polling.friendlyHTML,
                                       headers: configuration.polling.friendlyHeaders.map { ($0.name, $0.value) }),
            statusPath: configuration.portal.statusPath,
            polling: pollingSettings(configuration.polling),
            portal: portalSettings(configuration))
    }

    static func pollingSettings(_ polling: PortholeConfiguration.Polling) -> PollingSettings {
        PollingSettings(
            commsPath: polling.commsPath,
            trustedThumbprints: polling.trustedThumbprints.map(\.description),
            trustFile: polling.trustFile,
            timings: PollingSessionTimings(keepaliveInterval: polling.keepaliveInterval.timeAmount,
                                           nextTimeout: polling.nextTimeout.timeAmount,
                                           responseTimeout: polling.responseTimeout.timeAmount),
            collectionTimeout: polling.collectionTimeout.timeAmount,
            maxMessageBytes: polling.maxMessageSize,
            maxConnectionsPerSubscription: polling.maxConnectionsPerSubscription,
            friendlyPage: FriendlyPage(html: polling.friendlyHTML, headers: polling.friendlyHeaders.map { ($0.name, $0.value) }),
            bindings: polling.agents.map { PollingSettings.Binding(subscription: $0.subscription, thumbprint: $0.thumbprint.description) })
    }

    static func portalSettings(_ configuration: PortholeConfiguration) -> PortalSettings {
        let portal = configuration.portal
        let upstream: PortalSettings.Upstream?
        switch portal.upstream {
        case .statusPage: upstream = nil
        case .http(let endpoint): upstream = .tcp(host: endpoint.hostForConnect, port: Int(endpoint.port))
        case .unix(let path): upstream = .unix(path: path)
        }
        return PortalSettings(upstream: upstream, statusPath: portal.statusPath, connectTimeout: portal.connectTimeout.timeAmount,
                              responseTimeout: portal.responseTimeout.timeAmount, idleTimeout: portal.idleTimeout.timeAmount,
                              maxBody: portal.maxBody, maxHeaderBytes: portal.maxHeaderBytes,
                              maxConcurrentStreams: portal.maxConcurrentStreams, accessLog: configuration.log.accessLog,
                              friendly: FriendlyPageRoute(commsPath: configuration.polling.commsPath, html: configuration.polling.friendlyHTML,
                                                          headers: configuration.polling.friendlyHeaders.map { ($0.name, $0.value) }))
    }

    static func loadCertificates(_ configuration: PortholeConfiguration, logger: Logger) throws -> [TLSCertificateEntry] {
        if configuration.usesSelfSignedCertificate {
            let (identity, created) = try DefaultIdentityStore.loadOrCreate(stateDirectory: configuration.server.stateDirectory,
                                                                            keyType: .rsa2048)
            logger.notice(created ? "generated a self-signed certificate" : "using the self-signed certificate",
                          metadata: ["directory": "\(configuration.server.stateDirectory)",
                                     "thumbprint": "\(identity.leaf.thumbprint)"])
            logger.notice("agents must trust this server thumbprint: \(identity.leaf.thumbprint)")
            return [TLSCertificateEntry(name: "self-signed", identity: identity, serverNames: [])]
        }
        return try configuration.certificates.map { certificate in
            let identity = try loadIdentity(certificate)
            if let warning = identity.expiryWarning {
                logger.warning("certificate \"\(certificate.name)\": \(warning)")
            }
            logger.info("certificate loaded", metadata: ["name": "\(certificate.name)", "thumbprint": "\(identity.leaf.thumbprint)",
                                                         "subject": "\(identity.leaf.subject)"])
            return TLSCertificateEntry(name: certificate.name, identity: identity,
                                       serverNames: certificate.serverNames.map(\.description))
        }
    }

    /// One `[[certificate]]`'s chain and key, from PEM files or a PFX and
    /// its password file. `porthole check` loads them the same way.
    public static func loadIdentity(_ certificate: PortholeConfiguration.Certificate) throws -> CertificateIdentity {
        switch certificate.source {
        case .pem(let certificateFile, let keyFile):
            return try CertificateIdentity.load(certPath: certificateFile, keyPath: keyFile)
        case .pkcs12(let file, let passwordFile):
            let password = try readSecret(passwordFile, what: "[[certificate]] \"\(certificate.name)\" password_file")
            return try CertificateIdentity.load(pfxPath: file, password: password)
        }
    }

    /// A password or token file: its first line, without the line end. The
    /// CLI reads PFX password files with it too, so `check`, `thumbprint`
    /// and `run` agree on what the password is.
    public static func readSecret(_ path: String, what: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SettingsError.unreadableFile(path: path, what: what)
        }
        let text = String(decoding: data, as: UTF8.self)
        return String(text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).first ?? "")
    }
}

public enum SettingsError: Error, CustomStringConvertible {
    case unreadableFile(path: String, what: String)

    public var description: String {
        switch self {
        case .unreadableFile(let path, let what):
            return "\(what): cannot read \(path) (does it exist, and may the porthole user read it?)"
        }
    }
}

extension Duration {
    var timeAmount: TimeAmount {
        let (seconds, attoseconds) = components
        return .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}

extension HostPort {
    /// The host as a connect/bind call wants it: IP literal without
    /// brackets, or the DNS name.
    var hostForConnect: String {
        switch host {
        case .address(let address): return address.description
        case .name(let name): return name
        }
    }
}
