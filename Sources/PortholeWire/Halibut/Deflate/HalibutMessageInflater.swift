// Reading Halibut messages: incremental raw INFLATE (spec §4).
//
// A message has no length prefix: it ends where its deflate stream ends, and
// the bytes after that belong to the next unit (a control line or data-stream
// frame). So the inflater must stop exactly at Z_STREAM_END and say how many
// input bytes it used. zlib's raw inflate does exactly that: it only pulls
// input bits as it needs them and hands back whole unused bytes, so
// `avail_in` at Z_STREAM_END is precisely the leftover.
//
// It also must not wait for more input once the final block is complete
// (the hazard that stalls Mono's reader, vectors README finding 3): we
// inflate everything we are given and report completion as soon as zlib
// does, whatever the caller's read sizes were.

import CZlib

/// Why a message unit could not be inflated.
public enum HalibutInflateError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The bytes are not a valid raw deflate stream (zlib's message attached).
    case malformedDeflateStream(detail: String)
    /// The inflated message would exceed the configured limit.
    case messageTooLarge(limit: Int)
    /// Input ended inside a deflate stream.
    case truncatedMessage(inflatedSoFar: Int)
    /// zlib itself failed (out of memory or a programming error).
    case zlibFailure(operation: String, code: Int32)

    public var description: String {
        switch self {
        case .malformedDeflateStream(let detail):
            return "Halibut message is not a valid raw DEFLATE stream (\(detail))"
        case .messageTooLarge(let limit):
            return "Halibut message inflates to more than the configured limit of \(limit) bytes; raise the maximum message size if such messages are expected"
        case .truncatedMessage(let inflatedSoFar):
            return "input ended inside a Halibut message after \(inflatedSoFar) inflated bytes"
        case let .zlibFailure(operation, code):
            return "zlib \(operation) failed with code \(code)"
        }
    }
}

/// What one `feed` call achieved.
public enum HalibutInflateProgress: Hashable, Sendable {
    /// All input was used; the message is not complete yet.
    case needMoreInput
    /// The deflate stream ended after `consumed` bytes of this input; the
    /// rest of the input belongs to the next unit. `bson` is the message.
    case complete(bson: [UInt8], consumed: Int)
}

/// Inflates one message after another from bytes fed as they arrive.
///
/// A final class rather than a struct because it owns zlib's inflate state:
/// that state is heap memory with a pointer back to its `z_stream`, so it
/// must have exactly one owner, must not be copied, and must be freed exactly
/// once. `deinit` gives that deterministically (Swift frees the object as
/// soon as its last reference goes, no GC delay). Not `Sendable`: use it from
/// one connection's context only.
public final class HalibutMessageInflater {
    /// Default bound on an inflated message. The protocol has none (§10);
    /// large payloads travel as DataStreams, so real messages are small.
    public static let defaultMaxMessageBytes = 64 * 1024 * 1024

    public let maxMessageBytes: Int

    private enum State {
        /// Between messages: the next byte starts a new deflate stream.
        case idle
        /// Inside a message; `output` holds what has been inflated so far.
        case inflating
        /// A previous error; every further `feed` repeats it until `reset()`.
        case failed(HalibutInflateError)
    }

    private var state: State = .idle
    private var output: [UInt8] = []
    /// Allocated once so zlib's back-pointer stays valid (see class comment).
    private let stream: UnsafeMutablePointer<z_stream>
    private var zlibReady = false
    private static let chunkSize = 16 * 1024
    /// Output buffer, allocated while a message is being inflated and freed
    /// when it ends: an idle polling connection keeps one inflater, and the
    /// idle-agent memory target (benchmarks/README.md) is 8 KiB per agent.
    private var chunk: [UInt8] = []

    public init(maxMessageBytes: Int = HalibutMessageInflater.defaultMaxMessageBytes) {
        self.maxMessageBytes = maxMessageBytes
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
    }

