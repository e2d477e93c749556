/// Durations in configuration are strings with a unit — "500ms", "5s", "2m",
/// "1h", or compounds such as "1m30s" — because a bare number leaves the
/// reader guessing whether 30 means seconds or milliseconds.
public enum DurationSyntax {
    public enum ParseError: Error, Sendable, Hashable, CustomStringConvertible {
        case empty
        /// A number without a unit, e.g. "30".
        case missingUnit(String)
        /// A unit other than ms, s, m, h.
        case unknownUnit(String)
        /// Anything else that is not number+unit pairs ("1.5s", "-5s", "5 s").
        case malformed(String)
        case tooLarge

        public var description: String {
            switch self {
            case .empty: return "empty duration"
            case .missingUnit(let number): return "\"\(number)\" has no unit"
            case .unknownUnit(let unit): return "unknown unit \"\(unit)\" (units: ms, s, m, h)"
            case .malformed(let text): return "\"\(text)\" is not a whole number followed by a unit"
            case .tooLarge: return "duration is too large"
            }
        }
    }

    public static func parse(_ text: String) throws(ParseError) -> Duration {
        guard !text.isEmpty else { throw .empty }
        var totalMilliseconds: Int64 = 0
        var rest = Substring(text)
        while !rest.isEmpty {
            let digits = rest.prefix { $0.isASCII && $0.isNumber }
            guard !digits.isEmpty else { throw .malformed(text) }
            rest = rest.dropFirst(digits.count)
            let unit = rest.prefix { $0.isASCII && $0.isLetter }
            rest = rest.dropFirst(unit.count)
            if unit.isEmpty {
                if rest.isEmpty { throw .missingUnit(String(digits)) }
                throw .malformed(text)
            }
            let scale: Int64
            switch unit {
            case "ms": scale = 1
            case "s": scale = 1_000
            case "m": scale = 60_000
            case "h": scale = 3_600_000
            default: throw .unknownUnit(String(unit))
            }
            guard digits.count <= 12, let value = Int64(digits) else { throw .tooLarge }
            let (sum, overflow) = totalMilliseconds.addingReportingOverflow(value * scale)
            guard !overflow else { throw .tooLarge }
            totalMilliseconds = sum
        }
        return .milliseconds(totalMilliseconds)
    }

    /// The shortest exact form in the largest unit: 90s stays "90s", 120s is "2m".
    public static func format(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let milliseconds = seconds * 1_000 + attoseconds / 1_000_000_000_000_000
        if milliseconds != 0 && milliseconds % 3_600_000 == 0 { return "\(milliseconds / 3_600_000)h" }
        if milliseconds != 0 && milliseconds % 60_000 == 0 { return "\(milliseconds / 60_000)m" }
        if milliseconds % 1_000 == 0 { return "\(milliseconds / 1_000)s" }
        return "\(milliseconds)ms"
    }
}
