import ArgumentParser
import Foundation
import Logging
import NIOCore
import NIOPosix
import PortholeAgent
import PortholeGateway
import PortholeTLS
import PortholeWire

struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Run a polling agent (the Tentacle side of the Halibut polling protocol) for tests and benchmarks.",
        discussion: """
        The agent connects to a polling server (Porthole's shared port, or any Halibut \
        polling listener), subscribes to its queue (e.g. poll://abc/), and answers the \
        requests the server pushes with built-in test services:
          IEchoService.SayHello(name)          "Hello " + name
          IEchoService.Fail(reason)            error "Failure requested: " + reason
          IEchoService.Echo(value)             value, unchanged (typed values and all)
          IDelayService.Delay(ms)              waits ms milliseconds, returns ms
          IFileService.UploadFile(path, data)  the DataStream's length
          IFileService.DownloadFile(path)      a DataStream "Contents of <path>\\n"
        It reconnects after a random back-off whenever the connection ends. Stop it with Ctrl-C.

        The agent trusts the server only by its certificate thumbprint, like a real \
        Tentacle; the server must in turn trust the agent's certificate thumbprint.

        Make an agent certificate first: porthole cert new --out agent
          porthole agent --server 127.0.0.1:443 --subscription poll://abc/ \\
            --cert agent.pem --key agent.key --server-thumbprint 2C6B1A...E0
        Over WebSocket, through an HTTP proxy, as 100 agents (poll://agent-1/ ...):
          porthole agent --server portal.example.com:443 --websocket \\
            --proxy http://127.0.0.1:8888 --count 100 \\
            --cert agent.pem --key agent.key --server-thumbprint 2C6B1A...E0
        """)

    @Option(name: .long, help: ArgumentHelp("The polling server, host:port (e.g. 127.0.0.1:443 or server.example.com:10943).", valueName: "host:port"))
    var server: String

    @Option(name: .long, help: ArgumentHelp("The subscription (queue) to poll: poll://<id>/.", valueName: "uri"))
    var subscription = "poll://abcdefghij0123456789/"

    @Option(name: .long, help: ArgumentHelp("The agent's certificate (PEM; may hold the key too) or PFX.", valueName: "path"))
    var cert: String

    @Option(name: .long, help: ArgumentHelp("The agent's private key (PEM), if not in --cert.", valueName: "path"))
    var key: String?

    @Option(name: .long, help: ArgumentHelp("Password of a PFX given as --cert.", valueName: "password"))
    var password: String?

    @Option(name: .customLong("server-thumbprint"),
            help: ArgumentHelp("SHA-1 thumbprint of the server's certificate (40 hex digits); any other certificate aborts the handshake. `porthole thumbprint <cert>` prints it.", valueName: "hex"))
    var serverThumbprint: String

    @Flag(name: .long, help: "Poll over WebSocket (wss://<server>/OctopusComms) instead of raw TLS.")
    var websocket = false

    @Option(name: .customLong("websocket-path"), help: ArgumentHelp("The comms path for --websocket.", valueName: "path"))
    var websocketPath = "/OctopusComms"

    @Option(name: .long, help: ArgumentHelp("Tunnel through an HTTP proxy with CONNECT: http://[user:password@]host:port.", valueName: "url"))
    var proxy: String?

    @Option(name: .long, help: ArgumentHelp("Simulate N agents in this process.", valueName: "N"))
    var count = 1

    @Flag(name: .customLong("shared-subscription"),
          help: "With --count: every agent polls --subscription (N connections on one queue) instead of poll://agent-<i>/ each.")
    var sharedSubscription = false

    @Option(name: .customLong("line-endings"),
            help: ArgumentHelp("Line ends the agent sends: crlf (Windows and Halibut 4.x agents) or lf (Halibut 2.x on Linux).", valueName: "lf|crlf"))
    var lineEndings = "crlf"

    @Option(name: .customLong("reconnect-min"), help: ArgumentHelp("Shortest wait before reconnecting, in seconds.", valueName: "seconds"))
    var reconnectMinimum = 5.0

    @Option(name: .customLong("reconnect-max"),
            help: ArgumentHelp("Longest wait before reconnecting, in seconds; the random wait's ceiling doubles with each failure in a row up to this.", valueName: "seconds"))
    var reconnectMaximum = 120.0

    @Option(name: .customLong("log-level"), help: ArgumentHelp("trace, debug, info, notice, warning, error or critical.", valueName: "level"))
    var logLevel = "info"

    func run() async throws {
        let configuration: AgentConfiguration
        do {
            configuration = try makeConfiguration()
        } catch {
            printError("porthole agent: \(error)")
            throw ExitCode.failure
        }
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in PortholeLogHandler(label: label, format: .text, level: level) }
        let logger = Logger(label: "porthole.agent")
        let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        let fleet: PollingAgentFleet
        do {
            fleet = try PollingAgentFleet(configuration: configuration, group: group, logger: logger)
        } catch {
            printError("porthole agent: \(error)")
            throw ExitCode.failure
        }
        logger.info("starting", metadata: [
            "server": "\(configuration.server)", "transport": "\(configuration.transport.rawValue)",
            "agents": "\(configuration.count)", "proxy": "\(configuration.proxy.map { "\($0.address)" } ?? "none")",
        ])
        let run = Task { await fleet.run() }
        // SIGINT/SIGTERM end the run: connections close, the process exits 0.
        let signals = [SIGINT, SIGTERM].map { signalNumber -> any DispatchSourceSignal in
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler { run.cancel() }
            source.resume()
            return source
        }
        await run.value
        signals.forEach { $0.cancel() }
        try await group.shutdownGracefully()
    }

    private func makeConfiguration() throws -> AgentConfiguration {
        let serverAddress: HostPort
        do { serverAddress = try HostPort.parse(server) } catch {
            throw CLIError("--server \(server): \(error); pass host:port, e.g. 127.0.0.1:443")
        }
        guard let lineEnding = AgentLineEnding(rawValue: lineEndings.lowercased()) else {
            throw CLIError("--line-endings \(lineEndings): expected lf or crlf")
        }
        let identity: CertificateIdentity
        do {
            if let password {
                identity = try CertificateIdentity.load(pfxPath: cert, password: password)
            } else {
                identity = try CertificateIdentity.load(certPath: cert, keyPath: key)
            }
        } catch {
            throw CLIError("cannot load the agent certificate: \(error)")
        }
        return try AgentConfiguration(
            server: serverAddress, subscription: subscription, identity: identity, serverThumbprint: serverThumbprint,
            transport: websocket ? .webSocket : .raw, webSocketPath: websocketPath,
            proxy: try proxy.map { try AgentProxy(url: $0) }, lineEnding: lineEnding, count: count,
            subscriptionMode: sharedSubscription ? .shared : .distinct,
            backoff: AgentBackoff(minimumSeconds: reconnectMinimum, maximumSeconds: reconnectMaximum))
    }
}
