// Writing Halibut messages: raw DEFLATE of one BSON document (spec §4).
//
// Each message is its own deflate stream with no header and no length prefix
// (zlib windowBits -15, wrapped in CZlib's `porthole_deflate_init_raw`). We
// compress with Z_SYNC_FLUSH before Z_FINISH: measured against the real
// Mono/.NET reader, a stream ending in a single final block made it ask the
// socket for more input after the last byte in about 1 of 7 responses, so it
// blocked and swallowed the next unit; with the sync flush first it never did
// (spec §4; vectors README finding 3). Halibut itself writes a plain Z_FINISH
// stream; `.finishOnly` reproduces those bytes exactly (for tests and tools).

import CZlib

/// A zlib call failed while compressing. Only resource exhaustion or a
/// programming error can cause this; the input cannot.
public struct HalibutDeflateError: Error, Hashable, Sendable, CustomStringConvertible {
    public var operation: String
    public var zlibCode: Int32

    public var description: String {
        "zlib \(operation) failed with code \(zlibCode) while compressing a Halibut message"
    }
}

/// Compresses BSON documents into Halibut message units.
public struct HalibutMessageCompressor: Sendable {
    /// How the deflate stream is ended.
    public enum Termination: Sendable, Hashable {
        /// `Z_SYNC_FLUSH` then `Z_FINISH`: what Porthole writes (spec §4).
        case syncFlushThenFinish
        /// A single `Z_FINISH`: byte-identical to real Halibut's output.
        case finishOnly
    }

    /// zlib compression level; 6 is zlib's default and what Halibut uses.
    public var level: Int32
    public var termination: Termination

    public init(level: Int32 = 6, termination: Termination = .syncFlushThenFinish) {
        self.level = level
        self.termination = termination
    }

    /// One complete raw-deflate stream holding `bson`.
    public func compress(_ bson: [UInt8]) throws(HalibutDeflateError) -> [UInt8] {
        // zlib keeps a pointer back to the z_stream inside its private state
        // and checks it on every call, so the struct must not move: it lives
        // in memory we allocate, and is freed before returning on every path.
        let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        defer {
            stream.deinitialize(count: 1)
            stream.deallocate()
        }
        let initCode = porthole_deflate_init_raw(stream, level)
        guard initCode == Z_OK else { throw HalibutDeflateError(operation: "deflateInit2", zlibCode: initCode) }
        defer { deflateEnd(stream) }

        guard bson.count <= Int(UInt32.max) else {
            throw HalibutDeflateError(operation: "deflate (input over 4 GiB)", zlibCode: Z_BUF_ERROR)
        }
        var output: [UInt8] = []
        output.reserveCapacity(bson.count / 2 + 64)
        let chunkSize = 16 * 1024
        var chunk = [UInt8](repeating: 0, count: chunkSize)

        let result: Result<Void, HalibutDeflateError> = bson.withUnsafeBytes { input in
            if let base = input.baseAddress {
                stream.pointee.next_in = UnsafeMutablePointer(mutating: base.assumingMemoryBound(to: Bytef.self))
            }
            stream.pointee.avail_in = UInt32(input.count)
            defer {
                stream.pointee.next_in = nil
                stream.pointee.avail_in = 0
            }
            // Runs deflate with `flush` until zlib has nothing more to emit
            // for it: for Z_FINISH that is Z_STREAM_END, otherwise an output
            // buffer that was not filled completely (zlib's documented
            // signal that the flush is done).
            func run(_ flush: Int32) -> Result<Void, HalibutDeflateError> {
                while true {
                    let (code, produced) = zlibStep(stream, into: &chunk) { deflate($0, flush) }
                    output.append(contentsOf: chunk[0..<produced])
                    switch code {
                    case Z_STREAM_END:
                        return .success(())
                    case Z_OK, Z_BUF_ERROR:
                        if flush != Z_FINISH && produced < chunkSize && stream.pointee.avail_in == 0 {
                            return .success(())
                        }
                        if code == Z_BUF_ERROR && produced == 0 {
                            return .failure(HalibutDeflateError(operation: "deflate", zlibCode: code))
                        }
                    default:
                        return .failure(HalibutDeflateError(operation: "deflate", zlibCode: code))
                    }
                }
            }
            if termination == .syncFlushThenFinish {
                if case .failure(let error) = run(Z_SYNC_FLUSH) { return .failure(error) }
            }
            return run(Z_FINISH)
        }
        try result.get()
        return output
    }
}
