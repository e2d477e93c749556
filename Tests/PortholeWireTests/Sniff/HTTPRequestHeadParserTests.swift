import Foundation
import PortholeWire
import Testing

@Suite("HTTPRequestHeadParser")
struct HTTPRequestHeadParserTests {
    func head(_ text: String) -> SniffedHTTPRequestHead? {
        if case .complete(let head) = HTTPRequestHeadParser.parse(Array(text.utf8)) { return head }
        return nil
    }

    @Test
    func crlfHead_givesRequestLineAndFields() throws {
        let text = "GET /a/b?c=d HTTP/1.1\r\nHost: example.com\r\nUser-Agent:  curl/8.0 \r\nAccept: */*\r\n\r\n"
        let body = Array("ignored body".utf8)
        guard case .complete(let head) = HTTPRequestHeadParser.parse(Array(text.utf8) + body) else {
            Issue.record("did not parse")
            return
        }
        #expect(head.byteCount == text.utf8.count)
        #expect(head.method == "GET")
        #expect(head.target == "/a/b?c=d")
        #expect(head.path == "/a/b")
        #expect(head.version == "HTTP/1.1")
        #expect(head.fields.count == 3)
        #expect(head.value(forField: "host") == "example.com")
        #expect(head.value(forField: "USER-AGENT") == "curl/8.0")
        #expect(head.value(forField: "Missing") == nil)
    }

    @Test
    func bareLFHead_isAccepted() throws {
        let parsed = try #require(head("GET / HTTP/1.0\nHost: a\nX: 1\nX: 2\n\n"))
        #expect(parsed.values(forField: "x") == ["1", "2"])
        #expect(parsed.version == "HTTP/1.0")
    }

    @Test
    func everyPrefix_needsMoreData() {
        let bytes = Array("POST /form HTTP/1.1\r\nHost: example.com\r\nContent-Length: 3\r\n\r\n".utf8)
        for end in 0..<bytes.count {
            #expect(HTTPRequestHeadParser.parse(bytes[..<end]) == .needMoreData, "prefix \(end)")
        }
    }

    @Test
    func headWithoutEndWithinBound_isTooLarge() {
        let endless = Array("GET / HTTP/1.1\r\n".utf8) + Array(repeating: UInt8(ascii: "a"), count: 20_000)
        #expect(HTTPRequestHeadParser.parse(endless) == .tooLarge)
        let small = Array("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n".utf8)
        #expect(HTTPRequestHeadParser.parse(small, maxBytes: 20) == .tooLarge)
        #expect(HTTPRequestHeadParser.parse(small[..<19], maxBytes: 20) == .needMoreData)
        guard case .complete = HTTPRequestHeadParser.parse(small, maxBytes: small.count) else {
            Issue.record("a head of exactly the bound should parse")
            return
        }
    }

    @Test(arguments: [
        ("GET  / HTTP/1.1\r\n\r\n", HTTPRequestHeadParser.Malformation.invalidRequestLine),
        ("GET / HTTX/1.1\r\n\r\n", .invalidRequestLine),
        ("GET /\r\n\r\n", .invalidRequestLine),
        ("GET / HTTP/1.1\rX\n\r\n", .invalidRequestLine),
        (" GET / HTTP/1.1\r\n\r\n", .invalidRequestLine),
        ("GET / HTTP/1.1\r\nBad Header\r\n\r\n", .invalidHeaderLine(number: 2)),
        ("GET / HTTP/1.1\r\nHost : x\r\n\r\n", .invalidHeaderLine(number: 2)),
        ("GET / HTTP/1.1\r\n: x\r\n\r\n", .invalidHeaderLine(number: 2)),
        ("GET / HTTP/1.1\r\nA: 1\r\nB: x\u{0}y\r\n\r\n", .invalidHeaderLine(number: 3)),
        ("GET / HTTP/1.1\r\nA: x\ry\r\n\r\n", .invalidHeaderLine(number: 2)),
        ("GET / HTTP/1.1\r\nA: 1\r\n folded\r\n\r\n", .obsoleteLineFolding(number: 3)),
    ])
    func malformedHead_isRejected(text: String, reason: HTTPRequestHeadParser.Malformation) {
        #expect(HTTPRequestHeadParser.parse(Array(text.utf8)) == .malformed(reason))
    }

    @Test
    func malformedLine_isReportedBeforeTheHeadEnds() {
        #expect(HTTPRequestHeadParser.parse(Array("GET / HTTP/1.1\r\nno colon\r\n".utf8))
            == .malformed(.invalidHeaderLine(number: 2)))
    }
}

@Suite("PlainHTTPAnswer")
struct PlainHTTPAnswerTests {
    struct ParseFailure: Error {}

    func request(_ text: String) throws -> SniffedHTTPRequestHead {
        guard case .complete(let head) = HTTPRequestHeadParser.parse(Array(text.utf8)) else { throw ParseFailure() }
        return head
    }

    /// Splits a response into its head lines and body.
    func split(_ bytes: [UInt8]) -> (lines: [String], body: String) {
        let text = String(decoding: bytes, as: UTF8.self)
        let parts = text.components(separatedBy: "\r\n\r\n")
        return (parts[0].components(separatedBy: "\r\n"), parts.dropFirst().joined(separator: "\r\n\r\n"))
    }

