import Foundation
import Testing
import PortholeWire
@testable import PortholeConfig

@Suite struct ConfigurationTests {
    /// conf/porthole.toml, found relative to this file so the test works
    /// from any checkout.
    static var annotatedExamplePath: String {
        var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)  // Tests/PortholeConfigTests/ConfigurationTests.swift
        return (parts + ["conf", "porthole.toml"]).joined(separator: "/")
    }

    @Test func test_annotatedExample_loadsWithoutErrorsOrWarnings() throws {
        let loaded = try ConfigurationLoader.load(path: Self.annotatedExamplePath)
        #expect(loaded.warnings.isEmpty, "\(loaded.warnings)")
        let configuration = loaded.configuration
        #expect(configuration.listeners.map(\.name) == ["listen-1", "listen-2"])
        #expect(configuration.routes.map(\.name) == ["agents-passthrough", "portal"])
        #expect(configuration.server == PortholeConfiguration.Server())
        #expect(configuration.tls == PortholeConfiguration.TLS())
        #expect(configuration.portal == PortholeConfiguration.Portal())
        #expect(configuration.polling == PortholeConfiguration.Polling())
        #expect(configuration.admin == PortholeConfiguration.Admin())
        #expect(configuration.log == PortholeConfiguration.Log())
    }

    /// The commented-out examples (`# key = value`, `# [[table]]`) must be
    /// valid too, or people copying them get errors.
    @Test func test_annotatedExample_commentedExamplesLoadWhenUncommented() throws {
        let text = try String(contentsOfFile: Self.annotatedExamplePath, encoding: .utf8)
        let uncommented = text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> Substring in
            guard line.hasPrefix("# ") else { return line }
            let rest = line.dropFirst(2)
            let key = rest.prefix { $0.isLowercase || $0 == "_" }
            let isSetting = !key.isEmpty && rest.dropFirst(key.count).hasPrefix(" = ")
            let isHeader = rest.hasPrefix("[") && rest.hasSuffix("]") && !rest.contains(" ")
            return isSetting || isHeader ? rest : line
        }.joined(separator: "\n")
        #expect(uncommented.contains("\n[[polling.agent]]\n"))
        let loaded = loadValid(uncommented)
        #expect(loaded?.warnings.isEmpty == true, "\(loaded?.warnings ?? [])")
        #expect(loaded?.configuration.certificates.count == 2)
        #expect(loaded?.configuration.routes.map(\.name) == ["agents-passthrough", "branch-agents", "portal"])
    }

    @Test func test_annotatedExample_documentsEveryKey() throws {
        let text = try String(contentsOfFile: Self.annotatedExamplePath, encoding: .utf8)
        for (section, schema) in ConfigurationSchema.sections {
            for key in schema.keyNames where key != "agent" {
                #expect(text.contains("\(key) ="), "conf/porthole.toml does not mention \(section).\(key)")
            }
        }
    }

    @Test func test_emptyFile_givesDefaults() {
        let loaded = loadValid("")
        let configuration = loaded?.configuration
        #expect(configuration?.listeners == PortholeConfiguration.Listener.defaultListeners)
        #expect(configuration?.server.stateDirectory == "/var/lib/porthole")
        #expect(configuration?.server.sniffTimeout == .seconds(5))
        #expect(configuration?.server.sniffMaxBytes == 16_384)
        #expect(configuration?.server.plainHTTP == .redirect)
        #expect(configuration?.server.onSniffTimeout == .close)
        #expect(configuration?.tls.minVersion == .v1_2)
        #expect(configuration?.tls.ciphers.contains("ECDHE-RSA-AES256-GCM-SHA384") == true)
        #expect(configuration?.tls.alpn == ["h2", "http/1.1"])
        #expect(configuration?.admin.endpoint.description == "127.0.0.1:9090")
        #expect(configuration?.portal.upstream == .statusPage)
        #expect(configuration?.portal.maxBody == 100 << 20)
        #expect(configuration?.polling.commsPath == "/OctopusComms")
        #expect(configuration?.polling.collectionTimeout == .seconds(120))
        #expect(configuration?.usesSelfSignedCertificate == true)
        #expect(configuration?.routes.isEmpty == true)
        #expect(configuration?.sourceFile == "porthole.toml")
    }

    @Test func test_embeddedDefault_matchesEmptyFileAndTakesStateDirectory() {
        var fromEmpty = loadValid("")?.configuration
        fromEmpty?.sourceFile = nil
        #expect(fromEmpty == PortholeConfiguration.embeddedDefault)
        let custom = PortholeConfiguration.embeddedDefault(stateDirectory: "/tmp/porthole-state")
        #expect(custom.server.stateDirectory == "/tmp/porthole-state")
        #expect(custom.summary.contains("self-signed certificate in /tmp/porthole-state"))
        #expect(custom.routeTable.match(ConnectionFacts(serverName: nil, source: nil, listener: "listen-1")).outcome
            == .implicitDefault)
    }

    @Test func test_shorthandListen_becomesNamedListenersBeforeLongForm() {
        let loaded = loadValid("""
            [server]
            listen = ["127.0.0.1:8443", "[::1]:8443"]

            [[listener]]
            name = "polling"
            address = "0.0.0.0:10943"
            mode = "polling"

            [[listener]]
            name = "lb"
            address = "10.0.0.5:443"
            proxy_protocol = "required"
            proxy_trusted = ["10.0.0.0/8", "fd00::/8"]
            """)
        let listeners = loaded?.configuration.listeners ?? []
        #expect(listeners.map(\.name) == ["listen-1", "listen-2", "polling", "lb"])
        #expect(listeners.map(\.endpoint.description) == ["127.0.0.1:8443", "[::1]:8443", "0.0.0.0:10943", "10.0.0.5:443"])
        #expect(listeners[0].proxyProtocol == .off && listeners[0].mode == .shared)
        #expect(listeners[2].mode == .polling)
        #expect(listeners[3].proxyProtocol == .required)
        #expect(listeners[3].proxyTrusted.map(\.description) == ["10.0.0.0/8", "fd00::/8"])
    }

    @Test func test_longFormOnly_replacesDefaultListeners() {
        let loaded = loadValid("""
            [[listener]]
            address = "[::]:8443"
            """)
        #expect(loaded?.configuration.listeners.map(\.name) == ["listener-1"])
    }

    @Test func test_fullConfiguration_readsEverySection() {
        let loaded = loadValid("""
            [server]
            state_dir = "/srv/porthole"
            grace_period = "0s"
            sniff_timeout = "2500ms"
            sniff_max_bytes = "32KB"
            plain_http = "reject"
            https_port = 8443
            on_sniff_timeout = "ssh"
            max_connections = 500

            [tls]
            min_version = "1.3"
            groups = ["X25519MLKEM768", "X25519"]
            alpn = ["http/1.1"]
            session_tickets = false
            handshake_timeout = "3s"

            [[certificate]]
            name = "main"
            cert = "/etc/porthole/server.pem"
            key = "/etc/porthole/server.key"
            sni = ["portal.example.com", "*.example.com"]

            [[certificate]]
            name = "agents"
            pfx = "/etc/porthole/agents.pfx"
            password_file = "/etc/porthole/agents.pass"

            [log]
            level = "debug"
            format = "json"
            access_log = false

            [admin]
            listen = "unix:/run/porthole/admin.sock"

            [[route]]
            name = "agents"
            match = { alpn = ["none"], source = ["192.0.2.0/24", "2001:db8::/32"] }
            action = "terminate"
            certificate = "agents"
            alpn = []
            client_certificate = "request"

            [[route]]
            name = "ssh"
            match = { sni = ["none"] }
            action = "passthrough"
            upstream = "127.0.0.1:22"
            proxy_protocol = "v2"
            connect_timeout = "1s"

            [portal]
            upstream = "http://127.0.0.1:8080/"
            max_body = 1048576
            max_concurrent_streams = 50

            [polling]
            trusted_thumbprints = ["0123456789abcdef0123456789abcdef01234567"]
            trust_file = "/etc/porthole/trusted.txt"
            max_message_size = "16MB"
            friendly_headers = { "X-Frame-Options" = "DENY" }

            [[polling.agent]]
            subscription = "poll://ABCDEFGHIJ0123456789"
            thumbprint = "89abcdef0123456789abcdef0123456789abcdef"
            """)
        guard let configuration = loaded?.configuration else { return }
        #expect(loaded?.warnings.isEmpty == true)
        #expect(configuration.server.stateDirectory == "/srv/porthole")
        #expect(configuration.server.gracePeriod == .zero)
        #expect(configuration.server.sniffTimeout == .milliseconds(2500))
        #expect(configuration.server.sniffMaxBytes == 32_768)
        #expect(configuration.server.plainHTTP == .reject)
        #expect(configuration.server.httpsPort == 8443)
        #expect(configuration.server.onSniffTimeout == .route("ssh"))
        #expect(configuration.tls.minVersion == .v1_3)
        #expect(configuration.tls.alpn == ["http/1.1"])
        #expect(configuration.certificates.map(\.name) == ["main", "agents"])
        #expect(configuration.certificates[0].serverNames == [.exact("portal.example.com"), .wildcard(parent: "example.com")])
        #expect(configuration.certificates[1].source == .pkcs12(file: "/etc/porthole/agents.pfx",
                                                               passwordFile: "/etc/porthole/agents.pass"))
        #expect(configuration.log == PortholeConfiguration.Log(level: .debug, format: .json, accessLog: false))
        #expect(configuration.admin.endpoint == .unix(path: "/run/porthole/admin.sock"))
        #expect(configuration.routes[0].action == .terminate(.init(certificate: "agents", alpn: [], clientCertificate: .request)))
        #expect(configuration.routes[1].action == .passthrough(.init(
            upstream: try! HostPort.parse("127.0.0.1:22"), proxyProtocol: .v2, connectTimeout: .seconds(1))))
        #expect(configuration.portal.upstream == .http(try! HostPort.parse("127.0.0.1:8080")))
        #expect(configuration.portal.maxBody == 1 << 20)
        #expect(configuration.polling.trustedThumbprints.map(\.hex) == ["0123456789ABCDEF0123456789ABCDEF01234567"])
        #expect(configuration.polling.friendlyHeaders == [.init(name: "X-Frame-Options", value: "DENY")])
        #expect(configuration.polling.agents.map(\.subscription) == ["poll://abcdefghij0123456789/"])

        let summary = configuration.summary
        #expect(summary.contains("main: PEM /etc/porthole/server.pem + key /etc/porthole/server.key, SNI portal.example.com, *.example.com"))
        #expect(summary.contains("1. agents: alpn [none]; source [192.0.2.0/24, 2001:db8::/32] → terminate (certificate \"agents\", no ALPN, client certificate request)"))
        #expect(summary.contains("2. ssh: sni [none] → passthrough to 127.0.0.1:22 (PROXY v2, connect timeout 1s)"))
        #expect(summary.contains("Admin: unix:/run/porthole/admin.sock, no token"))
        #expect(summary.contains("Portal: upstream http://127.0.0.1:8080"))
        #expect(summary.contains("on sniff timeout route \"ssh\""))
    }

    @Test func test_summaryOfDefaults_coversEverySection() {
        let summary = PortholeConfiguration.embeddedDefault.summary
        for heading in ["Configuration: built-in defaults", "Listeners (2):", "listen-1: 0.0.0.0:443", "listen-2: [::]:443",
                        "Certificates: none configured", "TLS: minimum 1.2", "Routes: none configured",
                        "client certificate auto", "Server: sniff timeout 5s", "Admin: 127.0.0.1:9090, no token",
                        "Portal: upstream built-in status page", "Polling: comms path /OctopusComms", "Log: info, text"] {
            #expect(summary.contains(heading), "summary lacks \(heading):\n\(summary)")
        }
    }
}
