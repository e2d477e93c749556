import COpenSSL
import Foundation
import NIOCore

/// What the next handler learns when the handshake completes.
public struct TLSSessionInfo: Sendable {
    public var version: TLSProtocolVersion?
    public var cipher: String
    public var negotiatedALPN: String?
    public var serverName: String?
    /// False when the ClientHello carried no ALPN extension (agents).
    public var clientOfferedALPN: Bool
    public var certificateRequested: Bool
    public var resumed: Bool
    /// DER of the client's leaf certificate, if it sent one.
    public var peerCertificateDER: [UInt8]?
    /// SHA-1 over `peerCertificateDER`, 40 upper-case hex digits (how agents
    /// and servers name each other, halibut.md §1).
    public var peerThumbprint: String?
    /// Name of the certificate Porthole presented.
    public var serverCertificateName: String
}

/// Why a handshake failed. `reason` is short and stable enough for a metric
/// label; `detail` is OpenSSL's full text for the log.
public struct TLSHandshakeError: Error, CustomStringConvertible, Sendable {
    public enum Kind: String, Sendable {
        case protocolError = "protocol_error"
        case timeout
        case connectionClosed = "connection_closed"
    }
    public var kind: Kind
    public var reason: String
    public var detail: String

    public var description: String { "TLS handshake failed (\(reason)): \(detail)" }
}

/// An error on an established session (bad record MAC, unexpected message…).
public struct TLSSessionError: Error, CustomStringConvertible, Sendable {
    public var detail: String
    public var description: String { "TLS error: \(detail)" }
}

/// One server-side OpenSSL session over two memory BIOs: ciphertext goes in
/// with `feed`, comes out with `drainCiphertext`; no I/O of its own, so the
/// NIO handler stays a thin adapter and this type can be driven in tests.
///
/// Owns the `SSL*` (which owns both BIOs). Not thread-safe: it lives on one
/// event loop. OpenSSL callbacks reach it through the SSL's app data, set to
/// an unretained pointer: they only run inside calls this object makes.
final class TLSServerConnection {
    enum HandshakeStep {
        case complete
        case needMoreData
        case failed(TLSHandshakeError)
    }

    enum ReadStep {
        case data(ByteBuffer)
        case needMoreData
        case closeNotify
        case failed(TLSSessionError)
    }

    private let context: TLSServerContext
    private let ssl: OpaquePointer
    private let readBIO: OpaquePointer
    private let writeBIO: OpaquePointer
    private let policy: TLSConnectionPolicy
    /// ALPN protocols in wire format (length-prefixed), in memory that stays
    /// put for the connection's life: OpenSSL's selection may point into it.
    private let alpnWire: UnsafeMutableBufferPointer<UInt8>

    private(set) var serverName: String?
    private(set) var clientOfferedALPN = false
    private(set) var certificateRequested = false
    private(set) var selectedCertificate = 0

    init(context: TLSServerContext, policy: TLSConnectionPolicy) throws(TLSConfigurationError) {
        guard let ssl = SSL_new(context.sslContext) else {
            throw .openSSL("SSL_new", OpenSSLError.drain(operation: "SSL_new").description)
        }
        guard let readBIO = BIO_new(BIO_s_mem()), let writeBIO = BIO_new(BIO_s_mem()) else {
            SSL_free(ssl)
            throw .openSSL("BIO_new", OpenSSLError.drain(operation: "BIO_new").description)
        }
        // An empty memory BIO must say "retry", not "EOF": more bytes may come.
        porthole_BIO_set_mem_eof_return(readBIO, -1)
        porthole_BIO_set_mem_eof_return(writeBIO, -1)
        SSL_set_bio(ssl, readBIO, writeBIO)
        SSL_set_accept_state(ssl)

        var wire: [UInt8] = []
        for name in policy.alpnProtocols {
            let bytes = Array(name.utf8)
            guard !bytes.isEmpty, bytes.count < 256 else { continue }
            wire.append(UInt8(bytes.count))
            wire.append(contentsOf: bytes)
        }
        let alpnWire = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(wire.count, 1))
        _ = alpnWire.initialize(from: wire)

