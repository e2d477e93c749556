import COpenSSL

/// What a PFX holds, as Porthole objects.
struct PKCS12Contents {
    var privateKey: PrivateKey?
    /// The certificate that goes with the key (PKCS12_parse matches them by
    /// localKeyID), if any.
    var leaf: X509Certificate?
    /// The other certificates: normally the issuing chain, in no promised order.
    var others: [X509Certificate]
}

/// Reads PKCS#12 (PFX) files, distinguishing a wrong password from a broken
/// file and from encryption that needs OpenSSL's legacy provider.
enum PKCS12Reader {
    static func isPKCS12(_ bytes: [UInt8]) -> Bool {
        guard let p12 = decode(bytes) else {
            OpenSSLError.clearQueue()
            return false
        }
        PKCS12_free(p12)
        return true
    }

    static func read(_ bytes: [UInt8], password: String, file: CertificateFile) throws -> PKCS12Contents {
        guard let p12 = decode(bytes) else {
            let error = OpenSSLError.drain(operation: "d2i_PKCS12")
            if PEMDocument.containsPEM(bytes) {
                throw CertificateError.malformed(file, detail: "this is a PEM file; configure it as a certificate (and key) file, not as pfx")
            }
            throw CertificateError.malformed(file, detail: "not DER-encoded PKCS#12: \(error)")
        }
        defer { PKCS12_free(p12) }

        let effectivePassword = try verifiedPassword(p12, password: password, file: file)

        if let contents = try parse(p12, password: effectivePassword) {
            return contents
        }
        let failure = OpenSSLError.drain(operation: "PKCS12_parse")
        guard failure.isUnsupportedAlgorithm else {
            throw CertificateError.malformed(file, detail: failure.description)
        }

        // RC2-40 and 3DES, which Windows used by default for PFX export until
        // Server 2019, live in OpenSSL 3's legacy provider. Load it into a
        // private library context used only for this parse, rather than into
        // the process-wide default: that keeps RC2/DES/MD4 unavailable to
        // everything else, TLS contexts included.
        let legacy: LegacyProviderContext
        switch LegacyProviderContext.shared {
        case .success(let context): legacy = context
        case .failure(let unavailable):
            throw CertificateError.legacyProviderUnavailable(file, detail: unavailable.detail)
        }
        let legacyContents = try legacy.withThreadDefault { () throws -> PKCS12Contents? in
            try parse(p12, password: effectivePassword)
        }
        guard let legacyContents else {
            throw CertificateError.malformed(file, detail: OpenSSLError.drain(operation: "PKCS12_parse (with the legacy provider)").description)
        }
        // The objects were made inside the private context; re-create them in
        // the default one so the TLS code never meets a key whose provider
        // lives elsewhere.
        return try PKCS12Contents(
            privateKey: legacyContents.privateKey.map { try PrivateKey(der: $0.der, file: file) },
            leaf: legacyContents.leaf.map { try X509Certificate(der: $0.der, file: file) },
            others: legacyContents.others.map { try X509Certificate(der: $0.der, file: file) })
    }

    private static func decode(_ bytes: [UInt8]) -> OpaquePointer? {
        bytes.withUnsafeBufferPointer { buffer in
            var cursor = buffer.baseAddress
            return d2i_PKCS12(nil, &cursor, buffer.count)
        }
    }

