import COpenSSL
import Foundation

/// Makes the self-signed certificate Porthole uses when the operator has not
/// configured one. Agents pin it by thumbprint, so what matters is that it is
/// a plain, widely accepted TLS server/client certificate.
public enum SelfSignedCertificateGenerator {
    public typealias KeyType = CertificateKeyType

    /// Generates a key and a v3 certificate for it: random 128-bit serial,
    /// SHA-256 signature, CA:FALSE, serverAuth + clientAuth, and a
    /// subjectAltName with `dnsNames` and `ipAddresses` (literal IPv4/IPv6).
    public static func generate(keyType: KeyType = .rsa2048,
                                commonName: String,
                                dnsNames: [String],
                                ipAddresses: [String] = [],
                                validityDays: Int = 3650) throws -> CertificateIdentity {
        guard validityDays > 0 else {
            throw CertificateError.invalidName("\(validityDays) days", reason: "the validity must be at least one day")
        }
        // Backdated an hour: a peer whose clock is a little behind ours would
        // otherwise reject the certificate as "not yet valid" right after it
        // was made.
        let now = Date()
        return try generate(keyType: keyType, commonName: commonName, dnsNames: dnsNames, ipAddresses: ipAddresses,
                            notBefore: now.addingTimeInterval(-3600),
                            notAfter: now.addingTimeInterval(TimeInterval(validityDays) * 86_400))
    }

    /// Any validity window, including ones already over (for tests of expiry handling).
    package static func generate(keyType: KeyType, commonName: String, dnsNames: [String], ipAddresses: [String] = [],
                                 notBefore: Date, notAfter: Date) throws -> CertificateIdentity {
        try validate(commonName: commonName, dnsNames: dnsNames)
        let key = try PrivateKey.generate(keyType)

        guard let certificate = X509_new() else { throw CertificateError.openSSL(.drain(operation: "X509_new")) }
        defer { X509_free(certificate) }

        try check(X509_set_version(certificate, Int(X509_VERSION_3)), "X509_set_version")
        try setRandomSerial(certificate)
        try setTime(X509_getm_notBefore(certificate), notBefore)
        try setTime(X509_getm_notAfter(certificate), notAfter)

        guard let name = X509_NAME_new() else { throw CertificateError.openSSL(.drain(operation: "X509_NAME_new")) }
        defer { X509_NAME_free(name) }
        guard X509_NAME_add_entry_by_txt(name, "CN", porthole_certs_MBSTRING_UTF8, commonName, -1, -1, 0) == 1 else {
            throw CertificateError.invalidName(commonName, reason: OpenSSLError.drain(operation: "X509_NAME_add_entry_by_txt").description)
        }
        // Both copy the name, so `name` stays ours to free.
        try check(X509_set_subject_name(certificate, name), "X509_set_subject_name")
        try check(X509_set_issuer_name(certificate, name), "X509_set_issuer_name")
        try check(X509_set_pubkey(certificate, key.evpPKey), "X509_set_pubkey")

        // keyEncipherment is for RSA key transport (TLS 1.2 RSA key exchange,
        // still used by old SChannel agents); it is meaningless for EC keys.
        let keyUsage = keyType == .rsa2048 ? "critical,digitalSignature,keyEncipherment" : "critical,digitalSignature"
        try addExtension(certificate, NID_basic_constraints, "critical,CA:FALSE")
        try addExtension(certificate, NID_key_usage, keyUsage)
        try addExtension(certificate, NID_ext_key_usage, "serverAuth,clientAuth")
        try addExtension(certificate, NID_subject_key_identifier, "hash")
        if !dnsNames.isEmpty || !ipAddresses.isEmpty {
            try addSubjectAlternativeNames(certificate, dnsNames: dnsNames, ipAddresses: ipAddresses)
        }

        guard X509_sign(certificate, key.evpPKey, EVP_sha256()) > 0 else {
            throw CertificateError.openSSL(.drain(operation: "X509_sign"))
        }
        // Hand out a certificate parsed from its final DER, like every loaded
        // one, rather than the object we built and modified: a freshly parsed
        // X509 keeps its encoding cached and is never re-encoded afterwards.
        let generated = CertificateFile(.certificate, "(generated)")
        let signed = try X509Certificate(der: X509Certificate(retaining: certificate, file: generated).der, file: generated)
        return try CertificateIdentity(certificateChain: [signed], privateKey: key)
    }

