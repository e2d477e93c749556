import Foundation
import PortholeTestSupport
import Testing

/// The foundation issue's TLS behaviour, checked with real clients
/// (openssl s_client, curl, Python's ssl) against a gateway on 127.0.0.1.
@Suite struct TLSTerminationTests {
    @Test func tls13WithALPNh2_negotiatesBoth() async throws {
        let harness = try await GatewayHarness()
        let result = try Peers.sClient(port: harness.port, arguments: ["-tls1_3", "-alpn", "h2"])
        #expect(result.output.contains("Protocol  : TLSv1.3") || result.output.contains("New, TLSv1.3"))
        #expect(result.output.contains("ALPN protocol: h2"))
        try await harness.stop()
    }

    @Test func tls12WithALPNhttp11_negotiatesBoth() async throws {
        let harness = try await GatewayHarness()
        let result = try Peers.sClient(port: harness.port, arguments: ["-tls1_2", "-alpn", "http/1.1"])
        #expect(result.output.contains("Protocol  : TLSv1.2"))
        #expect(result.output.contains("ALPN protocol: http/1.1"))
        try await harness.stop()
    }

    @Test func configuredALPNList_isWhatIsNegotiated() async throws {
        let harness = try await GatewayHarness(toml: """
        [tls]
        alpn = ["http/1.1"]
        """)
        let result = try Peers.sClient(port: harness.port, arguments: ["-alpn", "h2,http/1.1"])
        #expect(result.output.contains("ALPN protocol: http/1.1"))
        try await harness.stop()
    }

    @Test func tls11_isRefusedWithoutTheLegacySwitch() async throws {
        let harness = try await GatewayHarness()
        let result = try Peers.sClient(port: harness.port, arguments: ["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"])
        #expect(result.output.contains("alert protocol version"))
        #expect(result.output.contains("Cipher is (NONE)"))
        let records = harness.waitForDecisionRecords(1)
        #expect(records.first?["outcome"] == "handshake_failure")
        #expect(records.first?["reason"] == "unsupported_protocol")
        #expect(harness.log.entries.contains { $0.message == "TLS handshake failed" })
        try await harness.stop()
    }

    @Test func tls11_isAcceptedWithTheLegacySwitch() async throws {
        let harness = try await GatewayHarness(toml: """
        [tls]
        legacy_versions = true
        min_version = "1.0"
        """)
        let result = try Peers.sClient(port: harness.port, arguments: ["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"])
        #expect(result.output.contains("Protocol  : TLSv1.1"))
        #expect(!result.output.contains("Cipher is (NONE)"))
        try await harness.stop()
    }

    @Test func curl_getsTheStatusPageWithTheThumbprint() async throws {
        let harness = try await GatewayHarness()
        let thumbprint = harness.gateway.settings.certificates[0].identity.leaf.thumbprint
        let result = try Peers.curl(["-k", "https://127.0.0.1:\(harness.port)/"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("Porthole"))
        #expect(result.stdout.contains(thumbprint))
        let json = try Peers.curl(["-k", "https://127.0.0.1:\(harness.port)/?format=json"])
        let parsed = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect(parsed?["serverThumbprint"] as? String == thumbprint)
        try await harness.stop()
    }

    @Test func ipv4AndIPv6Listeners_bothServe() async throws {
        let directory = TemporaryDirectory()
        let harness = try await GatewayHarness(toml: """
        [server]
        listen = ["127.0.0.1:0", "[::1]:0"]
        state_dir = "\(directory.path)/state"
        """, directory: directory)
        let bound = harness.gateway.boundAddresses
        #expect(bound.count == 2)
        for (_, address) in bound {
            let host = address.protocol == .inet6 ? "[::1]" : "127.0.0.1"
            let result = try Peers.curl(["-k", "https://\(host):\(address.port!)/"])
            #expect(result.stdout.contains("Porthole"), "\(host): \(result.stderr)")
        }
        try await harness.stop()
    }

    @Test func selfSignedCertificate_isGeneratedOnceAndReused() async throws {
        let directory = TemporaryDirectory()
        let first = try await GatewayHarness(directory: directory)
        let thumbprint = first.gateway.settings.certificates[0].identity.leaf.thumbprint
        try await first.stop()
        let second = try await GatewayHarness(directory: directory)
        #expect(second.gateway.settings.certificates[0].identity.leaf.thumbprint == thumbprint)
        let onDisk = try OpenSSLTool.thumbprint(ofPEM: directory.path + "/state/porthole-selfsigned.pem")
        #expect(onDisk == thumbprint)
        try await second.stop()
    }

    @Test func clientCertificate_thumbprintMatchesOpenSSL() async throws {
        let harness = try await GatewayHarness(toml: """
        [[route]]
        name = "agents"
        action = "terminate"
        client_certificate = "request"
        """)
        let client = try OpenSSLTool.makeSelfSigned(in: harness.directory, name: "agent", commonName: "agent")
        let expected = try OpenSSLTool.thumbprint(ofPEM: client.cert)
        let result = try Peers.sClient(port: harness.port, arguments: ["-cert", client.cert, "-key", client.key],
                                       input: "MX\r\n\r\n")
        #expect(result.output.contains("Verification") || result.output.contains("CONNECTED"))
        let records = harness.waitForDecisionRecords(1)
        #expect(records.first?["peer_thumbprint"] == expected)
        try await harness.stop()
    }

    @Test func requestPolicy_clientWithoutCertificateStillCompletes() async throws {
        let harness = try await GatewayHarness(toml: """
        [[route]]
        name = "agents"
        action = "terminate"
        client_certificate = "request"
        """)
        let result = try Peers.sClient(port: harness.port, arguments: ["-msg"], input: "HELLO\r\n\r\n", untilServerCloses: true)
        #expect(result.output.contains("CertificateRequest"))
        #expect(result.output.contains("Hello!"), "the friendly page comes back after a complete handshake")
        try await harness.stop()
    }

    @Test func sniSelectsAmongThreeCertificates_unknownGetsTheDefault() async throws {
        let harness = try await GatewayHarness(toml: """
        [[certificate]]
        name = "default"
        cert = "{{dir}}/default.crt"
        key = "{{dir}}/default.key"

        [[certificate]]
        name = "portal"
        cert = "{{dir}}/portal.crt"
        key = "{{dir}}/portal.key"
        sni = ["portal.example.test"]

        [[certificate]]
        name = "wild"
        cert = "{{dir}}/wild.crt"
        key = "{{dir}}/wild.key"
        sni = ["*.agents.example.test"]
        """, prepare: { directory in
            try OpenSSLTool.makeSelfSigned(in: directory, name: "default", commonName: "default.example.test")
            try OpenSSLTool.makeSelfSigned(in: directory, name: "portal", commonName: "portal.example.test", ecdsa: true)
            try OpenSSLTool.makeSelfSigned(in: directory, name: "wild", commonName: "wild.agents.example.test")
        })
        func presented(_ sni: String?) throws -> String? {
            let arguments = sni.map { ["-servername", $0] } ?? ["-noservername"]
            return Peers.serverSubjectCN(in: try Peers.sClient(port: harness.port, arguments: arguments).output)
        }
        #expect(try presented("portal.example.test") == "portal.example.test")
        #expect(try presented("PORTAL.example.test") == "portal.example.test")
        #expect(try presented("a1.agents.example.test") == "wild.agents.example.test")
        #expect(try presented("unknown.example.test") == "default.example.test")
        #expect(try presented(nil) == "default.example.test")
        try await harness.stop()
    }

    @Test func sessionResumption_withTickets() async throws {
        let harness = try await GatewayHarness()
        let sessionFile = harness.directory.file("session.pem")
        _ = try Peers.sClient(port: harness.port, arguments: ["-tls1_2", "-sess_out", sessionFile])
        let second = try Peers.sClient(port: harness.port, arguments: ["-tls1_2", "-sess_in", sessionFile])
        #expect(second.output.contains("Reused, TLSv1.2"))
        try await harness.stop()
    }

    @Test func clientWritingOneByteAtATime_completesTheHandshake() async throws {
        let harness = try await GatewayHarness()
        let result = try Peers.python(PythonScripts.oneByteHandshake, ["127.0.0.1", String(harness.port)])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("HTTP/1.1 200"))
        try await harness.stop()
    }