    @Test
    func redirect_isA308ToTheSamePathOverHTTPS() throws {
        let response = PlainHTTPAnswer.redirect(for: try request("GET /a/b?c=d HTTP/1.1\r\nHost: example.com\r\n\r\n"))
        let (lines, body) = split(response)
        #expect(lines == [
            "HTTP/1.1 308 Permanent Redirect",
            "Location: https://example.com/a/b?c=d",
            "Content-Type: text/html; charset=utf-8",
            "Content-Length: \(body.utf8.count)",
            "Connection: close",
        ])
        #expect(body.contains("<a href=\"https://example.com/a/b?c=d\">"))
    }

    @Test(arguments: [
        ("example.com:8443", nil, "https://example.com:8443/x"),
        ("example.com:8443", 443, "https://example.com/x"),
        ("example.com:80", 9443, "https://example.com:9443/x"),
        ("example.com", 9443, "https://example.com:9443/x"),
        ("example.com:443", nil, "https://example.com/x"),
        ("example.com:", nil, "https://example.com/x"),
        ("example.com:8443", 70_000, "https://example.com:8443/x"),
        ("[2001:db8::1]:80", 443, "https://[2001:db8::1]/x"),
        ("[::1]", nil, "https://[::1]/x"),
        ("192.0.2.7:8080", 443, "https://192.0.2.7/x"),
    ] as [(String, Int?, String)])
    func redirectPort_followsConfigOrHostHeader(host: String, httpsPort: Int?, location: String) throws {
        let head = try request("GET /x HTTP/1.1\r\nHost: \(host)\r\n\r\n")
        #expect(PlainHTTPAnswer.httpsLocation(for: head, httpsPort: httpsPort) == location)
        #expect(split(PlainHTTPAnswer.redirect(for: head, httpsPort: httpsPort)).lines.contains("Location: \(location)"))
    }

    @Test
    func absoluteFormTarget_usesItsAuthorityNotHost() throws {
        let head = try request("GET http://Other.Example:80/p?q HTTP/1.1\r\nHost: ignored.example\r\n\r\n")
        #expect(PlainHTTPAnswer.httpsLocation(for: head, httpsPort: 443) == "https://Other.Example/p?q")
        let bare = try request("GET http://other.example HTTP/1.1\r\n\r\n")
        #expect(PlainHTTPAnswer.httpsLocation(for: bare) == "https://other.example/")
    }

    @Test
    func asteriskTarget_redirectsToRoot() throws {
        let head = try request("OPTIONS * HTTP/1.1\r\nHost: example.com\r\n\r\n")
        #expect(PlainHTTPAnswer.httpsLocation(for: head) == "https://example.com/")
    }

    @Test(arguments: [
        "GET / HTTP/1.1\r\nHost: exa mple.com\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: evil.example/x\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: user@evil.example\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: evil.example\\good\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: \r\n\r\n",
        "GET / HTTP/1.1\r\nHost: example.com:99999\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: example.com:0\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: [not-v6]\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n",
        "GET / HTTP/1.0\r\n\r\n",
        "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n",
        "GET ftp://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n",
    ])
    func unusableHost_gives400(text: String) throws {
        let head = try request(text)
        #expect(PlainHTTPAnswer.httpsLocation(for: head) == nil)
        let (lines, _) = split(PlainHTTPAnswer.redirect(for: head))
        #expect(lines.first == "HTTP/1.1 400 Bad Request")
        #expect(!lines.contains { $0.hasPrefix("Location:") })
    }

    @Test
    func handBuiltHeadWithCRLFInHostOrPath_gives400() {
        let head = SniffedHTTPRequestHead(
            method: "GET", target: "/", version: "HTTP/1.1",
            fields: [.init(name: "Host", value: "example.com\r\nSet-Cookie: a=b")])
        #expect(split(PlainHTTPAnswer.redirect(for: head)).lines.first == "HTTP/1.1 400 Bad Request")
        let badPath = SniffedHTTPRequestHead(
            method: "GET", target: "/a\r\nX: y", version: "HTTP/1.1",
            fields: [.init(name: "Host", value: "example.com")])
        #expect(PlainHTTPAnswer.httpsLocation(for: badPath) == nil)
    }

    @Test
    func headRequest_getsNoBodyButItsLength() throws {
        let response = PlainHTTPAnswer.redirect(for: try request("HEAD / HTTP/1.1\r\nHost: example.com\r\n\r\n"))
        let (lines, body) = split(response)
        #expect(body.isEmpty)
        let full = PlainHTTPAnswer.redirect(for: try request("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"))
        #expect(lines.contains("Content-Length: \(split(full).body.utf8.count)"))
    }

    @Test
    func redirectBody_escapesTheURL() throws {
        let response = PlainHTTPAnswer.redirect(
            for: try request("GET /<script>alert(\"x\")</script> HTTP/1.1\r\nHost: example.com\r\n\r\n"))
        let body = split(response).body
        #expect(!body.contains("<script>"))
        #expect(body.contains("&lt;script&gt;alert(&quot;x&quot;)"))
    }

    @Test
    func badRequest_hasCloseLengthAndEscapedDetail() {
        let (lines, body) = split(PlainHTTPAnswer.badRequest(detail: "the <request> was odd"))
        #expect(lines == [
            "HTTP/1.1 400 Bad Request",
            "Content-Type: text/html; charset=utf-8",
            "Content-Length: \(body.utf8.count)",
            "Connection: close",
        ])
        #expect(body.contains("the &lt;request&gt; was odd"))
        #expect(body.hasPrefix("<!DOCTYPE html>"))
        #expect(split(PlainHTTPAnswer.badRequest()).body.contains("could not be parsed"))
    }
}