    /// Rejects names that would make a certificate clients cannot match,
    /// before any key is generated.
    private static func validate(commonName: String, dnsNames: [String]) throws {
        // X.520 ub-common-name: OpenSSL refuses longer CNs with a cryptic error.
        guard !commonName.isEmpty, commonName.count <= 64 else {
            throw CertificateError.invalidName(commonName, reason: "the common name must be 1 to 64 characters")
        }
        for name in dnsNames {
            let allowed = name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "." || $0 == "*" || $0 == "_") }
            guard !name.isEmpty, name.utf8.count <= 253, allowed else {
                throw CertificateError.invalidName(name, reason: "a DNS name must be ASCII letters, digits, '-', '.', '_' or a leading '*.' (use punycode for international names), at most 253 characters")
            }
        }
    }

    private static func check(_ result: Int32, _ operation: String) throws {
        guard result == 1 else { throw CertificateError.openSSL(.drain(operation: operation)) }
    }

    /// RFC 5280 §4.1.2.2: positive, at most 20 octets. 16 random bytes with
    /// the top bit cleared stay positive and need no DER padding byte; the
    /// randomness is what CA/B Forum rules ask of serials, and it keeps two
    /// generated certificates from ever sharing issuer+serial.
    private static func setRandomSerial(_ certificate: OpaquePointer) throws {
        var bytes = [UInt8](repeating: 0, count: 16)
        guard RAND_bytes(&bytes, Int32(bytes.count)) == 1 else {
            throw CertificateError.openSSL(.drain(operation: "RAND_bytes"))
        }
        bytes[0] = (bytes[0] & 0x7F) | 0x40  // positive, and the first octet is never zero
        guard let number = BN_bin2bn(bytes, Int32(bytes.count), nil) else {
            throw CertificateError.openSSL(.drain(operation: "BN_bin2bn"))
        }
        defer { BN_free(number) }
        // Writes into the certificate's own serial; returns it, not a new object.
        guard BN_to_ASN1_INTEGER(number, X509_get_serialNumber(certificate)) != nil else {
            throw CertificateError.openSSL(.drain(operation: "BN_to_ASN1_INTEGER"))
        }
    }

    /// ASN1_TIME_set picks UTCTime up to 2049 and GeneralizedTime after, as
    /// RFC 5280 §4.1.2.5 requires.
    private static func setTime(_ field: UnsafeMutablePointer<ASN1_TIME>?, _ date: Date) throws {
        guard let field, ASN1_TIME_set(field, time_t(date.timeIntervalSince1970)) != nil else {
            throw CertificateError.openSSL(.drain(operation: "ASN1_TIME_set"))
        }
    }

    /// Adds an extension from OpenSSL's config syntax. Only for our own fixed
    /// strings: names from outside go through addSubjectAlternativeNames,
    /// where a comma in a name cannot smuggle in another entry.
    private static func addExtension(_ certificate: OpaquePointer, _ nid: Int32, _ value: String) throws {
        var context = X509V3_CTX()
        // Self-signed: issuer and subject are the same certificate (the
        // subject key identifier is computed from it).
        X509V3_set_ctx(&context, certificate, certificate, nil, nil, 0)
        guard let ext = X509V3_EXT_conf_nid(nil, &context, nid, value) else {
            throw CertificateError.openSSL(.drain(operation: "X509V3_EXT_conf_nid(\(value))"))
        }
        defer { X509_EXTENSION_free(ext) }
        // X509_add_ext copies the extension.
        try check(X509_add_ext(certificate, ext, -1), "X509_add_ext")
    }

    private static func addSubjectAlternativeNames(_ certificate: OpaquePointer, dnsNames: [String], ipAddresses: [String]) throws {
        guard let names = porthole_certs_general_names_new() else {
            throw CertificateError.openSSL(.drain(operation: "sk_GENERAL_NAME_new_null"))
        }
        // Frees the stack and every name pushed onto it.
        defer { GENERAL_NAMES_free(names) }

        for dnsName in dnsNames {
            guard let value = ASN1_IA5STRING_new() else { throw CertificateError.openSSL(.drain(operation: "ASN1_IA5STRING_new")) }
            guard ASN1_STRING_set(value, dnsName, Int32(dnsName.utf8.count)) == 1 else {
                ASN1_IA5STRING_free(value)
                throw CertificateError.openSSL(.drain(operation: "ASN1_STRING_set"))
            }
            try push(names, type: GEN_DNS, value: UnsafeMutableRawPointer(value)) { ASN1_IA5STRING_free(value) }
        }
        for address in ipAddresses {
            guard let value = a2i_IPADDRESS(address) else {
                OpenSSLError.clearQueue()
                throw CertificateError.invalidName(address, reason: "not an IPv4 or IPv6 address")
            }
            try push(names, type: GEN_IPADD, value: UnsafeMutableRawPointer(value)) { ASN1_OCTET_STRING_free(value) }
        }
        // X509_add1_ext_i2d encodes a copy; `names` stays ours.
        try check(X509_add1_ext_i2d(certificate, NID_subject_alt_name, UnsafeMutableRawPointer(names), 0, UInt(X509V3_ADD_DEFAULT)),
                  "X509_add1_ext_i2d(subjectAltName)")
    }

    /// Wraps `value` in a GENERAL_NAME and moves it onto `names`. Ownership of
    /// `value` passes to the GENERAL_NAME, then to the stack; until each step
    /// succeeds the previous owner frees it (`freeValue` is the value's
    /// destructor, for the one step where the value is still on its own).
    private static func push(_ names: OpaquePointer, type: Int32, value: UnsafeMutableRawPointer,
                             freeValue: () -> Void) throws {
        guard let name = GENERAL_NAME_new() else {
            freeValue()
            throw CertificateError.openSSL(.drain(operation: "GENERAL_NAME_new"))
        }
        GENERAL_NAME_set0_value(name, type, value)
        guard porthole_certs_general_names_push(names, name) > 0 else {
            GENERAL_NAME_free(name)
            throw CertificateError.openSSL(.drain(operation: "sk_GENERAL_NAME_push"))
        }
    }
}