    @Test func thousandSequentialHandshakes_leakNoDescriptorsOrMemory() async throws {
        let harness = try await GatewayHarness()
        // Warm up allocator pools and lazy state first.
        _ = try Peers.python(PythonScripts.sequentialHandshakes, ["127.0.0.1", String(harness.port), "50"])
        let socketsBefore = ProcessMetrics.openSockets(localPort: harness.port)
        #expect(socketsBefore >= 1, "the listener itself must be counted, or the check below proves nothing")
        let rssBefore = ProcessMetrics.residentBytes()
        let result = try Peers.python(PythonScripts.sequentialHandshakes, ["127.0.0.1", String(harness.port), "1000"], timeout: 300)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("ok 1000"))
        _ = harness.waitForDecisionRecords(1050)
        let deadline = Date().addingTimeInterval(5)
        while harness.gateway.openConnections > 0 && Date() < deadline { usleep(20_000) }
        #expect(harness.gateway.openConnections == 0)
        // Other tests run in this process at the same time and open and
        // close descriptors of their own, so count only this gateway's:
        // sockets on its port. The last closes may still be in flight on
        // a loaded machine: a leak never goes away, so wait a little.
        let socketDeadline = Date().addingTimeInterval(10)
        while ProcessMetrics.openSockets(localPort: harness.port) > socketsBefore && Date() < socketDeadline { usleep(50_000) }
        #expect(ProcessMetrics.openSockets(localPort: harness.port) <= socketsBefore)
        // Allocators keep some memory; a leak of one SSL per connection
        // would be tens of MB over 1,000 handshakes.
        #expect(ProcessMetrics.residentBytes() < rssBefore + 24 << 20)
        try await harness.stop()
    }
}

enum ProcessMetrics {
    static func openFileDescriptors() -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1
    }

    /// Descriptors of this process that are sockets bound to `localPort`
    /// (asked of each socket with getsockname, which, unlike reading
    /// /proc/net/tcp, does not depend on how big that table has grown).
    static func openSockets(localPort: Int) -> Int {
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return fds.compactMap { Int32($0) }.filter { fd in
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let status = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            }
            guard status == 0 else { return false }
            let port: UInt16
            switch Int32(storage.ss_family) {
            case AF_INET:
                port = withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_port } }
            case AF_INET6:
                port = withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_port } }
            default:
                return false
            }
            return Int(UInt16(bigEndian: port)) == localPort
        }.count
    }

    static func residentBytes(pid: Int32? = nil) -> Int {
        let path = pid.map { "/proc/\($0)/statm" } ?? "/proc/self/statm"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return -1 }
        let fields = text.split(separator: " ")
        return (Int(fields[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