    deinit {
        if zlibReady { inflateEnd(stream) }
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    /// True while part of a message has been fed but not its end; at end of
    /// input that means the message was truncated.
    public var isInsideMessage: Bool {
        if case .inflating = state { return true }
        return false
    }

    /// Drops any partial message and any earlier error.
    public func reset() {
        output = []
        state = .idle
        if zlibReady && inflateReset(stream) != Z_OK {
            inflateEnd(stream)
            zlibReady = false
        }
    }

    public func feed<S: Sequence<UInt8>>(_ input: S) throws(HalibutInflateError) -> HalibutInflateProgress {
        try withHalibutBytes(input) { (raw) throws(HalibutInflateError) in try feed(raw) }
    }

    /// Inflates as much of `input` as belongs to the current message.
    public func feed(_ input: UnsafeRawBufferPointer) throws(HalibutInflateError) -> HalibutInflateProgress {
        switch state {
        case .failed(let error):
            throw error
        case .idle:
            if input.isEmpty { return .needMoreInput }
            if !zlibReady {
                let code = porthole_inflate_init_raw(stream)
                guard code == Z_OK else { throw fail(.zlibFailure(operation: "inflateInit2", code: code)) }
                zlibReady = true
            }
            state = .inflating
        case .inflating:
            break
        }
        // zlib counts input in UInt32; feed larger buffers in pieces.
        var offset = 0
        while true {
            let piece = min(input.count - offset, Int(UInt32.max))
            let (progress, used) = try inflatePiece(UnsafeRawBufferPointer(rebasing: input[offset..<(offset + piece)]))
            offset += used
            if case .complete(let bson, _) = progress { return .complete(bson: bson, consumed: offset) }
            if offset == input.count { return .needMoreInput }
        }
    }

    /// Convenience for a unit that is already complete in memory: inflates
    /// one message from the start of `bytes`.
    public static func inflateMessage(
        _ bytes: [UInt8], maxMessageBytes: Int = defaultMaxMessageBytes
    ) throws(HalibutInflateError) -> (bson: [UInt8], consumed: Int) {
        let inflater = HalibutMessageInflater(maxMessageBytes: maxMessageBytes)
        switch try inflater.feed(bytes) {
        case .complete(let bson, let consumed): return (bson, consumed)
        case .needMoreInput: throw .truncatedMessage(inflatedSoFar: inflater.output.count)
        }
    }

    private func fail(_ error: HalibutInflateError) -> HalibutInflateError {
        state = .failed(error)
        output = []
        return error
    }

    private func inflatePiece(_ input: UnsafeRawBufferPointer) throws(HalibutInflateError) -> (HalibutInflateProgress, Int) {
        if let base = input.baseAddress {
            stream.pointee.next_in = UnsafeMutablePointer(mutating: base.assumingMemoryBound(to: Bytef.self))
        }
        stream.pointee.avail_in = UInt32(input.count)
        // Never leave zlib pointing into the caller's buffer.
        defer {
            stream.pointee.next_in = nil
            stream.pointee.avail_in = 0
        }
        if chunk.isEmpty { chunk = [UInt8](repeating: 0, count: HalibutMessageInflater.chunkSize) }
        while true {
            let (code, produced) = zlibStep(stream, into: &chunk) { inflate($0, Z_NO_FLUSH) }
            guard produced <= maxMessageBytes - output.count else {
                throw fail(.messageTooLarge(limit: maxMessageBytes))
            }
            output.append(contentsOf: chunk[0..<produced])
            let used = input.count - Int(stream.pointee.avail_in)
            switch code {
            case Z_STREAM_END:
                let bson = output
                output = []
                state = .idle
                // End rather than reset: zlib's state and 32 KiB window would
                // otherwise stay allocated while the connection idles; the
                // next message initialises a fresh stream (microseconds).
                inflateEnd(stream)
                zlibReady = false
                chunk = []
                return (.complete(bson: bson, consumed: used), used)
            case Z_OK, Z_BUF_ERROR:
                // Z_BUF_ERROR only means "no progress possible": with all
                // input used that is simply "need more input".
                if stream.pointee.avail_in == 0 && produced < chunk.count {
                    return (.needMoreInput, used)
                }
                if code == Z_BUF_ERROR && produced == 0 {
                    throw fail(.zlibFailure(operation: "inflate", code: code))
                }
            case Z_DATA_ERROR:
                let detail = stream.pointee.msg.map { String(cString: $0) } ?? "invalid data"
                throw fail(.malformedDeflateStream(detail: detail))
            case Z_NEED_DICT:
                throw fail(.malformedDeflateStream(detail: "stream asks for a preset dictionary"))
            default:
                throw fail(.zlibFailure(operation: "inflate", code: code))
            }
        }
    }
}
