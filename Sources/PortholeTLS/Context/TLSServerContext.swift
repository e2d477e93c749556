import COpenSSL

/// One configured `SSL_CTX`, shared by every connection of a listener.
///
/// Configured once in `init` and only read afterwards (OpenSSL allows
/// concurrent `SSL_new` on a context that is no longer being modified), hence
/// `@unchecked Sendable`. The certificate is not fixed on the context: it is
/// chosen per connection in the ClientHello callback, where SNI and the
/// offered ALPN are known (see `TLSServerConnection.handleClientHello`).
public final class TLSServerContext: @unchecked Sendable {
    let sslContext: OpaquePointer
    let configuration: TLSServerConfiguration
    /// Prepared per-certificate material, index-aligned with
    /// `configuration.certificates`.
    let certificates: [PreparedCertificate]

    /// `X509*`/`EVP_PKEY*` plus the chain as a `STACK_OF(X509)`, built once so
    /// that selecting a certificate per connection costs one call.
    final class PreparedCertificate: @unchecked Sendable {
        let entry: TLSCertificateEntry
        let chainStack: OpaquePointer

        init(entry: TLSCertificateEntry) {
            self.entry = entry
            let stack = porthole_sk_X509_new_null()!
            for certificate in entry.identity.intermediates {
                _ = porthole_sk_X509_push(stack, certificate.x509)
            }
            self.chainStack = stack
        }

        deinit {
            // The stack holds borrowed pointers (no up-ref on push); the
            // certificates themselves are owned by `entry.identity`.
            porthole_sk_X509_free(chainStack)
        }
    }

    public init(configuration: TLSServerConfiguration) throws(TLSConfigurationError) {
        guard !configuration.certificates.isEmpty else { throw .noCertificate }
        guard configuration.minimumVersion <= configuration.maximumVersion else {
            throw .invalidVersionRange(configuration.minimumVersion, configuration.maximumVersion)
        }
        guard let ctx = SSL_CTX_new(TLS_server_method()) else {
            throw .openSSL("SSL_CTX_new", OpenSSLError.drain(operation: "SSL_CTX_new").description)
        }
        self.sslContext = ctx
        self.configuration = configuration
        self.certificates = configuration.certificates.map(PreparedCertificate.init)

        // From here on `self` owns ctx, so deinit frees it on any throw.
        var options = porthole_SSL_OP_NO_SSLv3 | porthole_SSL_OP_NO_COMPRESSION
            | porthole_SSL_OP_NO_RENEGOTIATION | porthole_SSL_OP_CIPHER_SERVER_PREFERENCE
        if !configuration.sessionTickets { options |= porthole_SSL_OP_NO_TICKET }
        SSL_CTX_set_options(ctx, options)
        // Idle connections are the common case (agents wait 30 s between
        // messages): let OpenSSL free its record buffers while idle.
        _ = porthole_SSL_CTX_set_mode(ctx, Int(SSL_MODE_RELEASE_BUFFERS))

        if configuration.minimumVersion < .tls1_2 {
            // OpenSSL 3's default security level 1 forbids the SHA-1 MACs that
            // TLS 1.0/1.1 need; the operator asked for legacy agents.
            SSL_CTX_set_security_level(ctx, 0)
        }
        try TLSMemorySession.setProtocolVersions(ctx, minimum: configuration.minimumVersion, maximum: configuration.maximumVersion)
        var cipherList = configuration.cipherList
        if configuration.minimumVersion < .tls1_2 { cipherList += ":" + TLSServerConfiguration.legacyCipherList }
        guard SSL_CTX_set_cipher_list(ctx, cipherList) == 1 else {
            throw .invalidSetting("ciphers", cipherList, OpenSSLError.drain(operation: "SSL_CTX_set_cipher_list").description)
        }
        guard SSL_CTX_set_ciphersuites(ctx, configuration.cipherSuites) == 1 else {
            throw .invalidSetting("ciphersuites", configuration.cipherSuites, OpenSSLError.drain(operation: "SSL_CTX_set_ciphersuites").description)
        }
        let groups = configuration.groups.joined(separator: ":")
        guard porthole_SSL_CTX_set1_groups_list(ctx, groups) == 1 else {
            throw .invalidSetting("groups", groups, OpenSSLError.drain(operation: "SSL_CTX_set1_groups_list").description)
        }

        // Resumption: tickets are stateless; the session id context must be
        // set or OpenSSL refuses to resume sessions that used client
        // certificates ("session id context uninitialized").
        let sessionContext: [UInt8] = Array("porthole".utf8)
        _ = SSL_CTX_set_session_id_context(ctx, sessionContext, UInt32(sessionContext.count))
        _ = porthole_SSL_CTX_set_session_cache_mode(ctx, Int(SSL_SESS_CACHE_SERVER))
        _ = porthole_SSL_CTX_sess_set_cache_size(ctx, 20_000)

        // The default certificate on the context makes OpenSSL's own checks
        // (e.g. cipher/key compatibility) see a certificate; the ClientHello
        // callback replaces it per connection.
        let fallback = configuration.certificates[0].identity
        guard SSL_CTX_use_certificate(ctx, fallback.leaf.x509) == 1,
              SSL_CTX_use_PrivateKey(ctx, fallback.privateKey.evpPKey) == 1 else {
            throw .openSSL("default certificate", OpenSSLError.drain(operation: "SSL_CTX_use_certificate").description)
        }

        SSL_CTX_set_client_hello_cb(ctx, { ssl, alert, _ in
            guard let ssl, let connection = TLSServerConnection.from(ssl: ssl) else { return SSL_CLIENT_HELLO_ERROR }
            return connection.handleClientHello(alert: alert)
        }, nil)
        SSL_CTX_set_alpn_select_cb(ctx, { ssl, out, outLength, offered, offeredLength, _ in
            guard let ssl, let connection = TLSServerConnection.from(ssl: ssl) else { return SSL_TLSEXT_ERR_NOACK }
            return connection.selectALPN(out: out, outLength: outLength, offered: offered, offeredLength: offeredLength)
        }, nil)
    }

    deinit {
        SSL_CTX_free(sslContext)
    }

    /// Index of the certificate to present for a connection.
    func certificateIndex(serverName: String?, forcedName: String?) -> Int {
        if let forcedName, let index = configuration.certificates.firstIndex(where: { $0.name == forcedName }) {
            return index
        }
        return ServerNameMatcher.select(serverName: serverName, among: configuration.certificates.map(\.serverNames))
    }
}

/// A context that could not be built; the message says which setting to fix.
public enum TLSConfigurationError: Error, CustomStringConvertible, Equatable {
    case noCertificate
    case invalidVersionRange(TLSProtocolVersion, TLSProtocolVersion)
    case invalidSetting(String, String, String)
    case openSSL(String, String)

    public var description: String {
        switch self {
        case .noCertificate:
            return "TLS: no certificate configured (add a [[certificate]] section, or let Porthole generate one in the state directory)"
        case .invalidVersionRange(let min, let max):
            return "TLS: minimum version \(min.rawValue) is above maximum version \(max.rawValue)"
        case .invalidSetting(let key, let value, let detail):
            return "TLS: [tls].\(key) = \"\(value)\" was rejected by OpenSSL (\(detail)); check the spelling against `openssl ciphers -v` / `openssl list -tls-groups`"
        case .openSSL(let step, let detail):
            return "TLS: \(step) failed: \(detail)"
        }
    }
}
