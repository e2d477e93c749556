import COpenSSL
import Foundation

/// An X.509 certificate: owns one reference to an OpenSSL `X509` and drops it
/// in `deinit`. Everything it reports is read once, in `init`, and the `X509`
/// is never modified afterwards, which is what makes sharing it across
/// threads safe.
public final class X509Certificate: @unchecked Sendable {
    /// The certificate's DER encoding.
    public let der: [UInt8]
    /// SHA-1 over `der`, 40 upper-case hex digits: what Octopus/Tentacle and
    /// Windows call the thumbprint, and `openssl x509 -noout -fingerprint -sha1`
    /// prints (with colons).
    public let thumbprint: String
    /// RFC 2253 one-line form, most specific first: "CN=server,O=Example";
    /// non-ASCII characters are kept as UTF-8 (RFC 4514).
    public let subject: String
    public let issuer: String
    /// The subject's last CN, if any.
    public let commonName: String?
    /// subjectAltName dNSName entries, in certificate order.
    public let dnsNames: [String]
    /// subjectAltName iPAddress entries, as text ("127.0.0.1", "::1").
    public let ipAddresses: [String]
    /// Upper-case hex, as `openssl x509 -serial` prints it.
    public let serialNumber: String
    public let notBefore: Date
    public let notAfter: Date

    private let pointer: OpaquePointer

    /// The `X509*`, for the TLS context code (`SSL_CTX_use_certificate`,
    /// `SSL_CTX_add1_chain_cert`, which take their own reference). Callers
    /// must not modify or free it, and must not use it beyond this object's
    /// lifetime unless they `X509_up_ref` it.
    package var x509: OpaquePointer { pointer }

    /// Parses one DER certificate. Trailing bytes are an error: they mean the
    /// input was not the certificate alone.
    public convenience init(der: [UInt8]) throws {
        try self.init(der: der, file: CertificateFile(.certificate, "(DER data)"))
    }

    package convenience init(der: [UInt8], file: CertificateFile) throws {
        let parsed: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var cursor = buffer.baseAddress
            let certificate = d2i_X509(nil, &cursor, buffer.count)
            if let certificate, cursor != buffer.baseAddress! + buffer.count {
                X509_free(certificate)
                return nil
            }
            return certificate
        }
        guard let parsed else {
            let error = OpenSSLError.drain(operation: "d2i_X509")
            throw CertificateError.malformed(file, detail: error.entries.isEmpty
                ? "not a single DER certificate" : error.description)
        }
        // This scope owns the parse's reference; the new object takes its own.
        defer { X509_free(parsed) }
        try self.init(retaining: parsed, file: file)
    }

    /// Wraps an `X509*` the caller keeps owning (e.g. from
    /// `SSL_get0_peer_certificate`): takes an additional reference.
    package convenience init(retaining certificate: OpaquePointer) throws {
        try self.init(retaining: certificate, file: CertificateFile(.certificate, "(peer certificate)"))
    }

    /// Takes an additional reference on `certificate` and reads its fields.
    /// Throws, having taken no reference, when a field cannot be read.
    package init(retaining certificate: OpaquePointer, file: CertificateFile) throws {
        let fields = try Fields(reading: certificate, file: file)
        der = fields.der
        thumbprint = Thumbprint.compute(der: fields.der)
        subject = fields.subject
        issuer = fields.issuer
        commonName = fields.commonName
        dnsNames = fields.dnsNames
        ipAddresses = fields.ipAddresses
        serialNumber = fields.serialNumber
        notBefore = fields.notBefore
        notAfter = fields.notAfter
        X509_up_ref(certificate)
        pointer = certificate
    }

    deinit {
        X509_free(pointer)
    }

    /// True when `date` is after `notAfter`.
    public func isExpired(at date: Date = Date()) -> Bool {
        date > notAfter
    }

    /// "-----BEGIN CERTIFICATE-----" text with 64-column base64 (RFC 7468).
    public var pem: String {
        PEMEncoding.encode(der, label: "CERTIFICATE")
    }

    /// Loads every certificate in a PEM file, in file order (a server
    /// certificate file lists the leaf first, then its intermediates).
    /// Throws `.noCertificate` when the file holds none.
    public static func loadPEMChain(path: String) throws -> [X509Certificate] {
        let file = CertificateFile(.certificate, path)
        return try loadPEMChain(bytes: FileAccess.readAll(file), file: file)
    }

    /// Loads every certificate in PEM text, in order.
    public static func loadPEMChain(pem: String) throws -> [X509Certificate] {
        try loadPEMChain(bytes: Array(pem.utf8), file: CertificateFile(.certificate, "(PEM text)"))
    }

    package static func loadPEMChain(bytes: [UInt8], file: CertificateFile) throws -> [X509Certificate] {
        let certificates = try PEMDocument.parse(bytes, file: file).certificateBlocks.map {
            try X509Certificate(pemBlock: $0, file: file)
        }
        guard !certificates.isEmpty else { throw CertificateError.noCertificate(file) }
        return certificates
    }

    convenience init(pemBlock: PEMDocument.Block, file: CertificateFile) throws {
        let parsed = try MemoryBIO.reading(pemBlock.text) { bio in
            PEM_read_bio_X509(bio, nil, nil, nil)
        }
        guard let parsed else {
            throw CertificateError.malformed(file, detail: "broken \"\(pemBlock.label)\" block: "
                + OpenSSLError.drain(operation: "PEM_read_bio_X509").description)
        }
        defer { X509_free(parsed) }
        try self.init(retaining: parsed, file: file)
    }
}

