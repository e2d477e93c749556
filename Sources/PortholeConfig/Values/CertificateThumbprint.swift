/// A certificate's SHA-1 thumbprint as Octopus shows it: 40 hex digits.
/// Stored uppercase so comparisons with computed thumbprints are plain
/// string equality.
public struct CertificateThumbprint: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let hex: String

    public enum ParseError: Error, Sendable, Hashable, CustomStringConvertible {
        case wrongLength(Int)
        case notHex(Character)
        /// Windows' certificate dialog puts an invisible U+200E before the
        /// thumbprint, so copy-paste from it fails in a way nobody can see.
        case invisibleCharacter

        public var description: String {
            switch self {
            case .wrongLength(let count): return "has \(count) hex digits, a thumbprint has 40"
            case .notHex(let character): return "contains \"\(character)\", which is not a hex digit"
            case .invisibleCharacter: return "contains an invisible character (often copied from the Windows certificate dialog)"
            }
        }
    }

    public init(parsing text: String) throws(ParseError) {
        if text.unicodeScalars.contains(where: { !$0.isASCII && $0.properties.generalCategory == .format }) {
            throw .invisibleCharacter
        }
        // ASCII only: Character.isHexDigit also accepts fullwidth digits.
        if let bad = text.first(where: { !($0.isASCII && $0.isHexDigit) }) { throw .notHex(bad) }
        guard text.count == 40 else { throw .wrongLength(text.count) }
        self.hex = text.uppercased()
    }

    public init?(_ text: String) {
        guard let value = try? Self(parsing: text) else { return nil }
        self = value
    }

    public var description: String { hex }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.hex < rhs.hex }
}
