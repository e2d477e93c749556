import COpenSSL

/// Settings of a client context: what a polling agent presents and offers.
public struct TLSClientConfiguration: Sendable {
    /// The client certificate (agents always send theirs, halibut.md §1).
    public var identity: CertificateIdentity
    /// Agents of 2017–2024 speak up to TLS 1.2, newer ones 1.3 (§1).
    public var minimumVersion: TLSProtocolVersion = .tls1_2
    public var maximumVersion: TLSProtocolVersion = .tls1_3

    public init(identity: CertificateIdentity) {
        self.identity = identity
    }
}

/// One `SSL_CTX` for outgoing connections, shared by every connection of an
/// agent process. It presents the client certificate, offers no ALPN (as
/// real agents do, halibut.md §1) and replaces chain verification with the
/// per-connection thumbprint pin (`TLSClientConnection`).
///
/// Configured once in `init` and only read afterwards, hence
/// `@unchecked Sendable` (as `TLSServerContext`).
public final class TLSClientContext: @unchecked Sendable {
    let sslContext: OpaquePointer
    public let configuration: TLSClientConfiguration

    public init(configuration: TLSClientConfiguration) throws(TLSConfigurationError) {
        guard let ctx = SSL_CTX_new(TLS_client_method()) else {
            throw .openSSL("SSL_CTX_new", OpenSSLError.drain(operation: "SSL_CTX_new").description)
        }
        self.sslContext = ctx
        self.configuration = configuration

        SSL_CTX_set_options(ctx, porthole_SSL_OP_NO_SSLv3 | porthole_SSL_OP_NO_COMPRESSION | porthole_SSL_OP_NO_RENEGOTIATION)
        _ = porthole_SSL_CTX_set_mode(ctx, Int(SSL_MODE_RELEASE_BUFFERS))
        try TLSMemorySession.setProtocolVersions(ctx, minimum: configuration.minimumVersion, maximum: configuration.maximumVersion)
        let identity = configuration.identity
        guard SSL_CTX_use_certificate(ctx, identity.leaf.x509) == 1,
              SSL_CTX_use_PrivateKey(ctx, identity.privateKey.evpPKey) == 1,
              SSL_CTX_check_private_key(ctx) == 1 else {
            throw .openSSL("client certificate", OpenSSLError.drain(operation: "SSL_CTX_use_certificate").description)
        }
        for certificate in identity.intermediates {
            _ = porthole_SSL_CTX_add1_chain_cert(ctx, certificate.x509)
        }
        // Nobody checks chains, dates or names; the server is known by its
        // thumbprint alone (halibut.md §1). The callback replaces OpenSSL's
        // whole chain verification; returning 0 aborts the handshake.
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nil)
        SSL_CTX_set_cert_verify_callback(ctx, { storeContext, _ in
            guard let storeContext,
                  let sslPointer = X509_STORE_CTX_get_ex_data(storeContext, SSL_get_ex_data_X509_STORE_CTX_idx()),
                  let connection = TLSMemorySession.appData(of: OpaquePointer(sslPointer), as: TLSClientConnection.self)
            else { return 0 }
            return connection.verifyServerCertificate(X509_STORE_CTX_get0_cert(storeContext)) ? 1 : 0
        }, nil)
    }

    deinit {
        SSL_CTX_free(sslContext)
    }
}
