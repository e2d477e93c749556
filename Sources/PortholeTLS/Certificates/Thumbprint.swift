import COpenSSL

/// SHA-1 certificate thumbprints, the identity Octopus and Tentacle use to
/// trust each other: 40 upper-case hex digits over the certificate's DER.
public enum Thumbprint {
    /// The thumbprint of the leaf certificate in a file: PEM (first
    /// certificate), DER, or PFX (the certificate that goes with the key;
    /// `password` opens it, nil meaning none).
    public static func ofFile(path: String, password: String? = nil) throws -> String {
        let file = CertificateFile(.certificateOrPFX, path)
        let bytes = try FileAccess.readAll(file)
        if PEMDocument.containsPEM(bytes) {
            guard let block = try PEMDocument.parse(bytes, file: file).certificateBlocks.first else {
                throw CertificateError.noCertificate(file)
            }
            return try X509Certificate(pemBlock: block, file: file).thumbprint
        }
        if let certificate = try? X509Certificate(der: bytes, file: file) {
            return certificate.thumbprint
        }
        if PKCS12Reader.isPKCS12(bytes) {
            let contents = try PKCS12Reader.read(bytes, password: password ?? "", file: CertificateFile(.pfx, path))
            guard let leaf = contents.leaf else { throw CertificateError.noCertificate(CertificateFile(.pfx, path)) }
            return leaf.thumbprint
        }
        throw CertificateError.malformed(file, detail: "neither PEM, a DER certificate, nor PKCS#12/PFX")
    }

    /// Canonical form of a thumbprint as people paste it: colons, spaces and
    /// dashes removed ("8F:1F:6D…" from openssl, "8f 1f 6d…" from Windows'
    /// certificate dialog), upper-cased. Throws `.invalidThumbprint` unless
    /// 40 hex digits remain.
    public static func normalize(_ text: String) throws -> String {
        // Windows' certificate dialog copies an invisible U+200E mark in front.
        let ignored: Set<Character> = [":", " ", "-", "\t", "\u{200E}"]
        let digits = text.filter { !ignored.contains($0) }.uppercased()
        guard digits.count == 40, digits.allSatisfy(\.isHexDigit) else {
            throw CertificateError.invalidThumbprint(text)
        }
        return digits
    }

    /// Whether two thumbprints name the same certificate, ignoring case and
    /// separators. Invalid input matches nothing.
    public static func matches(_ lhs: String, _ rhs: String) -> Bool {
        guard let lhs = try? normalize(lhs), let rhs = try? normalize(rhs) else { return false }
        return lhs == rhs
    }

    /// SHA-1 over `der`, through OpenSSL's EVP digest.
    package static func compute(der: [UInt8]) -> String {
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        let ok = der.withUnsafeBytes { buffer in
            EVP_Digest(buffer.baseAddress, buffer.count, &digest, &length, EVP_sha1(), nil)
        }
        // SHA-1 is in the default provider and cannot be disabled in OpenSSL
        // 3.0 (only restricted for signatures by security levels), so failure
        // here means the library itself is unusable.
        precondition(ok == 1 && length == 20, "EVP_Digest(SHA-1) failed: \(OpenSSLError.drain(operation: "EVP_Digest"))")
        return hex(digest.prefix(Int(length)))
    }

    /// Upper-case hex without separators.
    package static func hex<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        let digits = Array("0123456789ABCDEF".utf8)
        var text: [UInt8] = []
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}
