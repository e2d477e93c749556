import Foundation
import Logging
import PortholeWire

/// One request's access-log line (`access`): who asked what, the answer,
/// bytes each way, how long it took and how long the upstream took.
final class AccessRecord {
    let started = ContinuousClock.now
    let time = Date()
    let client: String
    let protocolName: String
    var method = ""
    var authority = ""
    var path = ""
    var status = 0
    var bytesIn = 0
    var bytesOut = 0
    /// From the request sent upstream to the response head.
    var upstreamDuration: Duration?
    private var written = false

    init(client: String, protocolName: String) {
        self.client = client
        self.protocolName = protocolName
    }

    func write(to logger: Logger, enabled: Bool) {
        guard enabled, !written else { return }
        written = true
        let elapsed = ContinuousClock.now - started
        var metadata: Logger.Metadata = [
            "time": "\(TimestampText.milliseconds(time))",
            "client": "\(client)",
            "method": "\(method)",
            "authority": "\(authority)",
            "path": "\(path)",
            "status": "\(status)",
            "bytes_in": "\(bytesIn)",
            "bytes_out": "\(bytesOut)",
            "duration_ms": "\(Self.milliseconds(elapsed))",
            "protocol": "\(protocolName)",
        ]
        if let upstreamDuration { metadata["upstream_ms"] = "\(Self.milliseconds(upstreamDuration))" }
        logger.info("access", metadata: metadata)
    }

    private static func milliseconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        return String(format: "%.1f", Double(seconds) * 1000 + Double(attoseconds) / 1e15)
    }
}
