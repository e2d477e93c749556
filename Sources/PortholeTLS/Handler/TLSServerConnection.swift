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
    /// DER of the peer's leaf certificate (the client's on a server, the
    /// server's on a client), if it sent one.
    public var peerCertificateDER: [UInt8]?
    /// SHA-1 over `peerCertificateDER`, 40 upper-case hex digits (how agents
    /// and servers name each other, halibut.md §1).
    public var peerThumbprint: String?
    /// Name of the certificate Porthole presented (empty on a client).
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

/// The server side of one TLS session: certificate selection by SNI, ALPN
/// choice and the client-certificate request, on top of a `TLSMemorySession`
/// (ciphertext in and out, no I/O), so the NIO handler stays a thin adapter
/// and this type can be driven in tests.
///
/// Not thread-safe: it lives on one event loop. OpenSSL callbacks reach it
/// through the SSL's app data, set to an unretained pointer: they only run
/// inside calls this object makes.
final class TLSServerConnection: TLSRoleConnection {
    let session: TLSMemorySession
    private var ssl: OpaquePointer { session.ssl }
    private let context: TLSServerContext
    private let policy: TLSConnectionPolicy
    /// ALPN protocols in wire format (length-prefixed), in memory that stays
    /// put for the connection's life: OpenSSL's selection may point into it.
    private let alpnWire: UnsafeMutableBufferPointer<UInt8>

    private(set) var serverName: String?
    private(set) var clientOfferedALPN = false
    private(set) var certificateRequested = false
    private(set) var selectedCertificate = 0

    var initiatesHandshake: Bool { false }
    var peerRoleName: String { "client" }

    init(context: TLSServerContext, policy: TLSConnectionPolicy) throws(TLSConfigurationError) {
        let session = try TLSMemorySession(sslContext: context.sslContext, role: .server)

        var wire: [UInt8] = []
        for name in policy.alpnProtocols {
            let bytes = Array(name.utf8)
            guard !bytes.isEmpty, bytes.count < 256 else { continue }
            wire.append(UInt8(bytes.count))
            wire.append(contentsOf: bytes)
        }
        let alpnWire = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(wire.count, 1))
        _ = alpnWire.initialize(from: wire)

        self.session = session
        self.context = context
        self.policy = policy
        self.alpnWire = UnsafeMutableBufferPointer(rebasing: alpnWire[0..<wire.count])
        if policy.clientCertificate == .request { requestClientCertificate() }
        session.setAppData(self)
    }

    deinit {
        UnsafeMutableBufferPointer(start: alpnWire.baseAddress, count: max(alpnWire.count, 1)).deallocate()
    }

    static func from(ssl: OpaquePointer) -> TLSServerConnection? {
        TLSMemorySession.appData(of: ssl, as: TLSServerConnection.self)
    }

    var sessionInfo: TLSSessionInfo {
        session.sessionInfo(serverName: serverName, clientOfferedALPN: clientOfferedALPN, certificateRequested: certificateRequested,
                            serverCertificateName: context.configuration.certificates[selectedCertificate].name)
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
