import ArgumentParser
import Foundation
import PortholeConfig
import PortholeGateway
import PortholeTLS
import PortholeWire

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate a configuration file and print a summary.",
        discussion: "Exit code 0 when the file is valid (warnings are printed), 1 with every problem listed otherwise. Certificate files are loaded too, so a wrong password or a key that does not match shows up here.")

    @Option(name: .long, help: ArgumentHelp("Configuration file (TOML).", valueName: "file"))
    var config: String

    @Flag(name: .long, help: "Only check the file's syntax and values; do not open certificate files.")
    var skipCertificates = false

    func run() throws {
        let loaded: LoadedSettings
        do {
            loaded = try loadConfiguration(path: config)
        } catch let error as CLIError {
            printError(error.description)
            throw ExitCode.failure
        }
        for warning in loaded.warnings { print(warning.description) }
        if !skipCertificates && !loaded.configuration.usesSelfSignedCertificate {
            var failed = false
            for certificate in loaded.configuration.certificates {
                do {
                    let identity = try GatewaySettings.loadIdentity(certificate)
                    if let warning = identity.expiryWarning { print("\(config): [[certificate]] \"\(certificate.name)\": warning: \(warning)") }
                } catch {
                    printError("\(config): [[certificate]] \"\(certificate.name)\": \(error)")
                    failed = true
                }
            }
            if failed { throw ExitCode.failure }
        }
        print(loaded.configuration.summary)
        print("\(config): OK")
    }
}

struct CertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cert",
        abstract: "Certificate tools.",
        subcommands: [NewCertificate.self])
}

struct NewCertificate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "new",
        abstract: "Generate a self-signed certificate and key (PEM) and print its thumbprint.",
        discussion: "RSA-2048 by default, which agents of every age accept; --ecdsa for P-256. Agents identify the server by the printed thumbprint.")

    @Option(name: .long, help: ArgumentHelp("Write <prefix>.pem (certificate) and <prefix>.key (private key, mode 0600).", valueName: "prefix"))
    var out: String

    @Option(name: .customLong("cn"), help: "Common name.")
    var commonName = "Porthole"

    @Option(name: .customLong("dns"), help: "DNS name for the subjectAltName (repeatable).")
    var dnsNames: [String] = []

    @Flag(name: .long, help: "ECDSA P-256 instead of RSA-2048.")
    var ecdsa = false

    @Option(name: .long, help: "Validity in days.")
    var days = 3650

    func run() throws {
        do {
            let identity = try SelfSignedCertificateGenerator.generate(keyType: ecdsa ? .ecdsaP256 : .rsa2048, commonName: commonName,
                                                                       dnsNames: dnsNames, validityDays: days)
            try identity.writePEM(certPath: out + ".pem", keyPath: out + ".key")
            print("certificate: \(out).pem")
            print("private key: \(out).key")
            print("thumbprint:  \(identity.leaf.thumbprint)")
        } catch {
            printError("porthole cert new: \(error)")
            throw ExitCode.failure
        }
    }
}

struct ThumbprintCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "thumbprint",
        abstract: "Print a certificate's SHA-1 thumbprint as agents expect it.",
        discussion: "40 upper-case hex digits, the same as `openssl x509 -noout -fingerprint -sha1` without the colons. Reads PEM, DER or PFX (with --password-file).")

    @Argument(help: "Certificate file (PEM, DER or PFX).")
    var file: String

    @Option(name: .customLong("password-file"), help: "File holding the PFX password.")
    var passwordFile: String?

    func run() throws {
        do {
            var password: String?
            if let passwordFile {
                password = try GatewaySettings.readSecret(passwordFile, what: "--password-file")
            }
            print(try Thumbprint.ofFile(path: file, password: password))
        } catch {
            printError("porthole thumbprint: \(error)")
            throw ExitCode.failure
        }
    }
}

struct RoutesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "routes",
        abstract: "Inspect the route table.",
        subcommands: [ExplainRoute.self])
}

struct ExplainRoute: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Show which route a connection would take, and why, without running anything.",
        discussion: "Example: porthole routes explain --config porthole.toml --sni portal.example.com --alpn h2,http/1.1 --source 203.0.113.7")

    @Option(name: .long, help: ArgumentHelp("Configuration file (default: the embedded configuration).", valueName: "file"))
    var config: String?

    @Option(name: .long, help: "SNI host name in the ClientHello (omit for none).")
    var sni: String?

    @Option(name: .long, help: "Offered ALPN protocols, comma-separated; 'none' (or omitted) for no ALPN extension, as agents send.")
    var alpn: String = "none"

    @Option(name: .long, help: "Client source address.")
    var source: String?

    @Option(name: .long, help: "Listener name (default: the first listener).")
    var listener: String?

    func run() throws {
        let loaded: LoadedSettings
        do { loaded = try loadConfiguration(path: config) } catch let error as CLIError {
            printError(error.description)
            throw ExitCode.failure
        }
        let configuration = loaded.configuration
        var sourceAddress: IPAddress?
        if let source {
            guard let address = IPAddress(source) else {
                printError("--source \(source): not an IP address")
                throw ExitCode.failure
            }
            sourceAddress = address
        }
        let offered = alpn == "none" ? [] : alpn.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let facts = ConnectionFacts(serverName: sni, offeredALPN: offered, alpnExtensionPresent: alpn != "none",
                                    source: sourceAddress, listener: listener ?? configuration.listeners.first?.name ?? "")
        for line in configuration.routeTable.explain(facts) { print(line) }
        let routes = configuration.routeTable.routes
        for shadow in configuration.routeTable.shadowedRoutes() {
            let shadowed = "route #\(shadow.shadowedIndex + 1) \"\(routes[shadow.shadowedIndex].name)\""
            print("warning: \(shadowed) can never match: \(shadow.explanation)")
        }
    }
}

struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "version", abstract: "Print the version.")

    func run() throws {
        print("porthole \(PortholeVersionText.version)")
    }
}
