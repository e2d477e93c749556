/// "host:port" as written in configuration: `127.0.0.1:10943`,
/// `[::1]:443`, `backend.internal:8443`. IPv6 literals need brackets
/// (RFC 3986 §3.2.2) because their colons would make the port ambiguous.
public struct HostPort: Sendable, Hashable, CustomStringConvertible {
    public enum Host: Sendable, Hashable, CustomStringConvertible {
        case address(IPAddress)
        /// A DNS name, lowercased; resolved by whoever connects.
        case name(String)

        public var description: String {
            switch self {
            case .address(.v6(let address)): return "[\(address)]"
            case .address(let address): return address.description
            case .name(let name): return name
            }
        }
    }

    public let host: Host
    public let port: UInt16

    public init(host: Host, port: UInt16) {
        self.host = host
        self.port = port
    }

    public init(address: IPAddress, port: UInt16) {
        self.init(host: .address(address), port: port)
    }

    public enum ParseError: Error, Sendable, Hashable, CustomStringConvertible {
        case empty
        /// No ":port" after the host.
        case missingPort(host: String)
        /// The port is not a number in 1...65535.
        case badPort(String)
        /// An IPv6 literal without brackets, e.g. "::1:443".
        case ipv6NeedsBrackets(String)
        /// Inside brackets but not an IPv6 address.
        case badIPv6(String)
        /// "[::1" without the closing bracket, or text between "]" and ":".
        case badBrackets(String)
        /// Not an IPv4 address and not a valid DNS name.
        case badHost(String)

        public var description: String {
            switch self {
            case .empty: return "empty address"
            case .missingPort(let host): return "\"\(host)\" has no port"
            case .badPort(let port): return "port \"\(port)\" is not a number from 1 to 65535"
            case .ipv6NeedsBrackets(let text): return "IPv6 address \"\(text)\" needs brackets before the port"
            case .badIPv6(let text): return "\"\(text)\" is not an IPv6 address"
            case .badBrackets(let text): return "\"\(text)\" has unbalanced brackets"
            case .badHost(let text): return "\"\(text)\" is neither an IP address nor a host name"
            }
        }
    }

    /// - Parameter allowingPortZero: for listen addresses, where port 0 asks
    ///   the kernel for any free port (tests, ephemeral setups).
    public static func parse(_ text: some StringProtocol, allowingPortZero: Bool = false) throws(ParseError) -> HostPort {
        let string = String(text)
        guard !string.isEmpty else { throw .empty }

        let hostText: Substring
        let portText: Substring
        if string.hasPrefix("[") {
            guard let close = string.firstIndex(of: "]") else { throw .badBrackets(string) }
            let inside = string[string.index(after: string.startIndex)..<close]
            let rest = string[string.index(after: close)...]
            guard let address = IPv6Address(inside) else { throw .badIPv6(String(inside)) }
            if rest.isEmpty { throw .missingPort(host: string) }
            guard rest.hasPrefix(":") else { throw .badBrackets(string) }
            return HostPort(address: .v6(address), port: try parsePort(rest.dropFirst(), allowingZero: allowingPortZero))
        }

        let colons = string.filter { $0 == ":" }.count
        if colons == 0 {
            if IPAddress(string) == nil && !isHostName(string) { throw .badHost(string) }
            throw .missingPort(host: string)
        }
        if colons > 1 {
            // Either a bare IPv6 address or one with a port glued on; both
            // need brackets to be unambiguous.
            throw .ipv6NeedsBrackets(string)
        }
        let colon = string.firstIndex(of: ":")!
        hostText = string[..<colon]
        portText = string[string.index(after: colon)...]
        let port = try parsePort(portText, allowingZero: allowingPortZero)
        if let address = IPv4Address(hostText) { return HostPort(address: .v4(address), port: port) }
        guard isHostName(hostText) else { throw .badHost(String(hostText)) }
        return HostPort(host: .name(hostText.lowercased()), port: port)
    }

    private static func parsePort(_ text: Substring, allowingZero: Bool) throws(ParseError) -> UInt16 {
        guard text.utf8.count <= 5, isDecimal(text), let value = Int(text), ((allowingZero ? 0 : 1)...65535).contains(value)
        else { throw .badPort(String(text)) }
        return UInt16(value)
    }

    /// RFC 1123 host name: dot-separated labels of letters, digits and
    /// hyphens, 1...63 bytes, not starting or ending with a hyphen. Underscores
    /// are tolerated because container runtimes hand them out as service
    /// names. A name of only digits and dots is a mistyped IPv4 address.
    public static func isHostName(_ text: some StringProtocol) -> Bool {
        var name = Substring(text)
        if name.hasSuffix(".") { name = name.dropLast() }
        guard !name.isEmpty, name.utf8.count <= 253 else { return false }
        if isDecimal(name.filter { $0 != "." }) { return false }
        for label in name.split(separator: ".", omittingEmptySubsequences: false) {
            guard (1...63).contains(label.utf8.count),
                  label.first != "-", label.last != "-",
                  label.utf8.allSatisfy({ isHostNameByte($0) })
            else { return false }
        }
        return true
    }

    /// One or more ASCII digits and nothing else: `Int(_:)` alone would also
    /// accept a sign ("+80"), which no port or prefix length is written with.
    static func isDecimal(_ text: some StringProtocol) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
    }

    private static func isHostNameByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"):
            return true
        default:
            return false
        }
    }

    public var description: String { "\(host):\(port)" }
}
