import PortholeWire

/// What is known about a connection when it is routed: the ClientHello's
/// SNI and ALPN, the (PROXY-corrected) source address and the listener.
/// Sniffing records these; `RouteTable.match(_:)` decides from them alone.
public struct ConnectionFacts: Sendable, Hashable {
    public var serverName: String?
    public var offeredALPN: [String]
    /// Distinguishes "no ALPN extension" (agents) from an extension whose
    /// protocols simply match nothing.
    public var alpnExtensionPresent: Bool
    /// nil when unknown (e.g. a Unix-socket peer).
    public var source: IPAddress?
    public var listener: String

    /// `alpnExtensionPresent` defaults to whether anything is offered.
    public init(serverName: String?, offeredALPN: [String] = [], alpnExtensionPresent: Bool? = nil,
                source: IPAddress?, listener: String) {
        self.serverName = serverName
        self.offeredALPN = offeredALPN
        self.alpnExtensionPresent = alpnExtensionPresent ?? !offeredALPN.isEmpty
        self.source = source
        self.listener = listener
    }

    /// An extension that lists no protocol is malformed (RFC 7301 §3.1
    /// requires at least one); treat it like no extension rather than as
    /// a hello that matches no ALPN condition at all.
    var offersNoALPN: Bool { !alpnExtensionPresent || offeredALPN.isEmpty }

    /// One line for logs and `routes explain`.
    public var summary: String {
        let sni = serverName.map { "\"\($0)\"" } ?? "none"
        let alpn = offersNoALPN ? "none" : offeredALPN.joined(separator: ", ")
        let source = self.source.map { $0.unmapped.description } ?? "unknown"
        return "sni \(sni), alpn \(alpn), source \(source), listener \"\(listener)\""
    }
}
