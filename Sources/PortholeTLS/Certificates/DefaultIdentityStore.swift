#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Porthole's own certificate when none is configured: generated once into the
/// state directory and reused on every later start, because agents pin its
/// thumbprint and a new one would break their trust.
public enum DefaultIdentityStore {
    public static let certificateFileName = "porthole-selfsigned.pem"
    public static let keyFileName = "porthole-selfsigned.key"

    /// Loads the stored identity, or generates and stores one if there is none.
    ///
    /// "None" means the certificate file is absent. A key without a
    /// certificate is left over from an interrupted first run (the key is
    /// written first), so its certificate was never presented and it is safe
    /// to replace. A certificate without its key, or one that fails to load,
    /// is an error: it may be pinned by agents, so Porthole will not silently
    /// replace it.
    public static func loadOrCreate(stateDirectory: String,
                                    keyType: CertificateKeyType = .rsa2048,
                                    commonName: String = "Porthole",
                                    dnsNames: [String] = []) throws -> (identity: CertificateIdentity, created: Bool) {
        if let failure = FileAccess.makeDirectories(stateDirectory, mode: 0o700) {
            throw CertificateError.stateDirectoryUnusable(path: stateDirectory, reason: "cannot create it (\(failure))")
        }
        let certificatePath = "\(stateDirectory)/\(certificateFileName)"
        let keyPath = "\(stateDirectory)/\(keyFileName)"

        if FileAccess.exists(certificatePath) {
            return (try CertificateIdentity.load(certPath: certificatePath, keyPath: keyPath), false)
        }

        // Checked up front so the operator gets the state-directory advice,
        // not a bare "cannot write …/porthole-selfsigned.key".
        guard FileAccess.isWritableDirectory(stateDirectory) else {
            throw CertificateError.stateDirectoryUnusable(path: stateDirectory, reason: "not writable (\(FileAccess.errnoText()))")
        }
        let identity = try SelfSignedCertificateGenerator.generate(
            keyType: keyType, commonName: commonName, dnsNames: dnsNames.isEmpty ? [hostName()] : dnsNames)
        do {
            try identity.writePEM(certPath: certificatePath, keyPath: keyPath)
        } catch CertificateError.writeFailed(_, let reason) {
            throw CertificateError.stateDirectoryUnusable(path: stateDirectory, reason: "cannot write the generated certificate (\(reason))")
        }
        return (identity, true)
    }

    /// The machine's name, so browsers at least show a recognisable SAN;
    /// "localhost" when it cannot be read or is not a valid DNS name.
    private static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let valid = !name.isEmpty && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == ".") }
        return valid ? name : "localhost"
    }
}
