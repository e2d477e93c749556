@testable import PortholePortal
import Testing

/// The pure header rules of the reverse proxy.
@Suite struct PortalHeaderTests {
    @Test func hopByHopFields_andThoseNamedByConnection_areRemoved() {
        let fields = ProxyHeaders.removingHopByHop([
            ("Connection", "keep-alive, X-Secret"), ("Keep-Alive", "timeout=5"), ("X-Secret", "1"), ("TE", "trailers"),
            ("Transfer-Encoding", "chunked"), ("Upgrade", "h2c"), ("Accept", "*/*"),
        ])
        #expect(fields.map(\.name) == ["Accept"])
    }

    @Test func connectionTokens_trimSpacesAndTabs_skipEmptyElements_ignoreCase() {
        #expect(ProxyHeaders.tokens(" Keep-Alive ,\tX-Secret\t,, ,close") == ["keep-alive", "x-secret", "close"])
        let fields = ProxyHeaders.removingHopByHop([("connection", "\tX-A ,x-b"), ("X-a", "1"), ("X-B", "2"), ("X-C", "3")])
        #expect(fields.map(\.name) == ["X-C"])
        let untouched: ProxyHeaders.Fields = [("Accept", "*/*"), ("Host", "p.example")]
        #expect(ProxyHeaders.removingHopByHop(untouched).map(\.name) == ["Accept", "Host"])
    }

    @Test func upstreamRequest_setsHostAndForwardingFields_andJoinsCookies() {
        let fields = ProxyHeaders.upstreamRequest(
            [("host", "evil.example"), ("cookie", "a=1"), ("cookie", "b=2"), ("x-forwarded-for", "198.51.100.1"),
             ("x-forwarded-proto", "http"), ("accept", "text/html")],
            authority: "portal.example", clientAddress: "[2001:db8::7]:51000", upgrade: false)
        func value(_ name: String) -> [String] { fields.filter { $0.name.lowercased() == name }.map(\.value) }
        #expect(value("host") == ["portal.example"])
        #expect(value("cookie") == ["a=1; b=2"])
        #expect(value("x-forwarded-for") == ["198.51.100.1, 2001:db8::7"])
        #expect(value("x-forwarded-proto") == ["https"])
        #expect(value("x-forwarded-host") == ["portal.example"])
        #expect(value("forwarded") == ["for=\"[2001:db8::7]\";proto=https;host=portal.example"])
        #expect(value("accept") == ["text/html"])
    }

    @Test func upgradeRequest_keepsTheUpgradePair() {
        let request: ProxyHeaders.Fields = [("Connection", "Upgrade"), ("Upgrade", "websocket"), ("Sec-WebSocket-Key", "k")]
        #expect(ProxyHeaders.isUpgradeRequest(request))
        let fields = ProxyHeaders.upstreamRequest(request, authority: "p.example", clientAddress: "192.0.2.1:1", upgrade: true)
        #expect(fields.contains { $0.name == "Upgrade" && $0.value == "websocket" })
        #expect(fields.contains { $0.name == "Connection" && $0.value == "Upgrade" })
        #expect(!ProxyHeaders.isUpgradeRequest([("Upgrade", "websocket")]))
    }

    @Test func misdirected_comparesHostWithoutPortAgainstSNI() {
        #expect(!ProxyHeaders.isMisdirected(authority: "Portal.Example:443", serverName: "portal.example"))
        #expect(ProxyHeaders.isMisdirected(authority: "other.example", serverName: "portal.example"))
        #expect(!ProxyHeaders.isMisdirected(authority: "127.0.0.1:8443", serverName: nil))
        #expect(ProxyHeaders.hostName(ofAuthority: "[::1]:8443") == "::1")
    }

    @Test func clientIP_stripsThePort() {
        #expect(ProxyHeaders.clientIP(from: "203.0.113.7:51234") == "203.0.113.7")
        #expect(ProxyHeaders.clientIP(from: "[2001:db8::1]:443") == "2001:db8::1")
    }
}
