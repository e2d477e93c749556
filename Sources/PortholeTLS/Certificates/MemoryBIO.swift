import COpenSSL

/// Scoped OpenSSL memory BIOs: each BIO lives exactly as long as the closure
/// that uses it and is freed in one place, on every path.
enum MemoryBIO {
    /// Runs `body` with a read-only BIO over `bytes`. BIO_new_mem_buf does not
    /// copy, so the BIO must not outlive the buffer: it is freed before
    /// `withUnsafeBytes` returns.
    static func reading<T>(_ bytes: [UInt8], _ body: (OpaquePointer) throws -> T) throws -> T {
        try bytes.withUnsafeBytes { buffer in
            guard let bio = BIO_new_mem_buf(buffer.baseAddress, Int32(buffer.count)) else {
                throw CertificateError.openSSL(.drain(operation: "BIO_new_mem_buf"))
            }
            defer { BIO_free(bio) }
            return try body(bio)
        }
    }

    /// Runs `body` with an empty, growable memory BIO and returns what it wrote.
    static func collecting(_ body: (OpaquePointer) throws -> Void) throws -> [UInt8] {
        guard let bio = BIO_new(BIO_s_mem()) else {
            throw CertificateError.openSSL(.drain(operation: "BIO_new(BIO_s_mem())"))
        }
        defer { BIO_free(bio) }
        try body(bio)
        var data: UnsafeMutablePointer<CChar>?
        let count = porthole_certs_BIO_get_mem_data(bio, &data)
        guard count > 0, let data else { return [] }
        return data.withMemoryRebound(to: UInt8.self, capacity: count) {
            Array(UnsafeBufferPointer(start: $0, count: count))
        }
    }
}
