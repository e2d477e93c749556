import COpenSSL
import Foundation

/// What a client connection needs beyond its context: where it connects and
/// which server it trusts.
public struct TLSClientConnectionOptions: Sendable {
    /// The host of the configured server address; sent as SNI unless it is
    /// an IP literal (halibut.md §1).
    public var serverHost: String
    /// The only server certificate thumbprint accepted (SHA-1 over the DER,
    /// compared case-insensitively). A mismatch aborts the handshake, as
    /// real agents do.
    public var pinnedServerThumbprint: String

    public init(serverHost: String, pinnedServerThumbprint: String) {
        self.serverHost = serverHost
        self.pinnedServerThumbprint = pinnedServerThumbprint
    }

    /// SNI is a host name, never an address (RFC 6066 §3).
    var serverNameIndication: String? {
        var v4 = in_addr()
        var v6 = in6_addr()
        let host = serverHost.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        if host.isEmpty || inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1 { return nil }
        return host
    }
}

/// The client side of one TLS session: SNI and the pinned server thumbprint
/// on top of a `TLSMemorySession`.
final class TLSClientConnection: TLSRoleConnection {
    let session: TLSMemorySession
    private let context: TLSClientContext
    private let options: TLSClientConnectionOptions
    /// The thumbprint the server presented, once seen (for the error text).
    private(set) var observedServerThumbprint: String?
    private(set) var thumbprintMismatch = false

    var initiatesHandshake: Bool { true }
    var peerRoleName: String { "server" }

    init(context: TLSClientContext, options: TLSClientConnectionOptions) throws(TLSConfigurationError) {
        let session = try TLSMemorySession(sslContext: context.sslContext, role: .client)
        if let name = options.serverNameIndication {
            guard porthole_SSL_set_tlsext_host_name(session.ssl, name) == 1 else {
                throw .invalidSetting("server name", name, OpenSSLError.drain(operation: "SSL_set_tlsext_host_name").description)
            }
        }
        self.session = session
        self.context = context
        self.options = options
        session.setAppData(self)
    }

    /// Called from the context's verify callback, inside the handshake.
    func verifyServerCertificate(_ leaf: OpaquePointer?) -> Bool {
        guard let leaf, let der = TLSMemorySession.derBytes(of: leaf) else { return false }
        let thumbprint = Thumbprint.compute(der: der)
        observedServerThumbprint = thumbprint
        let matches = Thumbprint.matches(thumbprint, options.pinnedServerThumbprint)
        thumbprintMismatch = !matches
        return matches
    }

    func refineHandshakeFailure(_ error: TLSHandshakeError) -> TLSHandshakeError {
        guard thumbprintMismatch else { return error }
        return TLSHandshakeError(
            kind: .protocolError, reason: "server_thumbprint_mismatch",
            detail: "the server presented certificate thumbprint \(observedServerThumbprint ?? "?"), but "
                + "\(options.pinnedServerThumbprint.uppercased()) is pinned; check --server-thumbprint "
                + "(`porthole thumbprint <server cert>` prints it)")
    }

    var sessionInfo: TLSSessionInfo {
        // Agents always present their certificate when asked (§1).
        session.sessionInfo(serverName: options.serverNameIndication, clientOfferedALPN: false, certificateRequested: true,
                            serverCertificateName: "")
    }
}
