import COpenSSL
import Foundation

/// What a TLS endpoint presents: a leaf certificate, the intermediates that
/// lead to its issuer, and the leaf's private key. The key is checked against
/// the leaf when the identity is made, so a mismatch is a configuration error
/// at startup rather than a handshake failure later.
public struct CertificateIdentity: Sendable {
    /// Leaf first, then intermediates in issuing order. Never empty.
    public let certificateChain: [X509Certificate]
    public let privateKey: PrivateKey

    public var leaf: X509Certificate { certificateChain[0] }
    /// The certificates after the leaf, for `SSL_CTX_add1_chain_cert`.
    public var intermediates: ArraySlice<X509Certificate> { certificateChain.dropFirst() }

    /// - Throws: `.keyMismatch` when `privateKey` is not the leaf's key.
    public init(certificateChain: [X509Certificate], privateKey: PrivateKey) throws {
        let memory = CertificateFile(.certificate, "(in memory)")
        try self.init(certificateChain: certificateChain, privateKey: privateKey,
                      certificateFile: memory, keyFile: CertificateFile(.privateKey, "(in memory)"))
    }

    package init(certificateChain: [X509Certificate], privateKey: PrivateKey,
                 certificateFile: CertificateFile, keyFile: CertificateFile) throws {
        guard let leaf = certificateChain.first else { throw CertificateError.noCertificate(certificateFile) }
        guard X509_check_private_key(leaf.x509, privateKey.evpPKey) == 1 else {
            OpenSSLError.clearQueue()
            throw CertificateError.keyMismatch(certificate: certificateFile, key: keyFile)
        }
        self.certificateChain = certificateChain
        self.privateKey = privateKey
    }

    /// Loads a certificate file (PEM with the leaf first and then its
    /// intermediates, or a single DER certificate) and its key. With
    /// `keyPath` nil the key must be in the certificate file itself, as in a
    /// combined PEM.
    public static func load(certPath: String, keyPath: String? = nil) throws -> CertificateIdentity {
        let certificateFile = CertificateFile(.certificate, certPath)
        let bytes = try FileAccess.readAll(certificateFile)

        let chain: [X509Certificate]
        var embeddedKey: PEMDocument.Block?
        if PEMDocument.containsPEM(bytes) {
            let document = try PEMDocument.parse(bytes, file: certificateFile)
            chain = try document.certificateBlocks.map { try X509Certificate(pemBlock: $0, file: certificateFile) }
            embeddedKey = document.privateKeyBlocks.first
        } else {
            chain = [try derCertificate(bytes, file: certificateFile)]
        }
        guard !chain.isEmpty else { throw CertificateError.noCertificate(certificateFile) }

        let keyFile: CertificateFile
        let key: PrivateKey
        if let keyPath {
            keyFile = CertificateFile(.privateKey, keyPath)
            let keyDocument = try PEMDocument.parse(FileAccess.readAll(keyFile), file: keyFile)
            guard let block = keyDocument.privateKeyBlocks.first else { throw CertificateError.noPrivateKey(keyFile) }
            key = try PrivateKey(pemBlock: block, file: keyFile)
        } else {
            keyFile = certificateFile
            guard let embeddedKey else { throw CertificateError.noPrivateKey(certificateFile) }
            key = try PrivateKey(pemBlock: embeddedKey, file: certificateFile)
        }
        return try CertificateIdentity(certificateChain: chain, privateKey: key,
                                       certificateFile: certificateFile, keyFile: keyFile)
    }

    /// Loads a PKCS#12/PFX file (as exported from Windows or by
    /// `openssl pkcs12 -export`). An empty password also tries "no password".
    public static func load(pfxPath: String, password: String) throws -> CertificateIdentity {
        let file = CertificateFile(.pfx, pfxPath)
        let contents = try PKCS12Reader.read(FileAccess.readAll(file), password: password, file: file)
        guard let key = contents.privateKey else { throw CertificateError.noPrivateKey(file) }

        // PKCS12_parse pairs key and certificate by localKeyID; PFX files
        // without one leave the leaf among the others, so fall back to
        // finding the certificate the key belongs to.
        var others = contents.others
        let leaf: X509Certificate
        if let paired = contents.leaf {
            leaf = paired
        } else if let index = others.firstIndex(where: { X509_check_private_key($0.x509, key.evpPKey) == 1 }) {
            leaf = others.remove(at: index)
        } else {
            OpenSSLError.clearQueue()
            throw others.isEmpty ? CertificateError.noCertificate(file)
                : CertificateError.keyMismatch(certificate: file, key: file)
        }
        OpenSSLError.clearQueue()
        return try CertificateIdentity(certificateChain: [leaf] + issuingOrder(from: leaf, others),
                                       privateKey: key, certificateFile: file, keyFile: file)
    }

