import COpenSSL

/// The key types Porthole generates.
public enum CertificateKeyType: String, Sendable, Hashable, CaseIterable {
    /// The default: every Octopus/Tentacle version and every TLS client accepts it.
    case rsa2048
    /// Smaller and faster, but very old agents (Windows Server 2008 era
    /// SChannel) may not offer ECDSA signature algorithms.
    case ecdsaP256
}

/// A private key: owns one reference to an OpenSSL `EVP_PKEY` and drops it in
/// `deinit`. Never modified after `init`, so it can be shared across threads.
public final class PrivateKey: @unchecked Sendable {
    /// "RSA 2048", "ECDSA P-256", "Ed25519", for logs and `porthole cert show`.
    public let algorithm: String

    private let pointer: OpaquePointer

    /// The `EVP_PKEY*`, for `SSL_CTX_use_PrivateKey` (which takes its own
    /// reference). Callers must not modify or free it.
    package var evpPKey: OpaquePointer { pointer }

    /// Takes an additional reference on `key`; the caller keeps its own.
    package init(retaining key: OpaquePointer) {
        algorithm = Self.describe(key)
        EVP_PKEY_up_ref(key)
        pointer = key
    }

    deinit {
        EVP_PKEY_free(pointer)
    }

    /// Parses the first private key in PEM text: PKCS#8 ("PRIVATE KEY") or
    /// traditional ("RSA PRIVATE KEY", "EC PRIVATE KEY"). Encrypted keys are
    /// refused with `.encryptedPrivateKey`.
    public convenience init(pem: String) throws {
        let file = CertificateFile(.privateKey, "(PEM text)")
        let document = try PEMDocument.parse(Array(pem.utf8), file: file)
        guard let block = document.privateKeyBlocks.first else { throw CertificateError.noPrivateKey(file) }
        try self.init(pemBlock: block, file: file)
    }

    /// Loads the first private key in a PEM file.
    public static func load(path: String) throws -> PrivateKey {
        let file = CertificateFile(.privateKey, path)
        let document = try PEMDocument.parse(FileAccess.readAll(file), file: file)
        guard let block = document.privateKeyBlocks.first else { throw CertificateError.noPrivateKey(file) }
        return try PrivateKey(pemBlock: block, file: file)
    }

    convenience init(pemBlock: PEMDocument.Block, file: CertificateFile) throws {
        // Refuse before OpenSSL sees it: with no callback OpenSSL would prompt
        // for a passphrase on the controlling terminal, and a service must not.
        guard !pemBlock.isEncryptedPrivateKey else { throw CertificateError.encryptedPrivateKey(file) }
        let parsed = try MemoryBIO.reading(pemBlock.text) { bio in
            // A callback that declines, as a second guard against prompting.
            PEM_read_bio_PrivateKey(bio, nil, { _, _, _, _ in -1 }, nil)
        }
        guard let parsed else {
            throw CertificateError.malformed(file, detail: "broken \"\(pemBlock.label)\" block: "
                + OpenSSLError.drain(operation: "PEM_read_bio_PrivateKey").description)
        }
        defer { EVP_PKEY_free(parsed) }
        self.init(retaining: parsed)
    }

    /// Parses a DER private key (PKCS#8 or traditional).
    package convenience init(der: [UInt8], file: CertificateFile) throws {
        let parsed: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var cursor = buffer.baseAddress
            return d2i_AutoPrivateKey(nil, &cursor, buffer.count)
        }
        guard let parsed else {
            throw CertificateError.malformed(file, detail: OpenSSLError.drain(operation: "d2i_AutoPrivateKey").description)
        }
        defer { EVP_PKEY_free(parsed) }
        self.init(retaining: parsed)
    }

    /// Generates a new key.
    package static func generate(_ type: CertificateKeyType) throws -> PrivateKey {
        let algorithmName = type == .rsa2048 ? "RSA" : "EC"
        guard let context = EVP_PKEY_CTX_new_from_name(nil, algorithmName, nil) else {
            throw CertificateError.openSSL(.drain(operation: "EVP_PKEY_CTX_new_from_name(\(algorithmName))"))
        }
        defer { EVP_PKEY_CTX_free(context) }
        guard EVP_PKEY_keygen_init(context) == 1 else {
            throw CertificateError.openSSL(.drain(operation: "EVP_PKEY_keygen_init"))
        }
        switch type {
        case .rsa2048:
            guard EVP_PKEY_CTX_set_rsa_keygen_bits(context, 2048) == 1 else {
                throw CertificateError.openSSL(.drain(operation: "EVP_PKEY_CTX_set_rsa_keygen_bits"))
            }
        case .ecdsaP256:
            guard EVP_PKEY_CTX_set_group_name(context, "P-256") == 1 else {
                throw CertificateError.openSSL(.drain(operation: "EVP_PKEY_CTX_set_group_name"))
            }
        }
        var generated: OpaquePointer?
        guard EVP_PKEY_generate(context, &generated) == 1, let generated else {
            throw CertificateError.openSSL(.drain(operation: "EVP_PKEY_generate"))
        }
        defer { EVP_PKEY_free(generated) }
        return PrivateKey(retaining: generated)
    }

    /// Unencrypted PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----"), the form every
    /// TLS server and `openssl` reads.
    public var pem: String {
        get throws {
            let bytes = try MemoryBIO.collecting { bio in
                guard PEM_write_bio_PrivateKey(bio, pointer, nil, nil, 0, nil, nil) == 1 else {
                    throw CertificateError.openSSL(.drain(operation: "PEM_write_bio_PrivateKey"))
                }
            }
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    /// DER in the key type's own (traditional) form; read back with
    /// `init(der:file:)`.
    package var der: [UInt8] {
        get throws {
            var out: UnsafeMutablePointer<UInt8>?
            let length = i2d_PrivateKey(pointer, &out)
            guard length > 0, let out else {
                throw CertificateError.openSSL(.drain(operation: "i2d_PrivateKey"))
            }
            defer { porthole_certs_secure_free(out, Int(length)) }
            return Array(UnsafeBufferPointer(start: out, count: Int(length)))
        }
    }

    private static func describe(_ key: OpaquePointer) -> String {
        let bits = EVP_PKEY_get_bits(key)
        switch EVP_PKEY_get_base_id(key) {
        case EVP_PKEY_RSA:
            return "RSA \(bits)"
        case EVP_PKEY_RSA_PSS:
            return "RSA-PSS \(bits)"
        case EVP_PKEY_EC:
            var name = [CChar](repeating: 0, count: 64)
            var length = 0
            guard EVP_PKEY_get_group_name(key, &name, name.count, &length) == 1 else {
                OpenSSLError.clearQueue()
                return "ECDSA (unnamed curve, \(bits) bits)"
            }
            let group = String(decoding: name.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            return "ECDSA " + (nistCurveNames[group] ?? group)
        case EVP_PKEY_ED25519:
            return "Ed25519"
        case EVP_PKEY_ED448:
            return "Ed448"
        default:
            let name = OBJ_nid2sn(EVP_PKEY_get_base_id(key)).map { String(cString: $0) } ?? "unknown key type"
            return "\(name) \(bits)"
        }
    }

    /// OpenSSL names the curves by their SEC/X9.62 names; operators know the NIST ones.
    private static let nistCurveNames = [
        "prime256v1": "P-256",
        "secp384r1": "P-384",
        "secp521r1": "P-521",
    ]
}

extension PrivateKey: CustomStringConvertible {
    /// Never the key material: safe to log.
    public var description: String { "private key (\(algorithm))" }
}
