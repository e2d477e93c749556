/// Names a file the way an operator configured it, so every error message can
/// start with "certificate file /etc/porthole/server.pem: …".
public struct CertificateFile: Sendable, Hashable, CustomStringConvertible {
    public enum Role: Sendable, Hashable {
        case certificate
        case privateKey
        case pfx
        /// `Thumbprint.ofFile`: PEM, DER or PFX, not yet known which.
        case certificateOrPFX
    }

    public let role: Role
    public let path: String

    public init(_ role: Role, _ path: String) {
        self.role = role
        self.path = path
    }

    public var description: String {
        switch role {
        case .certificate: return "certificate file \(path)"
        case .privateKey: return "private key file \(path)"
        case .pfx: return "PFX file \(path)"
        case .certificateOrPFX: return "certificate file \(path)"
        }
    }
}

/// Why a certificate, key or PFX could not be used. Every description names
/// the file and says what the operator can do about it.
public enum CertificateError: Error, Sendable, CustomStringConvertible {
    /// open/read failed; `reason` is the errno text.
    case unreadableFile(CertificateFile, reason: String)
    case noCertificate(CertificateFile)
    case noPrivateKey(CertificateFile)
    case encryptedPrivateKey(CertificateFile)
    /// The key in `key` is not the key of the leaf certificate in `certificate`.
    case keyMismatch(certificate: CertificateFile, key: CertificateFile)
    case wrongPassword(CertificateFile)
    /// The PFX is encrypted with RC2/3DES and OpenSSL's legacy provider (which
    /// implements them) could not be loaded.
    case legacyProviderUnavailable(CertificateFile, detail: String)
    case malformed(CertificateFile, detail: String)
    /// A thumbprint string that is not 40 hex digits once colons and spaces are removed.
    case invalidThumbprint(String)
    /// A name given to the self-signed generator that cannot go into a certificate.
    case invalidName(String, reason: String)
    /// The directory for Porthole's generated files cannot be created or used.
    case stateDirectoryUnusable(path: String, reason: String)
    case writeFailed(path: String, reason: String)
    /// An OpenSSL call failed where no input of ours is to blame (key
    /// generation, signing, encoding).
    case openSSL(OpenSSLError)

    public var description: String {
        switch self {
        case .unreadableFile(let file, let reason):
            return "\(file): cannot read it (\(reason)); check the path and that the porthole user may read it"
        case .noCertificate(let file):
            return "\(file): no certificate found (expected a PEM \"CERTIFICATE\" block, a DER certificate, or use pfx = … with password_file)"
        case .noPrivateKey(let file):
            switch file.role {
            case .privateKey:
                return "\(file): no private key found (expected a PEM \"PRIVATE KEY\", \"RSA PRIVATE KEY\" or \"EC PRIVATE KEY\" block)"
            case .pfx, .certificateOrPFX:
                return "\(file): the PFX holds no private key; export it again with the private key included"
            case .certificate:
                return "\(file): no private key found (expected a PEM \"PRIVATE KEY\" block, or use pfx = … with password_file)"
            }
        case .encryptedPrivateKey(let file):
            return "\(file): the private key is encrypted; Porthole needs an unencrypted key (e.g. `openssl pkey -in KEY -out KEY.plain`, then protect it with file permissions) or a PFX with password_file"
        case .keyMismatch(let certificate, let key):
            if certificate == key || certificate.path == key.path {
                return "\(certificate): the private key does not belong to the certificate (the first certificate in the file must be the leaf whose key is in the file)"
            }
            return "\(key) does not match \(certificate): the key belongs to a different certificate; check that the two files are a pair (the first certificate in the certificate file must be the leaf)"
        case .wrongPassword(let file):
            return "\(file): wrong password (the PFX integrity check failed); check password_file"
        case .legacyProviderUnavailable(let file, let detail):
            return "\(file): the PFX is encrypted with legacy algorithms (RC2/3DES, typical of older Windows exports) and OpenSSL's legacy provider could not be loaded (\(detail)); install the OpenSSL legacy provider (ossl-modules/legacy.so), or re-export the PFX with AES-256 (Windows: \"AES256-SHA256\"; OpenSSL: `openssl pkcs12 -export` without -legacy)"
        case .malformed(let file, let detail):
            switch file.role {
            case .certificate:
                return "\(file): not a valid certificate file (\(detail)); expected PEM (\"-----BEGIN CERTIFICATE-----\") or DER"
            case .certificateOrPFX:
                return "\(file): not a valid certificate file (\(detail)); expected PEM (\"-----BEGIN CERTIFICATE-----\"), DER, or PKCS#12/PFX"
            case .privateKey:
                return "\(file): not a valid private key file (\(detail)); expected an unencrypted PEM private key"
            case .pfx:
                return "\(file): not a valid PKCS#12/PFX file (\(detail))"
            }
        case .invalidThumbprint(let text):
            return "thumbprint \"\(text)\" is not a SHA-1 thumbprint: expected 40 hexadecimal digits (colons and spaces are allowed), as printed by `openssl x509 -noout -fingerprint -sha1`"
        case .invalidName(let name, let reason):
            return "cannot put \"\(name)\" into a certificate: \(reason)"
        case .stateDirectoryUnusable(let path, let reason):
            return "state directory \(path): \(reason); create it with write access for the porthole user, or choose another with --state-dir"
        case .writeFailed(let path, let reason):
            return "cannot write \(path): \(reason); check that its directory exists and is writable"
        case .openSSL(let error):
            return error.description
        }
    }
}
