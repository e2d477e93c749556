import COpenSSL
import NIOCore

/// One OpenSSL session over two memory BIOs, either role: ciphertext goes in
/// with `feed`, comes out with `drainCiphertext`; no I/O of its own. The
/// role-specific parts (the server's ClientHello and ALPN callbacks, the
/// client's SNI and pinned-thumbprint check) live in `TLSServerConnection`
/// and `TLSClientConnection`, which each own one of these.
///
/// Owns the `SSL*` (which owns both BIOs). Not thread-safe: it lives on one
/// event loop.
final class TLSMemorySession {
    enum Role {
        case server
        case client
    }

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

    let ssl: OpaquePointer
    private var readBIO: OpaquePointer
    private var writeBIO: OpaquePointer

    init(sslContext: OpaquePointer, role: Role) throws(TLSConfigurationError) {
        guard let ssl = SSL_new(sslContext) else {
            throw .openSSL("SSL_new", OpenSSLError.drain(operation: "SSL_new").description)
        }
        guard let readBIO = Self.makeMemoryBIO(), let writeBIO = Self.makeMemoryBIO() else {
            SSL_free(ssl)
            throw .openSSL("BIO_new", OpenSSLError.drain(operation: "BIO_new").description)
        }
        SSL_set_bio(ssl, readBIO, writeBIO)
        switch role {
        case .server: SSL_set_accept_state(ssl)
        case .client: SSL_set_connect_state(ssl)
        }
        self.ssl = ssl
        self.readBIO = readBIO
        self.writeBIO = writeBIO
    }

    deinit {
        SSL_free(ssl) // frees both BIOs too
    }

    private static func makeMemoryBIO() -> OpaquePointer? {
        guard let bio = BIO_new(BIO_s_mem()) else { return nil }
        // An empty memory BIO must say "retry", not "EOF": more bytes may come.
        porthole_BIO_set_mem_eof_return(bio, -1)
        return bio
    }

    /// Frees the memory BIOs' buffers when they are empty but hold more
    /// than `threshold` bytes of capacity. A memory BIO keeps the largest
    /// buffer it ever needed: the handshake's flights (certificates) and any
    /// burst a busy connection once had would otherwise stay allocated for
    /// the connection's life, which for a polling agent is days. Swapping in
    /// a fresh BIO is the only way to give the buffer back (`BIO_reset`
    /// keeps it).
    func releaseIdleBuffers(threshold: Int) {
        if porthole_BIO_pending(readBIO) == 0, porthole_BIO_mem_capacity(readBIO) > threshold, let fresh = Self.makeMemoryBIO() {
            SSL_set0_rbio(ssl, fresh) // frees the old one
            readBIO = fresh
        }
        if porthole_BIO_pending(writeBIO) == 0, porthole_BIO_mem_capacity(writeBIO) > threshold, let fresh = Self.makeMemoryBIO() {
            SSL_set0_wbio(ssl, fresh)
            writeBIO = fresh
        }
    }

    /// Capacity held by the two BIOs (for tests).
    var bufferedCapacity: Int { porthole_BIO_mem_capacity(readBIO) + porthole_BIO_mem_capacity(writeBIO) }

    /// Lets OpenSSL callbacks find the role object that owns this session.
    func setAppData(_ owner: AnyObject) {
        _ = porthole_SSL_set_app_data(ssl, Unmanaged.passUnretained(owner).toOpaque())
    }

    static func appData<Owner: AnyObject>(of ssl: OpaquePointer, as _: Owner.Type) -> Owner? {
        guard let pointer = porthole_SSL_get_app_data(ssl) else { return nil }
        return Unmanaged<Owner>.fromOpaque(pointer).takeUnretainedValue()
    }

    // MARK: Ciphertext in and out

    func feed(_ buffer: ByteBuffer) {
        buffer.withUnsafeReadableBytes { bytes in
            guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
            // A memory BIO grows to take everything; the caller bounds input.
            _ = BIO_write(readBIO, base, Int32(bytes.count))
        }
    }

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

    /// Applies a version range to a context being configured (both roles).
    static func setProtocolVersions(_ ctx: OpaquePointer, minimum: TLSProtocolVersion, maximum: TLSProtocolVersion) throws(TLSConfigurationError) {
        guard minimum <= maximum else { throw .invalidVersionRange(minimum, maximum) }
        guard porthole_SSL_CTX_set_min_proto_version(ctx, minimum.openSSLValue) == 1,
              porthole_SSL_CTX_set_max_proto_version(ctx, maximum.openSSLValue) == 1 else {
            throw .openSSL("protocol versions", OpenSSLError.drain(operation: "set protocol versions").description)
        }
    }

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

    // MARK: Facts about the established session

    var negotiatedALPN: String? {
        var alpnPointer: UnsafePointer<UInt8>?
        var alpnLength: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &alpnPointer, &alpnLength)
        return alpnPointer.map { String(decoding: UnsafeBufferPointer(start: $0, count: Int(alpnLength)), as: UTF8.self) }
    }

    var peerCertificateDER: [UInt8]? {
        guard let peer = SSL_get1_peer_certificate(ssl) else { return nil }
        defer { X509_free(peer) }
        return Self.derBytes(of: peer)
    }

    var cipher: String {
        SSL_get_current_cipher(ssl).flatMap { SSL_CIPHER_get_name($0) }.map { String(cString: $0) } ?? ""
    }

    var version: TLSProtocolVersion? { TLSProtocolVersion(openSSLValue: SSL_version(ssl)) }

    var resumed: Bool { SSL_session_reused(ssl) == 1 }

    /// The facts both roles report; the role supplies what only it knows.
    func sessionInfo(serverName: String?, clientOfferedALPN: Bool, certificateRequested: Bool,
                     serverCertificateName: String) -> TLSSessionInfo {
        let peerDER = peerCertificateDER
        return TLSSessionInfo(
            version: version,
            cipher: cipher,
            negotiatedALPN: negotiatedALPN,
            serverName: serverName,
            clientOfferedALPN: clientOfferedALPN,
            certificateRequested: certificateRequested,
            resumed: resumed,
            peerCertificateDER: peerDER,
            peerThumbprint: peerDER.map { Thumbprint.compute(der: $0) },
            serverCertificateName: serverCertificateName
        )
    }

    static func derBytes(of x509: OpaquePointer) -> [UInt8]? {
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
    /// Halibut peers need every unit in a record of its own (halibut.md §4).
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
}

/// What `TLSHandler` needs from either role: the session plus the facts it
/// reports when the handshake completes.
protocol TLSRoleConnection: AnyObject {
    var session: TLSMemorySession { get }
    /// The client speaks first: the handler starts the handshake as soon as
    /// the channel is active.
    var initiatesHandshake: Bool { get }
    /// "client" or "server": the other side, for error texts.
    var peerRoleName: String { get }
    var sessionInfo: TLSSessionInfo { get }
    /// A more precise failure than OpenSSL's, when the role knows one (e.g.
    /// the pinned thumbprint did not match).
    func refineHandshakeFailure(_ error: TLSHandshakeError) -> TLSHandshakeError
}

extension TLSRoleConnection {
    func refineHandshakeFailure(_ error: TLSHandshakeError) -> TLSHandshakeError { error }
}