        self.context = context
        self.ssl = ssl
        self.readBIO = readBIO
        self.writeBIO = writeBIO
        self.policy = policy
        self.alpnWire = UnsafeMutableBufferPointer(rebasing: alpnWire[0..<wire.count])
        if policy.clientCertificate == .request { requestClientCertificate() }
        _ = porthole_SSL_set_app_data(ssl, Unmanaged.passUnretained(self).toOpaque())
    }

    deinit {
        SSL_free(ssl) // frees both BIOs too
        UnsafeMutableBufferPointer(start: alpnWire.baseAddress, count: max(alpnWire.count, 1)).deallocate()
    }

    static func from(ssl: OpaquePointer) -> TLSServerConnection? {
        guard let pointer = porthole_SSL_get_app_data(ssl) else { return nil }
        return Unmanaged<TLSServerConnection>.fromOpaque(pointer).takeUnretainedValue()
    }

    // MARK: Ciphertext in and out

    func feed(_ buffer: ByteBuffer) {
        buffer.withUnsafeReadableBytes { bytes in
            guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
            // A memory BIO grows to take everything; the caller bounds input.
            _ = BIO_write(readBIO, base, Int32(bytes.count))
        }
    }

    var hasCiphertextToSend: Bool { porthole_BIO_pending(writeBIO) > 0 }

    func drainCiphertext(allocator: ByteBufferAllocator) -> ByteBuffer? {
        let pending = porthole_BIO_pending(writeBIO)
        guard pending > 0 else { return nil }
        var buffer = allocator.buffer(capacity: pending)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: pending) { bytes in
            Int(max(0, BIO_read(writeBIO, bytes.baseAddress, Int32(pending))))
        }
        return buffer
    }

    // MARK: Handshake

    func handshake() -> HandshakeStep {
        let result = SSL_do_handshake(ssl)
        if result == 1 { return .complete }
        let error = SSL_get_error(ssl, result)
        switch error {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            return .needMoreData
        default:
            let queue = OpenSSLError.drain(operation: "TLS handshake")
            return .failed(TLSHandshakeError(kind: .protocolError, reason: queue.shortReason ?? "ssl_error_\(error)",
                                             detail: queue.description))
        }
    }

    var sessionInfo: TLSSessionInfo {
        var alpnPointer: UnsafePointer<UInt8>?
        var alpnLength: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &alpnPointer, &alpnLength)
        let alpn = alpnPointer.map { String(decoding: UnsafeBufferPointer(start: $0, count: Int(alpnLength)), as: UTF8.self) }

        var peerDER: [UInt8]?
        if let peer = SSL_get1_peer_certificate(ssl) {
            peerDER = Self.derBytes(of: peer)
            X509_free(peer)
        }
        let cipher = SSL_get_current_cipher(ssl).flatMap { SSL_CIPHER_get_name($0) }.map { String(cString: $0) } ?? ""
        return TLSSessionInfo(
            version: TLSProtocolVersion(openSSLValue: SSL_version(ssl)),
            cipher: cipher,
            negotiatedALPN: alpn,
            serverName: serverName,
            clientOfferedALPN: clientOfferedALPN,
            certificateRequested: certificateRequested,
            resumed: SSL_session_reused(ssl) == 1,
            peerCertificateDER: peerDER,
            peerThumbprint: peerDER.map { Thumbprint.compute(der: $0) },
            serverCertificateName: context.configuration.certificates[selectedCertificate].name
        )
    }

    private static func derBytes(of x509: OpaquePointer) -> [UInt8]? {
        let length = i2d_X509(x509, nil)
        guard length > 0 else { return nil }
        var der = [UInt8](repeating: 0, count: Int(length))
        let written = der.withUnsafeMutableBufferPointer { buffer -> Int32 in
            var cursor: UnsafeMutablePointer<UInt8>? = buffer.baseAddress
            return i2d_X509(x509, &cursor)
        }
        return written == length ? der : nil
    }

    // MARK: Application data

    func read(allocator: ByteBufferAllocator) -> ReadStep {
        // 16 KiB is the largest TLS record payload: one SSL_read never
        // returns more, so this bounds each chunk handed downstream.
        var buffer = allocator.buffer(capacity: 16_384)
        var result: Int32 = 0
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 16_384) { bytes in
            result = SSL_read(ssl, bytes.baseAddress, Int32(bytes.count))
            return Int(max(result, 0))
        }
        if result > 0 { return .data(buffer) }
        let error = SSL_get_error(ssl, result)
        switch error {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            return .needMoreData
        case SSL_ERROR_ZERO_RETURN:
            return .closeNotify
        default:
            return .failed(TLSSessionError(detail: OpenSSLError.drain(operation: "SSL_read").description))
        }
    }

    /// Encrypts one plaintext buffer. Each call produces its own record(s):
    /// Halibut agents need every unit in a record of its own (halibut.md §4).
    func write(_ buffer: ByteBuffer) -> TLSSessionError? {
        var failure: TLSSessionError?
        buffer.withUnsafeReadableBytes { bytes in
            guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
            let result = SSL_write(ssl, base, Int32(bytes.count))
            if result <= 0 {
                failure = TLSSessionError(detail: OpenSSLError.drain(operation: "SSL_write").description)
            }
        }
        return failure
    }

    /// Queues our close_notify.
    func shutdown() {
        _ = SSL_shutdown(ssl)
        ERR_clear_error()
    }

    // MARK: Callbacks (run inside SSL_do_handshake)

    func handleClientHello(alert: UnsafeMutablePointer<Int32>?) -> Int32 {
        serverName = Self.serverName(from: ssl)
        var extensionData: UnsafePointer<UInt8>?
        var extensionLength = 0
        clientOfferedALPN = SSL_client_hello_get0_ext(ssl, UInt32(TLSEXT_TYPE_application_layer_protocol_negotiation), &extensionData, &extensionLength) == 1

        if policy.clientCertificate == .auto && !clientOfferedALPN {
            requestClientCertificate()
        }

        selectedCertificate = context.certificateIndex(serverName: serverName, forcedName: policy.certificateName)
        let prepared = context.certificates[selectedCertificate]
        let identity = prepared.entry.identity
        guard SSL_use_cert_and_key(ssl, identity.leaf.x509, identity.privateKey.evpPKey, prepared.chainStack, 1) == 1 else {
            alert?.pointee = SSL_AD_INTERNAL_ERROR
            return SSL_CLIENT_HELLO_ERROR
        }
        return SSL_CLIENT_HELLO_SUCCESS
    }

    func selectALPN(out: UnsafeMutablePointer<UnsafePointer<UInt8>?>?, outLength: UnsafeMutablePointer<UInt8>?,
                    offered: UnsafePointer<UInt8>?, offeredLength: UInt32) -> Int32 {
        guard alpnWire.count > 0, let offered, let out, let outLength else { return SSL_TLSEXT_ERR_NOACK }
        var selected: UnsafeMutablePointer<UInt8>?
        let status = SSL_select_next_proto(&selected, outLength, alpnWire.baseAddress, UInt32(alpnWire.count), offered, offeredLength)
        guard status == OPENSSL_NPN_NEGOTIATED, let selected else {
            // No common protocol: carry on without ALPN rather than failing;
            // stage 2 still recognises HTTP/1.1 and the h2 preface by bytes.
            return SSL_TLSEXT_ERR_NOACK
        }
        out.pointee = UnsafePointer(selected)
        return SSL_TLSEXT_ERR_OK
    }

    /// Ask for a certificate with an empty CA list and accept whatever comes
    /// (or nothing): identity is the thumbprint, checked later by the
    /// polling layer (halibut.md §1). Never by renegotiation.
    private func requestClientCertificate() {
        certificateRequested = true
        SSL_set_verify(ssl, SSL_VERIFY_PEER, { _, _ in 1 })
    }

    /// SNI from the raw extension: in the ClientHello callback
    /// `SSL_get_servername` is not yet populated (RFC 6066 §3 layout).
    private static func serverName(from ssl: OpaquePointer) -> String? {
        var data: UnsafePointer<UInt8>?
        var length = 0
        guard SSL_client_hello_get0_ext(ssl, UInt32(TLSEXT_TYPE_server_name), &data, &length) == 1,
              let data, length >= 5 else { return nil }
        let bytes = UnsafeBufferPointer(start: data, count: length)
        let listLength = Int(bytes[0]) << 8 | Int(bytes[1])
        guard listLength + 2 <= length, bytes[2] == 0 else { return nil }
        let nameLength = Int(bytes[3]) << 8 | Int(bytes[4])
        guard 5 + nameLength <= length, nameLength > 0 else { return nil }
        let name = String(decoding: bytes[5..<(5 + nameLength)], as: UTF8.self)
        return name.lowercased()
    }
}

extension OpenSSLError {
    /// The first entry's reason as a short snake_case label (e.g.
    /// `no_shared_cipher`, `unsupported_protocol`), suitable for a metric.
    var shortReason: String? {
        guard let first = entries.first, let text = ERR_reason_error_string(first.code) else { return nil }
        return String(cString: text).lowercased().replacingOccurrences(of: " ", with: "_")
    }
}
