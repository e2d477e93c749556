/// Sizes are integers (bytes) or strings with a unit: "16KB", "100MB", "1GB".
/// Units are binary (KB = 1024 bytes), as in nginx and most server configs;
/// "KiB"/"MiB"/"GiB" are accepted as the same units for people who prefer
/// the unambiguous spelling.
public enum ByteSizeSyntax {
    public enum ParseError: Error, Sendable, Hashable, CustomStringConvertible {
        case empty
        case unknownUnit(String)
        case malformed(String)
        case tooLarge

        public var description: String {
            switch self {
            case .empty: return "empty size"
            case .unknownUnit(let unit): return "unknown unit \"\(unit)\" (units: B, KB, MB, GB)"
            case .malformed(let text): return "\"\(text)\" is not a whole number with an optional unit"
            case .tooLarge: return "size is too large"
            }
        }
    }

    public static func parse(_ text: String) throws(ParseError) -> Int {
        let trimmed = text.trimmingASCIISpaces
        guard !trimmed.isEmpty else { throw .empty }
        let digits = trimmed.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty else { throw .malformed(text) }
        let unit = trimmed.dropFirst(digits.count).trimmingASCIISpaces
        let scale: Int
        switch unit.uppercased() {
        case "", "B": scale = 1
        case "KB", "KIB", "K": scale = 1 << 10
        case "MB", "MIB", "M": scale = 1 << 20
        case "GB", "GIB", "G": scale = 1 << 30
        default:
            if unit.allSatisfy({ $0.isLetter }) { throw .unknownUnit(String(unit)) }
            throw .malformed(text)
        }
        guard digits.count <= 15, let value = Int(digits) else { throw .tooLarge }
        let (product, overflow) = value.multipliedReportingOverflow(by: scale)
        guard !overflow else { throw .tooLarge }
        return product
    }

    /// Largest exact unit: 104857600 → "100MB", 1000 → "1000B".
    public static func format(_ bytes: Int) -> String {
        for (scale, unit) in [(1 << 30, "GB"), (1 << 20, "MB"), (1 << 10, "KB")] where bytes != 0 && bytes % scale == 0 {
            return "\(bytes / scale)\(unit)"
        }
        return "\(bytes)B"
    }
}

extension StringProtocol {
    var trimmingASCIISpaces: Substring {
        let sub = Substring(self)
        let start = sub.firstIndex { $0 != " " && $0 != "\t" } ?? sub.endIndex
        let end = sub.lastIndex { $0 != " " && $0 != "\t" }.map { sub.index(after: $0) } ?? start
        return sub[start..<Swift.max(start, end)]
    }
}
