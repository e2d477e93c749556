/// The answers to plain HTTP that reached the TLS port: a 308 to the same
/// URL over https, or a 400 when no safe URL can be built. Each response
/// carries `Connection: close`; the caller writes it and closes, since the
/// port speaks no more plain HTTP than this.
public enum PlainHTTPAnswer {
    /// 308 Permanent Redirect (RFC 9110 section 15.4.9: unlike 301, the
    /// method and body are kept) to `https://<host><path>`, or a 400 when
    /// the request does not name a usable host (see `httpsLocation`).
    ///
    /// - Parameter httpsPort: the public https port from the configuration.
    ///   When given, it replaces any port in the Host header (and is left
    ///   out when it is 443). When `nil` (or not a valid port), the Host
    ///   header's port is kept: the plain request reached the shared port,
    ///   which also speaks TLS.
    public static func redirect(for head: SniffedHTTPRequestHead, httpsPort: Int? = nil) -> [UInt8] {
        let omitBody = head.method == "HEAD"
        guard let location = httpsLocation(for: head, httpsPort: httpsPort) else {
            return badRequest(detail: "the request does not name a valid host", omitBody: omitBody)
        }
        let escaped = HTMLText.escape(location)
        let body = """
            <!DOCTYPE html>
            <html><head><title>308 Permanent Redirect</title></head>
            <body><h1>Permanent Redirect</h1><p>This service is only available over HTTPS: \
            <a href="\(escaped)">\(escaped)</a></p></body></html>

            """
        return response(status: "308 Permanent Redirect", extraHeaders: [("Location", location)],
                        body: body, omitBody: omitBody)
    }

    /// 400 Bad Request with a short page saying why. `omitBody` for HEAD.
    public static func badRequest(
        detail: String = "the request could not be parsed",
        omitBody: Bool = false
    ) -> [UInt8] {
        let body = """
            <!DOCTYPE html>
            <html><head><title>400 Bad Request</title></head>
            <body><h1>Bad Request</h1><p>This port speaks HTTPS; a plain HTTP request was received \
            and \(HTMLText.escape(detail)).</p></body></html>

            """
        return response(status: "400 Bad Request", extraHeaders: [], body: body, omitBody: omitBody)
    }

    /// The https URL for a request, or `nil` when it names no valid host.
    ///
    /// The host comes from the Host header for origin-form targets, and
    /// from the target itself for absolute-form ones (RFC 9112 section 3.2.2
    /// says to ignore Host then). Only DNS-style names and IP literals are
    /// accepted: no spaces, controls, `@`, `/` or `\` that could smuggle a
    /// different authority or header into the Location.
    public static func httpsLocation(for head: SniffedHTTPRequestHead, httpsPort: Int? = nil) -> String? {
        let authority: Substring
        let path: String
        if let schemeEnd = head.target.firstRange(of: "://"),
           ["http", "https"].contains(head.target[..<schemeEnd.lowerBound].lowercased()) {
            let rest = head.target[schemeEnd.upperBound...]
            let pathStart = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
            authority = rest[..<pathStart]
            let remainder = rest[pathStart...]
            path = remainder.hasPrefix("/") ? String(remainder) : "/" + remainder
        } else {
            // origin-form, or "*" (OPTIONS), which we send to the root.
            guard head.target.hasPrefix("/") || head.target == "*" else { return nil }
            // RFC 9112 section 3.2: exactly one Host header, or 400.
            let hosts = head.values(forField: "Host")
            guard hosts.count == 1 else { return nil }
            authority = hosts[0][...]
            path = head.target == "*" ? "/" : head.target
        }
        // The request-line scan already guarantees this for parsed heads;
        // the check keeps hand-built heads from putting CR/LF in a header.
        guard path.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else { return nil }
        guard let (host, hostPort) = splitAuthority(authority) else { return nil }
        let configuredPort = httpsPort.flatMap { (1...65535).contains($0) ? UInt16($0) : nil }
        let port = configuredPort ?? hostPort
        let portSuffix = port.map { $0 == 443 ? "" : ":\($0)" } ?? ""
        return "https://\(host)\(portSuffix)\(path)"
    }

    /// Splits `host[:port]` (RFC 3986 section 3.2.2) and validates both parts.
    private static func splitAuthority(_ authority: Substring) -> (host: String, port: UInt16?)? {
        let hostPart: Substring
        let portPart: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            let literal = authority[authority.index(after: authority.startIndex)..<close]
            guard IPv6Address(literal) != nil else { return nil }
            hostPart = authority[...close]
            let after = authority[authority.index(after: close)...]
            if after.isEmpty {
                portPart = nil
            } else {
                guard after.first == ":" else { return nil }
                portPart = after.dropFirst()
            }
        } else if let colon = authority.firstIndex(of: ":") {
            hostPart = authority[..<colon]
            portPart = authority[authority.index(after: colon)...]
        } else {
            hostPart = authority
            portPart = nil
        }
        guard !hostPart.isEmpty, hostPart.utf8.count <= 255 else { return nil }
        if !hostPart.hasPrefix("[") {
            // reg-name restricted to what DNS names and IPv4 literals use.
            let allowed = hostPart.utf8.allSatisfy { byte in
                SniffASCII.isDigit(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
                    || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_")
            }
            guard allowed else { return nil }
        }
        // An empty port ("host:") is allowed by RFC 3986 and means "none".
        var port: UInt16?
        if let portPart, !portPart.isEmpty {
            guard portPart.utf8.count <= 5, portPart.utf8.allSatisfy(SniffASCII.isDigit),
                  let value = UInt16(portPart), value > 0
            else { return nil }
            port = value
        }
        return (String(hostPart), port)
    }

    private static func response(
        status: String,
        extraHeaders: [(String, String)],
        body: String,
        omitBody: Bool
    ) -> [UInt8] {
        let bodyBytes = Array(body.utf8)
        var head = "HTTP/1.1 \(status)\r\n"
        for (name, value) in extraHeaders { head += "\(name): \(value)\r\n" }
        head += "Content-Type: text/html; charset=utf-8\r\n"
        // A HEAD answer announces the length it would have sent (RFC 9110
        // section 9.3.2) but carries no body.
        head += "Content-Length: \(bodyBytes.count)\r\n"
        head += "Connection: close\r\n\r\n"
        return Array(head.utf8) + (omitBody ? [] : bodyBytes)
    }
}
