import Logging
import NIOCore

/// The one decision record each connection leaves in the log: who, what was
/// sniffed, which route and action, how long deciding took, how it ended.
/// Filled in by the handlers along the way, written once at close.
/// Confined to the connection's event loop.
final class ConnectionRecord {
    let startedAt = NIODeadline.now()
    let listener: String
    var clientAddress: String
    var viaProxyProtocol = false
    var serverName: String?
    /// nil: the ClientHello had no ALPN extension (agents).
    var alpnOffered: [String]?
    var alpnNegotiated: String?
    var tlsVersion: String?
    var peerThumbprint: String?
    var sniffBytes = 0
    var decidedAfter: TimeAmount?
    var route: String?
    var action: String?
    var handler: String?
    var outcome: ConnectionOutcome?
    var reason: String?
    var bytesFromClient = 0
    var bytesToClient = 0
    private var written = false

    init(listener: String, clientAddress: String) {
        self.listener = listener
        self.clientAddress = clientAddress
    }

    func markDecided(bytes: Int) {
        sniffBytes = bytes
        decidedAfter = .nanoseconds(Int64(NIODeadline.now().uptimeNanoseconds &- startedAt.uptimeNanoseconds))
    }

    func write(to logger: Logger) {
        guard !written else { return }
        written = true
        // Built only when it will be written: at warning level (the usual
        // setting under load) the dictionary and its strings were most of
        // this function's cost, paid once per connection for nothing.
        guard logger.logLevel <= .info else { return }
        var metadata: Logger.Metadata = [
            "client": "\(clientAddress)",
            "listener": "\(listener)",
            "outcome": "\(outcome?.rawValue ?? "closed")",
            "bytes_in": "\(bytesFromClient)",
            "bytes_out": "\(bytesToClient)",
            "duration_ms": "\((NIODeadline.now().uptimeNanoseconds &- startedAt.uptimeNanoseconds) / 1_000_000)",
        ]
        if viaProxyProtocol { metadata["proxy_protocol"] = "true" }
        metadata["sni"] = "\(serverName ?? "none")"
        metadata["alpn_offered"] = "\(alpnOffered.map { $0.joined(separator: ",") } ?? "none")"
        // Negotiated ALPN: "none" after a handshake without it; "unknown"
        // when Porthole did not terminate (passthrough, or closed earlier).
        metadata["alpn"] = "\(alpnNegotiated ?? (tlsVersion == nil ? "unknown" : "none"))"
        if let tlsVersion { metadata["tls"] = "\(tlsVersion)" }
        if let peerThumbprint { metadata["peer_thumbprint"] = "\(peerThumbprint)" }
        metadata["sniff_bytes"] = "\(sniffBytes)"
        if let decidedAfter { metadata["decide_ms"] = "\(Double(decidedAfter.nanoseconds / 1000) / 1000)" }
        if let route { metadata["route"] = "\(route)" }
        if let action { metadata["action"] = "\(action)" }
        if let handler { metadata["handler"] = "\(handler)" }
        if let reason { metadata["reason"] = "\(reason)" }
        logger.info("connection", metadata: metadata)
    }
}