extension X509Certificate: Hashable {
    /// Two certificates are the same certificate when their DER is identical.
    public static func == (lhs: X509Certificate, rhs: X509Certificate) -> Bool {
        lhs.der == rhs.der
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(der)
    }
}

extension X509Certificate: CustomStringConvertible {
    public var description: String {
        "\(subject) (thumbprint \(thumbprint))"
    }
}

/// What `X509Certificate` reads from an `X509*`, gathered before the object
/// takes its reference so a failure leaves nothing to release.
private struct Fields {
    var der: [UInt8]
    var subject: String
    var issuer: String
    var commonName: String?
    var dnsNames: [String] = []
    var ipAddresses: [String] = []
    var serialNumber: String
    var notBefore: Date
    var notAfter: Date

    init(reading certificate: OpaquePointer, file: CertificateFile) throws {
        der = try Self.derEncoding(of: certificate)
        subject = try Self.rfc2253(X509_get_subject_name(certificate))
        issuer = try Self.rfc2253(X509_get_issuer_name(certificate))
        commonName = Self.lastCommonName(X509_get_subject_name(certificate))
        serialNumber = Self.serialHex(certificate)
        // d2i_X509 does not validate the time strings; a certificate whose
        // validity cannot be read is unusable, not "valid forever".
        guard let notBefore = Self.date(X509_get0_notBefore(certificate)),
              let notAfter = Self.date(X509_get0_notAfter(certificate)) else {
            OpenSSLError.clearQueue()
            throw CertificateError.malformed(file, detail: "the certificate's validity dates cannot be read")
        }
        self.notBefore = notBefore
        self.notAfter = notAfter
        readSubjectAlternativeNames(certificate)
    }

    private static func derEncoding(of certificate: OpaquePointer) throws -> [UInt8] {
        let length = i2d_X509(certificate, nil)
        guard length > 0 else { throw CertificateError.openSSL(.drain(operation: "i2d_X509")) }
        var der = [UInt8](repeating: 0, count: Int(length))
        let written = der.withUnsafeMutableBufferPointer { buffer -> Int32 in
            var cursor = buffer.baseAddress
            return i2d_X509(certificate, &cursor)
        }
        guard written == length else { throw CertificateError.openSSL(.drain(operation: "i2d_X509")) }
        return der
    }

