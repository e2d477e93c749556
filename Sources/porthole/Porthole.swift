import ArgumentParser

@main
struct Porthole: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "porthole",
        abstract: "A shared-port TLS gateway: one port (443) for the web portal and for polling agents.",
        discussion: """
        Porthole listens on one TLS port, looks at each connection's first bytes and sends it \
        to the web portal (HTTP/1.1, HTTP/2, WebSocket) or to the polling agent protocol \
        (Octopus Tentacle / Halibut), without ever decrypting agent traffic it passes on.

        Start with the embedded defaults (port 443, self-signed certificate, status page):
          porthole run
        Validate a configuration file:
          porthole check --config /etc/porthole/porthole.toml
        """,
        version: "porthole \(PortholeVersionText.version)",
        subcommands: [Run.self, Check.self, AgentCommand.self, CertCommand.self, ThumbprintCommand.self, RoutesCommand.self, VersionCommand.self],
        defaultSubcommand: nil
    )
}
