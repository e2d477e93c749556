import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import PortholeConfig
import PortholeGateway
import PortholeTestSupport

/// One gateway running in the test process on 127.0.0.1 with ephemeral
/// ports, built from TOML exactly as `porthole run --config` would, and a
/// log that tests can read (decision records included).
final class GatewayHarness: @unchecked Sendable {
    let gateway: PortholeGateway
    let group: MultiThreadedEventLoopGroup
    let directory: TemporaryDirectory
    let log: CapturedLog

    var port: Int { gateway.boundAddresses.first!.address.port! }
    var adminPort: Int? { gateway.adminAddress?.port }

    /// `toml` may use `{{dir}}` for the harness's temporary directory. The
    /// listeners default to 127.0.0.1:0 and the admin listener to
    /// 127.0.0.1:0 unless the TOML sets them. `server` adds keys to the
    /// generated `[server]` table (when `toml` has none of its own), e.g.
    /// `sniff_timeout = "300ms"`.
    init(toml: String = "", server: String = "", directory: TemporaryDirectory = TemporaryDirectory(),
         prepare: (TemporaryDirectory) throws -> Void = { _ in }) async throws {
        self.directory = directory
        try prepare(directory)
        var text = toml.replacingOccurrences(of: "{{dir}}", with: directory.path)
        if !text.contains("[server]") {
            let listen = text.contains("[[listener]]") ? "" : "listen = [\"127.0.0.1:0\"]\n"
            text = "[server]\n\(listen)state_dir = \"\(directory.path)/state\"\n\(server)\n" + text
        }
        if !text.contains("[admin]") {
            text += "\n[admin]\nlisten = \"127.0.0.1:0\"\n"
        }
        let loaded = try ConfigurationLoader.load(text: text, fileName: "test.toml")
        log = CapturedLog()
        let captured = log
        let logger = Logger(label: "porthole-test") { _ in captured.handler() }
        let settings = try GatewaySettings.make(from: loaded.configuration, logger: logger)
        group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        gateway = PortholeGateway(settings: settings, group: group, logger: logger)
        try await gateway.start()
    }

    func stop() async throws {
        try await gateway.stop()
        try await group.shutdownGracefully()
    }

    /// Decision records written so far (the `connection` log lines).
    var decisionRecords: [[String: String]] { log.entries.filter { $0.message == "connection" }.map(\.metadata) }

    /// `porthole_connections_total` summed over the series with this
    /// outcome (and route, when given), as `/metrics` exposes it.
    func connectionCount(outcome: String, route: String? = nil) -> Int {
        var total = 0
        for line in gateway.metrics.exposition().split(separator: "\n") where line.hasPrefix("porthole_connections_total{") {
            guard line.contains("outcome=\"\(outcome)\"") else { continue }
            if let route, !line.contains("route=\"\(route)\"") { continue }
            total += Int(Double(line.split(separator: " ").last ?? "") ?? 0)
        }
        return total
    }

    /// The one decision record of a finished connection whose fields
    /// include `fields` (waits for it to be written at close).
    func decisionRecord(where fields: [String: String], timeout: TimeInterval = 10) -> [String: String]? {
        let deadline = Date().addingTimeInterval(timeout)
        repeat {
            if let record = decisionRecords.first(where: { record in fields.allSatisfy { record[$0.key] == $0.value } }) {
                return record
            }
            usleep(20_000)
        } while Date() < deadline
        return nil
    }

    /// Waits until `count` decision records are logged (they are written at close).
    func waitForDecisionRecords(_ count: Int, timeout: TimeInterval = 10) -> [[String: String]] {
        let deadline = Date().addingTimeInterval(timeout)
        while decisionRecords.count < count && Date() < deadline { usleep(20_000) }
        return decisionRecords
    }
}

/// A swift-log backend that keeps every entry in memory for assertions.
final class CapturedLog: Sendable {
    struct Entry: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: [String: String]
    }
    private let storage = NIOLockedValueBox<[Entry]>([])

    var entries: [Entry] { storage.withLockedValue { $0 } }

    func handler() -> Handler { Handler(log: self) }

    struct Handler: LogHandler {
        let log: CapturedLog
        var logLevel: Logger.Level = .trace
        var metadata: Logger.Metadata = [:]
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            var flat: [String: String] = [:]
            for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) { flat[key] = "\(value)" }
            let entry = Entry(level: event.level, message: event.message.description, metadata: flat)
            log.storage.withLockedValue { $0.append(entry) }
        }
    }
}
