/// One end of a proxied connection as a PROXY header states it.
///
/// `host` is textual: dotted IPv4, RFC 5952 IPv6 (no brackets), or, for
/// AF_UNIX in v2, the socket path (with `port` 0).
public struct ProxyEndpoint: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: UInt16

    public init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }

    public var description: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}

/// A parsed PROXY protocol header (haproxy's proxy-protocol.txt).
public struct ProxyHeader: Sendable, Hashable {
    public enum Version: Sendable, Hashable {
        case v1
        case v2
    }

    public enum Command: Sendable, Hashable {
        /// A relayed connection: the endpoints below are the real client's.
        case proxy
        /// v2 LOCAL (section 2.2): the proxy's own connection (a health
        /// check); use the socket's real endpoints.
        case local
    }

    public enum Transport: Sendable, Hashable {
        case tcp4
        case tcp6
        case udp4
        case udp6
        case unixStream
        case unixDatagram
        /// v1 `UNKNOWN`, v2 AF_UNSPEC, or a LOCAL header.
        case unspecified
    }

    public var version: Version
    public var command: Command
    public var transport: Transport
    /// `nil` for LOCAL, v1 UNKNOWN and v2 AF_UNSPEC: the receiver must then
    /// use the connection's own addresses (sections 2.1 and 2.2).
    public var source: ProxyEndpoint?
    public var destination: ProxyEndpoint?

    public init(
        version: Version,
        command: Command,
        transport: Transport,
        source: ProxyEndpoint?,
        destination: ProxyEndpoint?
    ) {
        self.version = version
        self.command = command
        self.transport = transport
        self.source = source
        self.destination = destination
    }
}
