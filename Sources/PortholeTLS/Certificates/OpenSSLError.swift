import COpenSSL

/// The contents of OpenSSL's error queue after a failed call, as text.
///
/// The queue is thread-local and accumulates until someone drains it, so
/// every failing OpenSSL call site must call `OpenSSLError.drain(…)` on the
/// same thread, before making any other OpenSSL call; otherwise stale entries
/// end up attached to an unrelated later failure.
public struct OpenSSLError: Error, Sendable, CustomStringConvertible {
    /// One queue entry.
    public struct Entry: Sendable, Hashable, CustomStringConvertible {
        /// The packed error code (`ERR_get_error`).
        public let code: UInt
        /// `ERR_GET_LIB(code)`, e.g. `ERR_LIB_PEM`.
        public let library: Int32
        /// `ERR_GET_REASON(code)`.
        public let reason: Int32
        /// `ERR_error_string_n` text, e.g. `error:0480006C:PEM routines::no start line`,
        /// followed by the entry's extra data when OpenSSL attached any.
        public let text: String

        public var description: String { text }
    }

    /// What Porthole was doing, e.g. "PKCS12_parse".
    public let operation: String
    /// Oldest first.
    public let entries: [Entry]

    public init(operation: String, entries: [Entry]) {
        self.operation = operation
        self.entries = entries
    }

    public var description: String {
        if entries.isEmpty {
            return "\(operation) failed (OpenSSL reported no error detail)"
        }
        return "\(operation) failed: " + entries.map(\.text).joined(separator: "; ")
    }

    /// Empties this thread's error queue into a value.
    package static func drain(operation: String) -> OpenSSLError {
        var entries: [Entry] = []
        while true {
            var data: UnsafePointer<CChar>?
            var flags: Int32 = 0
            let code = ERR_get_error_all(nil, nil, nil, &data, &flags)
            if code == 0 { break }
            entries.append(Entry(code: code, extraData: (flags & ERR_TXT_STRING) != 0 ? data : nil))
        }
        return OpenSSLError(operation: operation, entries: entries)
    }

    /// Discards whatever is queued on this thread. Used where a failure is
    /// expected and handled (e.g. the "no start line" that ends a PEM scan)
    /// so it cannot leak into the next real error.
    package static func clearQueue() {
        ERR_clear_error()
    }

    /// True when OpenSSL said an algorithm is not available, as opposed to the
    /// input being broken. OpenSSL 3 reports a cipher that only the legacy
    /// provider has (RC2, DES…) this way when decrypting old PKCS#12 files.
    public var isUnsupportedAlgorithm: Bool {
        entries.contains { entry in
            entry.reason == porthole_certs_ERR_R_UNSUPPORTED
                || (entry.library == ERR_LIB_EVP
                    && (entry.reason == EVP_R_UNSUPPORTED_ALGORITHM
                        || entry.reason == EVP_R_UNSUPPORTED_CIPHER
                        || entry.reason == EVP_R_UNSUPPORTED_PRIVATE_KEY_ALGORITHM
                        || entry.reason == EVP_R_UNSUPPORTED_KEY_DERIVATION_FUNCTION))
        }
    }
}

extension OpenSSLError.Entry {
    fileprivate init(code: UInt, extraData: UnsafePointer<CChar>?) {
        self.code = code
        self.library = ERR_GET_LIB(code)
        self.reason = ERR_GET_REASON(code)
        // 256 bytes is ERR_error_string_n's documented comfortable size; it
        // truncates (never overflows) longer texts.
        var buffer = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(code, &buffer, buffer.count)
        var text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if let extraData, extraData.pointee != 0 {
            text += " (\(String(cString: extraData)))"
        }
        self.text = text
    }
}
