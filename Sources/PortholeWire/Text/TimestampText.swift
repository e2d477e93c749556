#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// ISO 8601 timestamps in UTC for the status page, the dispatch API and the
/// access log: one home for the format. The format styles are value types,
/// so every event loop can use them at once (a shared `ISO8601DateFormatter`
/// is a class without such a promise, and making one per request was the
/// status page's most expensive line).
public enum TimestampText {
    /// `2026-11-28T19:51:28Z`
    public static func seconds(_ date: Date) -> String {
        date.formatted(secondsStyle)
    }

    /// `2026-11-28T19:51:28.807Z`
    public static func milliseconds(_ date: Date) -> String {
        date.formatted(millisecondsStyle)
    }

    private static let secondsStyle = Date.ISO8601FormatStyle()
    private static let millisecondsStyle = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
}
