import ArgumentParser
import Foundation
import Logging
import NIOCore
import NIOPosix
import PortholeConfig
import PortholeGateway
import PortholeWire
import ServiceLifecycle

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the gateway.",
        discussion: """
        Without --config, Porthole uses its embedded defaults: it listens on 0.0.0.0:443 and \
        [::]:443, generates a self-signed certificate in the state directory on first run \
        (and reuses it afterwards), logs the thumbprint agents must trust, and serves a \
        built-in status page. The admin listener (metrics, health) is on 127.0.0.1:9090.

        SIGTERM or SIGINT: stop accepting, let open connections finish within the grace \
        period ([server].grace_period, 30 s by default), then exit 0. SIGHUP: re-read the \
        polling trust file ([polling].trust_file) without dropping connections.
        """
    )

    @Option(name: .long, help: ArgumentHelp("Configuration file (TOML). Default: the embedded configuration.", valueName: "file"))
    var config: String?

    @Option(name: .long, help: ArgumentHelp("Listen on this address instead of the configured ones (repeatable), e.g. 127.0.0.1:8443 or [::1]:8443.", valueName: "addr"))
    var listen: [String] = []

    @Option(name: .customLong("state-dir"), help: ArgumentHelp("Directory for the generated self-signed certificate (default /var/lib/porthole).", valueName: "dir"))
    var stateDir: String?

    @Option(name: .long, help: ArgumentHelp("Admin listener address (metrics, health, status), or 'off'.", valueName: "addr"))
    var admin: String?

    @Option(name: .long, help: ArgumentHelp("Event-loop threads (default: one per CPU core). Benchmarks use 1 to compare with one nginx worker.", valueName: "n"))
    var threads: Int?

    func validate() throws {
        if let threads, threads < 1 {
            throw ValidationError("--threads \(threads): expected 1 or more event-loop threads")
        }
    }

    func run() async throws {
        do {
            try await serve()
        } catch let error as CLIError {
            printError("porthole: \(error.description)")
            throw ExitCode.failure
        }
    }

    private func serve() async throws {
        var loaded = try loadConfiguration(path: config)
        try applyOverrides(&loaded)
        let configuration = loaded.configuration
        let logger = makeLogger(configuration.log)
        for warning in loaded.warnings { logger.warning("\(warning.description)") }

        let settings: GatewaySettings
        do {
            settings = try GatewaySettings.make(from: configuration, logger: logger)
        } catch {
            throw CLIError("\(error)")
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads ?? System.coreCount)
        let gateway = PortholeGateway(settings: settings, group: group, logger: logger)
        do {
            try await gateway.start()
        } catch {
            try? await group.shutdownGracefully()
            throw CLIError("\(error)")
        }
        logger.notice("Porthole \(PortholeVersionText.version) ready", metadata: [
            "thumbprint": "\(settings.certificates.first?.identity.leaf.thumbprint ?? "")",
            "config": "\(config ?? "embedded default")",
        ])
        // SIGHUP re-reads the polling trust file; open connections stay.
        signal(SIGHUP, SIG_IGN)
        let hangup = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        hangup.setEventHandler { gateway.reload() }
        hangup.resume()
        defer { hangup.cancel() }
        let services = ServiceGroup(configuration: .init(
            services: [.init(service: gateway)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        try await services.run()
        try? await group.shutdownGracefully()
    }

    private func applyOverrides(_ loaded: inout LoadedSettings) throws {
        var configuration = loaded.configuration
        if let stateDir { configuration.server.stateDirectory = stateDir }
        if !listen.isEmpty {
            configuration.listeners = try listen.enumerated().map { index, text in
                guard let endpoint = try? HostPort.parse(text, allowingPortZero: true), case .address(let address) = endpoint.host else {
                    throw CLIError("--listen \(text): expected an IP address and port, e.g. 0.0.0.0:8443 or [::1]:8443")
                }
                return PortholeConfiguration.Listener(name: PortholeConfiguration.Listener.shorthandName(index: index),
                                                      address: address, port: endpoint.port)
            }
        }
        if let admin {
            if admin == "off" || admin.isEmpty {
                configuration.admin.endpoint = .disabled
            } else {
                guard let endpoint = try? HostPort.parse(admin, allowingPortZero: true), case .address = endpoint.host else {
                    throw CLIError("--admin \(admin): expected an IP address and port, e.g. 127.0.0.1:9090, or 'off'")
                }
                configuration.admin.endpoint = .tcp(endpoint)
            }
        }
        loaded = LoadedSettings(configuration: configuration, warnings: loaded.warnings)
    }
}
