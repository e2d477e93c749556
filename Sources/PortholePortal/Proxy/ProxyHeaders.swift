/// Header rewriting between the client side (HTTP/1.1 or HTTP/2) and the
/// HTTP/1.1 upstream. Pure: no I/O, unit-tested with plain values.
public enum ProxyHeaders {
    public typealias Fields = [(name: String, value: String)]

    /// Connection-specific fields (RFC 9110 §7.6.1) plus the HTTP/2-only TE
    /// rule (RFC 9113 §8.2.2); a proxy must not forward them.
    static let hopByHop: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
        "proxy-authenticate", "proxy-authorization",
    ]

    /// Drops hop-by-hop fields, including any that `Connection` names.
    public static func removingHopByHop(_ fields: Fields) -> Fields {
        var named = hopByHop
        var kept: Fields = []
        kept.reserveCapacity(fields.count)
        var dropped = false
        for field in fields {
            let name = field.name.lowercased()
            if name == "connection" { named.formUnion(tokens(field.value)) }
            if hopByHop.contains(name) { dropped = true } else { kept.append(field) }
        }
        // Fields named by `Connection` are rare: filter a second time only
        // when there are any beyond the fixed list.
        guard named.count > hopByHop.count else { return dropped ? kept : fields }
        return kept.filter { !named.contains($0.name.lowercased()) }
    }

    /// The comma-separated tokens of a list field (RFC 9110 §5.6.1),
    /// lower-cased, optional whitespace trimmed, empty elements skipped.
    static func tokens(_ value: String) -> [String] {
        value.split(separator: ",").compactMap { element in
            var token = element.drop { $0 == " " || $0 == "\t" }
            while let last = token.last, last == " " || last == "\t" { token.removeLast() }
            return token.isEmpty ? nil : token.lowercased()
        }
    }

    /// A WebSocket (or other) upgrade request: `Connection: upgrade` with an
    /// `Upgrade` field (RFC 9110 §7.8).
    public static func isUpgradeRequest(_ fields: Fields) -> Bool {
        let connection = fields.filter { $0.name.lowercased() == "connection" }.flatMap { tokens($0.value) }
        return connection.contains("upgrade") && fields.contains { $0.name.lowercased() == "upgrade" }
    }

    /// The request fields the upstream gets: hop-by-hop removed (except the
    /// upgrade pair when upgrading), `Host` set to the client's authority,
    /// HTTP/2 cookie crumbs joined (RFC 9113 §8.2.3), and the forwarding
    /// fields added (X-Forwarded-*, RFC 7239 `Forwarded`).
    public static func upstreamRequest(_ fields: Fields, authority: String, clientAddress: String, upgrade: Bool) -> Fields {
        let upgradeValue = upgrade ? fields.first { $0.name.lowercased() == "upgrade" }?.value : nil
        var result: Fields = []
        var cookies: [String] = []
        var forwardedFor: [String] = []
        var forwarded: [String] = []
        for field in removingHopByHop(fields) {
            switch field.name.lowercased() {
            case "host", "x-forwarded-proto", "x-forwarded-host":
                continue // replaced below: ours are the ones that are true
            case "cookie":
                cookies.append(field.value)
            case "x-forwarded-for":
                forwardedFor.append(field.value)
            case "forwarded":
                forwarded.append(field.value)
            default:
                result.append(field)
            }
        }
        let client = clientIP(from: clientAddress)
        result.insert(("Host", authority), at: 0)
        if !cookies.isEmpty { result.append(("Cookie", cookies.joined(separator: "; "))) }
        if let upgradeValue {
            result.append(("Connection", "Upgrade"))
            result.append(("Upgrade", upgradeValue))
        }
        result.append(("X-Forwarded-For", (forwardedFor + [client]).joined(separator: ", ")))
        result.append(("X-Forwarded-Proto", "https"))
        result.append(("X-Forwarded-Host", authority))
        // RFC 7239 §6: IPv6 addresses are bracketed and the value quoted.
        let node = client.contains(":") ? "\"[\(client)]\"" : client
        let hostValue = authority.contains(":") || authority.contains("[") ? "\"\(authority)\"" : authority
        result.append(("Forwarded", (forwarded + ["for=\(node);proto=https;host=\(hostValue)"]).joined(separator: ", ")))
        return result
    }

    /// Response fields as the client gets them: hop-by-hop removed.
    public static func downstreamResponse(_ fields: Fields) -> Fields {
        removingHopByHop(fields)
    }

    /// "203.0.113.7:51234" → "203.0.113.7"; "[2001:db8::1]:443" → "2001:db8::1".
    public static func clientIP(from address: String) -> String {
        if address.hasPrefix("["), let close = address.firstIndex(of: "]") {
            return String(address[address.index(after: address.startIndex)..<close])
        }
        if address.filter({ $0 == ":" }).count == 1, let colon = address.lastIndex(of: ":") {
            return String(address[..<colon])
        }
        return address
    }

    /// The host part of an authority, lower-cased: "Portal.Example:443" →
    /// "portal.example", "[::1]:8443" → "::1".
    public static func hostName(ofAuthority authority: String) -> String {
        var text = Substring(authority)
        if text.hasPrefix("[") {
            if let close = text.firstIndex(of: "]") { text = text[text.index(after: text.startIndex)..<close] }
        } else if let colon = text.lastIndex(of: ":") {
            text = text[..<colon]
        }
        var host = text.lowercased()
        if host.hasSuffix(".") { host.removeLast() }
        return host
    }

    /// RFC 9110 §15.5.20 / RFC 9113 §9.1.2: a request whose authority is not
    /// the name the TLS connection was made for is answered 421, so a
    /// browser that coalesced connections retries on a fresh one. Without
    /// SNI (an IP literal) there is nothing to compare.
    public static func isMisdirected(authority: String?, serverName: String?) -> Bool {
        guard let serverName, !serverName.isEmpty, let authority, !authority.isEmpty else { return false }
        return hostName(ofAuthority: authority) != hostName(ofAuthority: serverName)
    }

    /// Sum of name and value lengths, the size the 431 limit applies to.
    public static func size(of fields: Fields) -> Int {
        fields.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 4 }
    }
}
