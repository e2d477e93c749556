import Foundation
import PortholeTestSupport
import Testing

/// The `porthole` command as an operator uses it.
@Suite struct CommandLineTests {
    @Test func thumbprint_equalsOpenSSLFingerprint_forPEMAndPFX() throws {
        let directory = TemporaryDirectory()
        let made = try OpenSSLTool.makeSelfSigned(in: directory, name: "server", commonName: "server.example.test")
        let expected = try OpenSSLTool.thumbprint(ofPEM: made.cert)
        let pem = try PortholeBinary.run(["thumbprint", made.cert])
        #expect(pem.status == 0)
        #expect(pem.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == expected)

        let pfx = directory.file("server.pfx")
        let export = try ChildProcess.run("openssl", ["pkcs12", "-export", "-in", made.cert, "-inkey", made.key, "-out", pfx,
                                                      "-passout", "pass:s3cret"])
        #expect(export.status == 0)
        let passwordFile = directory.write("pfx.pass", "s3cret\n")
        let fromPFX = try PortholeBinary.run(["thumbprint", pfx, "--password-file", passwordFile])
        #expect(fromPFX.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == expected)

        let wrongPassword = directory.write("wrong.pass", "nope\n")
        let refused = try PortholeBinary.run(["thumbprint", pfx, "--password-file", wrongPassword])
        #expect(refused.status == 1)
        #expect(refused.stderr.lowercased().contains("password"))
    }

    @Test func certNew_writesRSAByDefaultAndECDSAOnRequest_andPrintsTheThumbprint() throws {
        let directory = TemporaryDirectory()
        let rsa = try PortholeBinary.run(["cert", "new", "--out", directory.file("rsa"), "--dns", "gw.example.test"])
        #expect(rsa.status == 0)
        let printed = rsa.stdout.split(separator: "\n").first { $0.hasPrefix("thumbprint:") }?.split(separator: " ").last.map(String.init)
        #expect(printed == (try OpenSSLTool.thumbprint(ofPEM: directory.file("rsa.pem"))))
        let text = try ChildProcess.run("openssl", ["x509", "-in", directory.file("rsa.pem"), "-noout", "-text"]).stdout
        #expect(text.contains("Public-Key: (2048 bit)"))
        #expect(text.contains("DNS:gw.example.test"))

        let ecdsa = try PortholeBinary.run(["cert", "new", "--ecdsa", "--out", directory.file("ec")])
        #expect(ecdsa.status == 0)
        let ecText = try ChildProcess.run("openssl", ["x509", "-in", directory.file("ec.pem"), "-noout", "-text"]).stdout
        #expect(ecText.contains("prime256v1") || ecText.contains("P-256"))
    }

    @Test func check_reportsFileLineKeyAndFix_forEachMistake() throws {
        let directory = TemporaryDirectory()
        let config = directory.write("porthole.toml", """
        [server]
        listen = ["0.0.0.0:443", "localhost"]
        grace_period = "30 seconds"

        [[route]]
        name = "agents"
        action = "passthrough"
        """)
        let result = try PortholeBinary.run(["check", "--config", config])
        #expect(result.status == 1)
        #expect(result.stderr.contains("porthole.toml:2:"))
        #expect(result.stderr.contains("[server].listen[1]"))
        #expect(result.stderr.contains("porthole.toml:3:"))
        #expect(result.stderr.contains("grace_period"))
        #expect(result.stderr.contains("upstream"))
    }

    @Test func check_acceptsAValidFileAndPrintsASummary() throws {
        let directory = TemporaryDirectory()
        let made = try OpenSSLTool.makeSelfSigned(in: directory, name: "server", commonName: "server.example.test")
        let config = directory.write("porthole.toml", """
        [server]
        listen = ["127.0.0.1:8443"]

        [[certificate]]
        name = "main"
        cert = "\(made.cert)"
        key = "\(made.key)"
        """)
        let result = try PortholeBinary.run(["check", "--config", config])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("127.0.0.1:8443"))
        #expect(result.stdout.contains("OK"))
    }

    @Test func check_loadsCertificates_andNamesAKeyMismatch() throws {
        let directory = TemporaryDirectory()
        let a = try OpenSSLTool.makeSelfSigned(in: directory, name: "a", commonName: "a")
        let b = try OpenSSLTool.makeSelfSigned(in: directory, name: "b", commonName: "b")
        let config = directory.write("porthole.toml", """
        [[certificate]]
        name = "main"
        cert = "\(a.cert)"
        key = "\(b.key)"
        """)
        let result = try PortholeBinary.run(["check", "--config", config])
        #expect(result.status == 1)
        #expect(result.stderr.contains("\"main\""))
        #expect(result.stderr.lowercased().contains("match"))
    }

    @Test func version_andHelp_areThere() throws {
        let version = try PortholeBinary.run(["version"])
        #expect(version.stdout.hasPrefix("porthole "))
        let help = try PortholeBinary.run(["--help"])
        for command in ["run", "check", "cert", "thumbprint", "routes", "version"] {
            #expect(help.stdout.contains(command))
        }
    }

    @Test func bindingAPrivilegedPortWithoutPrivilege_saysHowToFixIt() throws {
        // Drop to nobody: root could bind 443 and the message would not show.
        let directory = TemporaryDirectory()
        chmod(directory.path, 0o777)
        let setpriv = try ChildProcess.which("setpriv")
        let result = try ChildProcess.run(setpriv, ["--reuid=65534", "--regid=65534", "--clear-groups", PortholeBinary.path, "run",
                                                    "--listen", "127.0.0.1:443", "--state-dir", directory.file("state"),
                                                    "--admin", "off"], timeout: 30)
        #expect(result.status == 1)
        #expect(result.stderr.contains("permission denied"))
        #expect(result.stderr.contains("setcap cap_net_bind_service=+ep"))
        #expect(result.stderr.contains("AmbientCapabilities=CAP_NET_BIND_SERVICE"))
        #expect(result.stderr.contains("--listen"))
    }

    @Test func run_withOneEventLoopThread_servesTheStatusPage_andRefusesZeroThreads() throws {
        let refused = try PortholeBinary.run(["run", "--threads", "0", "--listen", "127.0.0.1:0", "--admin", "off"])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("--threads 0"))

        let directory = TemporaryDirectory()
        let (porthole, port) = try PortholeBinary.start(["--threads", "1", "--listen", "127.0.0.1:0",
                                                         "--state-dir", directory.file("state"), "--admin", "off"])
        defer { porthole.stop() }
        let page = try ChildProcess.run("curl", ["-sk", "https://127.0.0.1:\(port)/porthole/status"], timeout: 30)
        #expect(page.status == 0)
        #expect(page.stdout.contains("Porthole"))
    }
}
