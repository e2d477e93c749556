import NIOConcurrencyHelpers
import NIOCore

/// The two forms of the status page.
public enum StatusPageFormat: Sendable {
    case html
    case json
}

/// The portal's status page, rendered at most once per `maxAge` and shared
/// by every request and event loop in between.
///
/// The page sits on the public port, so anyone can ask for it as fast as
/// they like; building the snapshot, the metrics text and the HTML costs
/// far more than answering, and a client looping on it would otherwise buy
/// the gateway's CPU for the price of a request. One second of staleness is
/// invisible to a person reading the page. The admin listener's page is not
/// cached: it is the operator's, and tools reading it expect live numbers.
public final class StatusPageCache: Sendable {
    public static let defaultMaxAge: TimeAmount = .seconds(1)

    private struct Rendered {
        var html: (String, NIODeadline)?
        var json: (String, NIODeadline)?
    }

    private let snapshot: @Sendable () -> StatusSnapshot
    private let maxAge: TimeAmount
    private let rendered = NIOLockedValueBox(Rendered())

    public init(maxAge: TimeAmount = StatusPageCache.defaultMaxAge, snapshot: @escaping @Sendable () -> StatusSnapshot) {
        self.maxAge = maxAge
        self.snapshot = snapshot
    }

    /// The page in `format`, rendered now if the last rendering is older
    /// than `maxAge`.
    public func page(_ format: StatusPageFormat, now: NIODeadline = .now()) -> String {
        let fresh: (String, NIODeadline)? = rendered.withLockedValue { format == .html ? $0.html : $0.json }
        if let (body, madeAt) = fresh, now - madeAt < maxAge { return body }
        // Rendered outside the lock: two event loops may both render at the
        // edge of a period, which is cheaper than making one wait.
        let status = snapshot()
        let body = format == .html ? status.html() : status.json()
        rendered.withLockedValue {
            if format == .html { $0.html = (body, now) } else { $0.json = (body, now) }
        }
        return body
    }
}
