import Foundation
import PortholeWire

/// Everything the built-in status page shows, gathered at request time. The
/// same value renders as HTML for people and as JSON for scripts.
public struct StatusSnapshot: Codable, Sendable {
    public struct Listener: Codable, Sendable {
        public var name: String
        public var address: String
        public var mode: String
        public init(name: String, address: String, mode: String) {
            self.name = name; self.address = address; self.mode = mode
        }
    }
    public struct Certificate: Codable, Sendable {
        public var name: String
        public var thumbprint: String
        public var subject: String
        public var serverNames: [String]
        public var notAfter: String
        public init(name: String, thumbprint: String, subject: String, serverNames: [String], notAfter: String) {
            self.name = name; self.thumbprint = thumbprint; self.subject = subject
            self.serverNames = serverNames; self.notAfter = notAfter
        }
    }
    public struct Route: Codable, Sendable {
        public var name: String
        public var action: String
        public var match: String
        public init(name: String, action: String, match: String) {
            self.name = name; self.action = action; self.match = match
        }
    }
    public struct Agent: Codable, Sendable {
        public var subscription: String
        public var thumbprint: String
        public var remoteAddress: String
        public var transport: String
        public var connectedSince: String
        public init(subscription: String, thumbprint: String, remoteAddress: String, transport: String, connectedSince: String) {
            self.subscription = subscription; self.thumbprint = thumbprint; self.remoteAddress = remoteAddress
            self.transport = transport; self.connectedSince = connectedSince
        }
    }

    public var product = PortholeVersion.product
    public var version = PortholeVersion.version
    public var startedAt: String
    /// The thumbprint agents must trust: the default certificate's.
    public var serverThumbprint: String
    public var certificates: [Certificate]
    public var listeners: [Listener]
    public var routes: [Route]
    public var agents: [Agent]
    public var counters: [String: Double]

    public init(startedAt: String, serverThumbprint: String, certificates: [Certificate], listeners: [Listener],
                routes: [Route], agents: [Agent], counters: [String: Double]) {
        self.startedAt = startedAt
        self.serverThumbprint = serverThumbprint
        self.certificates = certificates
        self.listeners = listeners
        self.routes = routes
        self.agents = agents
        self.counters = counters
    }

    public func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(self)) ?? Data("{}".utf8), as: UTF8.self) + "\n"
    }

    /// Self-contained HTML (no external assets: the gateway may be the only
    /// thing reachable), readable on a phone.
    public func html() -> String {
        func e(_ text: String) -> String { HTMLText.escape(text) }
        func table(_ headers: [String], _ rows: [[String]], empty: String) -> String {
            guard !rows.isEmpty else { return "<p class=\"muted\">\(e(empty))</p>" }
            let head = headers.map { "<th>\(e($0))</th>" }.joined()
            let body = rows.map { "<tr>" + $0.map { "<td>\(e($0))</td>" }.joined() + "</tr>" }.joined(separator: "\n")
            return "<div class=\"scroll\"><table><thead><tr>\(head)</tr></thead><tbody>\n\(body)\n</tbody></table></div>"
        }
        let counterRows = counters.sorted { $0.key < $1.key }.map { [$0.key, String(format: "%.0f", $0.value)] }
        return """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(e(product)) status</title>
        <style>
        body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;padding:1rem;color:#1d2733;background:#f5f7fa}
        main{max-width:60rem;margin:auto}
        h1{font-size:1.4rem;margin:.2rem 0} h2{font-size:1.1rem;margin-top:1.6rem}
        .card{background:#fff;border-radius:.5rem;padding:1rem;box-shadow:0 1px 3px rgba(0,0,0,.12)}
        .thumb{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:1.05rem;word-break:break-all;background:#eef3f8;padding:.5rem;border-radius:.3rem}
        table{border-collapse:collapse;width:100%;font-size:.9rem} th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #e3e8ee}
        .scroll{overflow-x:auto} .muted{color:#6b7785}
        </style></head>
        <body><main>
        <div class="card">
        <h1>\(e(product)) \(e(version))</h1>
        <p class="muted">Shared-port TLS gateway · up since \(e(startedAt))</p>
        <p>Server certificate thumbprint (agents must trust this):</p>
        <p class="thumb" id="thumbprint">\(e(serverThumbprint))</p>
        </div>
        <h2>Connected agents (\(agents.count))</h2>
        \(table(["Subscription", "Thumbprint", "Address", "Transport", "Since"], agents.map { [$0.subscription, $0.thumbprint, $0.remoteAddress, $0.transport, $0.connectedSince] }, empty: "No agent connected."))
        <h2>Listeners</h2>
        \(table(["Name", "Address", "Mode"], listeners.map { [$0.name, $0.address, $0.mode] }, empty: "None."))
        <h2>Routes</h2>
        \(table(["Name", "Action", "Match"], routes.map { [$0.name, $0.action, $0.match] }, empty: "None."))
        <h2>Certificates</h2>
        \(table(["Name", "Thumbprint", "Subject", "SNI", "Expires"], certificates.map { [$0.name, $0.thumbprint, $0.subject, $0.serverNames.joined(separator: ", "), $0.notAfter] }, empty: "None."))
        <h2>Counters</h2>
        \(table(["Counter", "Value"], counterRows, empty: "Nothing counted yet."))
        <p class="muted">Also as JSON: add <code>?format=json</code>.</p>
        </main></body></html>

        """
    }
}