    private static func rfc2253(_ name: OpaquePointer?) throws -> String {
        guard let name else { return "" }
        let bytes = try MemoryBIO.collecting { bio in
            _ = X509_NAME_print_ex(bio, name, 0, porthole_certs_XN_FLAG_RFC2253_UTF8)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func lastCommonName(_ name: OpaquePointer?) -> String? {
        guard let name else { return nil }
        // RFC 6125 §6.4.4 leaves several CNs ambiguous; the last is the most
        // specific in the DER order and is what OpenSSL-based tools show.
        var index: Int32 = -1
        var last: Int32 = -1
        while true {
            index = X509_NAME_get_index_by_NID(name, NID_commonName, index)
            if index < 0 { break }
            last = index
        }
        guard last >= 0, let entry = X509_NAME_get_entry(name, last),
              let data = X509_NAME_ENTRY_get_data(entry) else { return nil }
        return utf8(data)
    }

    /// Converts any ASN.1 string type (PrintableString, BMPString…) to UTF-8.
    private static func utf8(_ string: UnsafePointer<ASN1_STRING>) -> String? {
        var out: UnsafeMutablePointer<UInt8>?
        let length = ASN1_STRING_to_UTF8(&out, string)
        guard length >= 0, let out else {
            OpenSSLError.clearQueue()
            return nil
        }
        defer { porthole_certs_free(out) }
        return String(decoding: UnsafeBufferPointer(start: out, count: Int(length)), as: UTF8.self)
    }

    private static func serialHex(_ certificate: OpaquePointer) -> String {
        guard let serial = X509_get0_serialNumber(certificate),
              let number = ASN1_INTEGER_to_BN(serial, nil) else {
            OpenSSLError.clearQueue()
            return ""
        }
        defer { BN_free(number) }
        guard let hex = BN_bn2hex(number) else {
            OpenSSLError.clearQueue()
            return ""
        }
        defer { porthole_certs_free(hex) }
        return String(cString: hex)
    }

    private static func date(_ time: UnsafePointer<ASN1_TIME>?) -> Date? {
        guard let time else { return nil }
        var parts = tm()
        guard ASN1_TIME_to_tm(time, &parts) == 1 else { return nil }
        return Date(timeIntervalSince1970: TimeInterval(timegm(&parts)))
    }

    private mutating func readSubjectAlternativeNames(_ certificate: OpaquePointer) {
        // X509_get_ext_d2i returns a new GENERAL_NAMES that we own, or NULL
        // when the extension is absent (or, with an error queued, broken).
        guard let raw = X509_get_ext_d2i(certificate, NID_subject_alt_name, nil, nil) else {
            OpenSSLError.clearQueue()
            return
        }
        let names = OpaquePointer(raw)
        defer { GENERAL_NAMES_free(names) }
        for index in 0..<porthole_certs_general_names_count(names) {
            guard let name = porthole_certs_general_names_value(names, index) else { continue }
            switch name.pointee.type {
            case GEN_DNS:
                if let value = name.pointee.d.dNSName {
                    dnsNames.append(String(decoding: Self.bytes(value), as: UTF8.self))
                }
            case GEN_IPADD:
                if let value = name.pointee.d.iPAddress, let text = Self.ipAddressText(Self.bytes(value)) {
                    ipAddresses.append(text)
                }
            default:
                continue
            }
        }
    }

    private static func bytes(_ string: UnsafePointer<ASN1_STRING>) -> [UInt8] {
        let count = Int(ASN1_STRING_length(string))
        guard count > 0, let data = ASN1_STRING_get0_data(string) else { return [] }
        return Array(UnsafeBufferPointer(start: data, count: count))
    }

    private static func ipAddressText(_ address: [UInt8]) -> String? {
        switch address.count {
        case 4:
            return address.map(String.init).joined(separator: ".")
        case 16:
            var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            let ok = address.withUnsafeBytes { inet_ntop(AF_INET6, $0.baseAddress, &text, socklen_t(text.count)) }
            guard ok != nil else { return nil }
            return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        default:
            return nil
        }
    }
}