    /// PFX files store certificates in no particular order, but a TLS server
    /// must send them leaf-to-root (RFC 5246 §7.4.2). Follows issuer links
    /// from the leaf; certificates not on that path keep their order at the end.
    private static func issuingOrder(from leaf: X509Certificate, _ others: [X509Certificate]) -> [X509Certificate] {
        var remaining = others.filter { $0 != leaf }
        var ordered: [X509Certificate] = []
        var current = leaf
        while current.subject != current.issuer,
              let index = remaining.firstIndex(where: { X509_check_issued($0.x509, current.x509) == X509_V_OK }) {
            current = remaining.remove(at: index)
            ordered.append(current)
        }
        return ordered + remaining
    }

    private static func derCertificate(_ bytes: [UInt8], file: CertificateFile) throws -> X509Certificate {
        do {
            return try X509Certificate(der: bytes, file: file)
        } catch {
            // A common mix-up: a .pfx configured where a PEM file belongs.
            if PKCS12Reader.isPKCS12(bytes) {
                throw CertificateError.malformed(file, detail: "this is a PKCS#12/PFX file; configure it as pfx = … with password_file")
            }
            // OpenSSL's ASN.1 complaints about text that was never DER do not help.
            throw CertificateError.malformed(file, detail: "it has no PEM \"-----BEGIN\" line and is not a DER certificate")
        }
    }

    /// A warning for the log when the leaf has expired, expires within 30
    /// days, or is not valid yet; nil otherwise. Not an error: Octopus and
    /// Tentacle trust by thumbprint and ignore dates, but browsers and other
    /// TLS clients do not.
    public var expiryWarning: String? {
        expiryWarning(at: Date())
    }

    public func expiryWarning(at now: Date) -> String? {
        let certificate = "certificate \(leaf.subject) (thumbprint \(leaf.thumbprint))"
        if now > leaf.notAfter {
            return "\(certificate) expired on \(Self.format(leaf.notAfter)); Tentacle agents ignore dates, but browsers and other TLS clients will refuse it: renew it"
        }
        if now < leaf.notBefore {
            return "\(certificate) is not valid until \(Self.format(leaf.notBefore)); check the system clock"
        }
        let remaining = leaf.notAfter.timeIntervalSince(now)
        if remaining < Self.expiryWarningInterval {
            let days = Int(remaining / 86_400)
            let when = days == 0 ? "within a day" : days == 1 ? "in 1 day" : "in \(days) days"
            return "\(certificate) expires \(when), on \(Self.format(leaf.notAfter)); renew it before then"
        }
        return nil
    }

    private static let expiryWarningInterval: TimeInterval = 30 * 86_400

    /// "2026-11-27 16:57:39 UTC": unambiguous in logs whatever the locale.
    private static func format(_ date: Date) -> String {
        var time = time_t(date.timeIntervalSince1970)
        var parts = tm()
        gmtime_r(&time, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday)) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) UTC"
    }

    /// Writes the chain (leaf first) to `certPath` with mode 0644 and the key
    /// as unencrypted PKCS#8 to `keyPath` with mode 0600, each atomically.
    /// The key is written first: a certificate file on disk then always has
    /// its key beside it. If both paths are the same, one 0600 file holds both.
    public func writePEM(certPath: String, keyPath: String) throws {
        let chainPEM = certificateChain.map(\.pem).joined()
        var keyBytes = Array(try privateKey.pem.utf8)
        defer { keyBytes.withUnsafeMutableBytes { OPENSSL_cleanse($0.baseAddress, $0.count) } }
        if certPath == keyPath {
            var combined = Array(chainPEM.utf8) + keyBytes
            defer { combined.withUnsafeMutableBytes { OPENSSL_cleanse($0.baseAddress, $0.count) } }
            try FileAccess.writeAtomically(combined, to: certPath, mode: 0o600)
            return
        }
        try FileAccess.writeAtomically(keyBytes, to: keyPath, mode: 0o600)
        try FileAccess.writeAtomically(Array(chainPEM.utf8), to: certPath, mode: 0o644)
    }
}
