/// SNI → certificate selection. Pure so that it can be tested without OpenSSL.
public enum ServerNameMatcher {
    /// True when `pattern` (exact name or `*.suffix`) covers `name`. A
    /// wildcard stands for exactly one label, as in certificate matching
    /// (RFC 6125 §6.4.3), so `*.example.com` covers `a.example.com` but not
    /// `example.com` or `a.b.example.com`.
    public static func matches(pattern: String, name: String) -> Bool {
        let pattern = pattern.lowercased()
        let name = name.lowercased()
        guard pattern.hasPrefix("*.") else { return pattern == name }
        let suffix = pattern.dropFirst(1) // ".example.com"
        guard name.hasSuffix(suffix) else { return false }
        let label = name.dropLast(suffix.count)
        return !label.isEmpty && !label.contains(".")
    }

    /// Index of the entry to present: exact matches beat wildcards, the
    /// first entry is the default.
    public static func select(serverName: String?, among entries: [[String]]) -> Int {
        guard let serverName, !entries.isEmpty else { return 0 }
        if let exact = entries.firstIndex(where: { $0.contains { !$0.hasPrefix("*.") && matches(pattern: $0, name: serverName) } }) {
            return exact
        }
        if let wildcard = entries.firstIndex(where: { $0.contains { $0.hasPrefix("*.") && matches(pattern: $0, name: serverName) } }) {
            return wildcard
        }
        return 0
    }
}