    /// Checks the password against the PFX's integrity MAC before touching the
    /// encrypted parts, because the MAC is the one place a wrong password is
    /// distinguishable from damage. Returns the password to use: an empty
    /// one may have been written as "no password" (NULL) or as "", and
    /// Windows and OpenSSL disagree on which, so both are tried.
    private static func verifiedPassword(_ p12: OpaquePointer, password: String, file: CertificateFile) throws -> String? {
        guard PKCS12_mac_present(p12) == 1 else {
            // No MAC (rare; some Java keystores): nothing to check against.
            return password
        }
        let candidates: [String?] = password.isEmpty ? [nil, ""] : [password]
        for candidate in candidates {
            let verified: Int32
            if let candidate {
                verified = PKCS12_verify_mac(p12, candidate, Int32(candidate.utf8.count))
            } else {
                verified = PKCS12_verify_mac(p12, nil, 0)
            }
            if verified == 1 { return candidate }
        }
        // A mismatch queues no error; anything queued means the MAC could not
        // even be computed, which is a damaged or unsupported file.
        let error = OpenSSLError.drain(operation: "PKCS12_verify_mac")
        if error.entries.isEmpty {
            throw CertificateError.wrongPassword(file)
        }
        throw CertificateError.malformed(file, detail: error.description)
    }

    /// Runs PKCS12_parse; nil with the error queue left for the caller on failure.
    private static func parse(_ p12: OpaquePointer, password: String?) throws -> PKCS12Contents? {
        var key: OpaquePointer?
        var certificate: OpaquePointer?
        var others: OpaquePointer?
        // PKCS12_parse either fills the outputs (which we then own) or leaves
        // them NULL, having freed anything it allocated.
        let ok = PKCS12_parse(p12, password, &key, &certificate, &others)
        guard ok == 1 else { return nil }
        defer {
            EVP_PKEY_free(key)
            X509_free(certificate)
            if let others { porthole_certs_x509_stack_free_all(others) }
        }
        let file = CertificateFile(.pfx, "(PFX)")
        var contents = PKCS12Contents(
            privateKey: key.map { PrivateKey(retaining: $0) },
            leaf: try certificate.map { try X509Certificate(retaining: $0, file: file) },
            others: [])
        if let others {
            for index in 0..<porthole_certs_x509_stack_count(others) {
                if let other = porthole_certs_x509_stack_value(others, index) {
                    contents.others.append(try X509Certificate(retaining: other, file: file))
                }
            }
        }
        return contents
    }
}

/// A private OpenSSL library context with the "default" and "legacy"
/// providers, created on first use and kept for the life of the process
/// (providers are not meant to be unloaded while objects made with them may
/// exist). The process is its owner; it is never freed.
final class LegacyProviderContext: @unchecked Sendable {
    struct Unavailable: Error {
        let detail: String
    }

    /// Created once, thread-safely (Swift initializes globals and static lets
    /// with swift_once).
    static let shared: Result<LegacyProviderContext, Unavailable> = {
        guard let context = OSSL_LIB_CTX_new() else {
            return .failure(Unavailable(detail: OpenSSLError.drain(operation: "OSSL_LIB_CTX_new").description))
        }
        // Loading any provider explicitly turns off the implicit loading of
        // "default", so it is loaded by hand too: legacy only adds old
        // ciphers, while PBKDF, SHA-1 HMAC and the key types come from default.
        guard OSSL_PROVIDER_load(context, "default") != nil else {
            return .failure(Unavailable(detail: OpenSSLError.drain(operation: "OSSL_PROVIDER_load(default)").description))
        }
        guard OSSL_PROVIDER_load(context, "legacy") != nil else {
            return .failure(Unavailable(detail: OpenSSLError.drain(operation: "OSSL_PROVIDER_load(legacy)").description))
        }
        return .success(LegacyProviderContext(context))
    }()

    private let context: OpaquePointer

    private init(_ context: OpaquePointer) {
        self.context = context
    }

    /// Runs `body` with this context as the calling thread's default, so
    /// OpenSSL functions without a library-context parameter (PKCS12_parse)
    /// fetch their algorithms from it. The previous default is restored
    /// before returning; the setting is per thread, so nothing else sees it.
    func withThreadDefault<T>(_ body: () throws -> T) rethrows -> T {
        let previous = OSSL_LIB_CTX_set0_default(context)
        defer { OSSL_LIB_CTX_set0_default(previous) }
        return try body()
    }
}
