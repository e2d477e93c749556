import Foundation
import Logging

/// swift-log backend: one line per event on standard error, either
/// human-readable (`key=value` pairs) or JSON (one object per line, for log
/// shippers).
public struct PortholeLogHandler: LogHandler {
    public enum Format: String, Sendable { case text, json }

    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    private let label: String
    private let format: Format

    public init(label: String, format: Format, level: Logger.Level) {
        self.label = label
        self.format = format
        self.logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        let time = Self.timestamp()
        let line: String
        switch format {
        case .text:
            let pairs = merged.sorted { $0.key < $1.key }.map { "\($0.key)=\(Self.quoteIfNeeded("\($0.value)"))" }
            line = ([time, event.level.rawValue, event.message.description] + pairs).joined(separator: " ")
        case .json:
            var fields = ["\"ts\":\(Self.json(time))", "\"level\":\(Self.json(event.level.rawValue))",
                          "\"logger\":\(Self.json(label))", "\"msg\":\(Self.json(event.message.description))"]
            for (key, value) in merged.sorted(by: { $0.key < $1.key }) {
                fields.append("\(Self.json(key)):\(Self.json("\(value)"))")
            }
            line = "{" + fields.joined(separator: ",") + "}"
        }
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    private static func timestamp() -> String {
        let now = Date()
        var time = time_t(now.timeIntervalSince1970)
        var parts = tm()
        gmtime_r(&time, &parts)
        let millis = Int(now.timeIntervalSince1970 * 1000) % 1000
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday,
                      parts.tm_hour, parts.tm_min, parts.tm_sec, millis)
    }

    private static func quoteIfNeeded(_ value: String) -> String {
        if !value.isEmpty, !value.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" || $0.isNewline }) { return value }
        return json(value)
    }

    private static func json(_ text: String) -> String { JSONText.quote(text) }
}
