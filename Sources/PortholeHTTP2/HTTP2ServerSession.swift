import CNGHTTP2
import Foundation
import NIOCore

/// One server-side nghttp2 session driven by memory: bytes in with
/// `receive`, bytes out with `pendingOutput`, what happened with `takeEvents`.
/// No I/O of its own, so the NIO handler stays thin. Owns the
/// `nghttp2_session*`; callbacks reach this object through nghttp2's user
/// data (unretained: they only run inside calls made from here, on one
/// event loop).
///
/// Streaming both ways:
/// - request bodies: automatic WINDOW_UPDATEs are off, so the peer may only
///   send what the layer above has `consume`d (RFC 9113 §5.2: flow control is
///   how a receiver applies backpressure);
/// - response bodies: a data provider that answers `NGHTTP2_ERR_DEFERRED`
///   while the stream's queue is empty; `sendBody` resumes it.
final class HTTP2ServerSession {
    struct Limits {
        var maxConcurrentStreams: UInt32 = 100
        var maxHeaderListBytes = 64 << 10
        /// Per-stream receive window we advertise; with no automatic window
        /// updates this bounds the request bytes buffered per stream.
        var initialStreamWindow: Int32 = 1 << 20
        /// The connection-level receive window (bounds all streams together).
        var connectionWindow: Int32 = 4 << 20
        /// Flood limits (CVE-2019-9512/9515, CVE-2023-44487, CVE-2024-27316):
        /// queued outbound ACKs (PING/SETTINGS), SETTINGS entries per frame,
        /// RST_STREAM token bucket, CONTINUATION frames per header block.
        var maxOutboundAcks = 1_000
        var maxSettingsEntries = 32
        var resetBurst: UInt64 = 200
        var resetsPerSecond: UInt64 = 33
        /// Our own rapid-reset guard (CVE-2023-44487), tighter than
        /// nghttp2's and independent of whether its build has one: client
        /// RST_STREAMs spend tokens; with none left the connection gets
        /// GOAWAY(ENHANCE_YOUR_CALM).
        var clientResetBurst = 100
        var clientResetsPerSecond = 20.0
        var maxContinuations = 8
        /// Above this many queued response bytes a stream counts as full.
        var responseHighWater = 256 << 10
    }

    private struct InboundStream {
        var head: HTTP2RequestHead
        var headerBytes = 0
        var tooLarge = false
        var headComplete = false
        var trailers: [(name: String, value: String)] = []
    }

    private struct OutboundBody {
        var chunks: CircularBuffer<ByteBuffer> = []
        var queuedBytes = 0
        var ended = false
        var trailers: [(name: String, value: String)] = []
        var deferred = false
        var wantsDrainNotice = false
    }

    private var session: OpaquePointer?
    let limits: Limits
    private let allocator: ByteBufferAllocator
    private var inbound: [Int32: InboundStream] = [:]
    private var outbound: [Int32: OutboundBody] = [:]
    private var events: [HTTP2StreamEvent] = []
    /// Streams nghttp2 has not closed yet (both directions).
    private(set) var openStreams = 0
    private var resetTokens: Double
    private var resetTokensUpdated = ContinuousClock.now
    /// Set when a flood limit of ours was hit; `receive` then fails.
    private(set) var floodDetected: String?

    init(limits: Limits = Limits(), allocator: ByteBufferAllocator = ByteBufferAllocator()) throws(HTTP2SessionError) {
        self.limits = limits
        self.allocator = allocator
        self.resetTokens = Double(limits.clientResetBurst)
        var callbacks: OpaquePointer?
        guard nghttp2_session_callbacks_new(&callbacks) == 0, let callbacks else { throw .setup("nghttp2_session_callbacks_new") }
        defer { nghttp2_session_callbacks_del(callbacks) }
        nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks) { _, frame, userData in
            guard let frame, let session = HTTP2ServerSession.from(userData) else { return 0 }
            return session.beginHeaders(frame)
        }
        nghttp2_session_callbacks_set_on_header_callback(callbacks) { _, frame, name, nameLength, value, valueLength, _, userData in
            guard let frame, let name, let value, let session = HTTP2ServerSession.from(userData) else { return 0 }
            return session.header(frame, name: UnsafeBufferPointer(start: name, count: nameLength),
                                  value: UnsafeBufferPointer(start: value, count: valueLength))
        }
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks) { _, _, streamID, data, length, userData in
            guard let data, let session = HTTP2ServerSession.from(userData) else { return 0 }
            return session.dataChunk(streamID: streamID, UnsafeRawBufferPointer(start: data, count: length))
        }
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks) { _, frame, userData in
            guard let frame, let session = HTTP2ServerSession.from(userData) else { return 0 }
            return session.frameReceived(frame)
        }
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks) { _, streamID, errorCode, userData in
            guard let session = HTTP2ServerSession.from(userData) else { return 0 }
            session.streamClosed(streamID, errorCode: errorCode)
            return 0
        }
        var option: OpaquePointer?
        guard nghttp2_option_new(&option) == 0, let option else { throw .setup("nghttp2_option_new") }
        defer { nghttp2_option_del(option) }
        nghttp2_option_set_no_auto_window_update(option, 1)
        nghttp2_option_set_max_outbound_ack(option, limits.maxOutboundAcks)
        nghttp2_option_set_max_settings(option, limits.maxSettingsEntries)
        nghttp2_option_set_stream_reset_rate_limit(option, limits.resetBurst, limits.resetsPerSecond)
        nghttp2_option_set_max_continuations(option, limits.maxContinuations)

        var created: OpaquePointer?
        guard nghttp2_session_server_new2(&created, callbacks, nil, option) == 0, let created else {
            throw .setup("nghttp2_session_server_new2")
        }
        session = created
        nghttp2_session_set_user_data(created, Unmanaged.passUnretained(self).toOpaque())

        var settings = [
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS.rawValue), value: limits.maxConcurrentStreams),
            // Advertised above the enforced limit on purpose: a client that
            // sends a bit more gets a readable 431 (RFC 9113 §10.5.1) instead
            // of failing on its own with no explanation.
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE.rawValue),
                                   value: UInt32(min(limits.maxHeaderListBytes * 2, Int(UInt32.max)))),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue), value: UInt32(limits.initialStreamWindow)),
        ]
        guard nghttp2_submit_settings(created, UInt8(NGHTTP2_FLAG_NONE.rawValue), &settings, settings.count) == 0 else {
            throw .setup("nghttp2_submit_settings")
        }
        // The connection window is not a setting (RFC 9113 §6.9.2): raise it
        // with a WINDOW_UPDATE on stream 0.
        guard nghttp2_session_set_local_window_size(created, UInt8(NGHTTP2_FLAG_NONE.rawValue), 0, limits.connectionWindow) == 0 else {
            throw .setup("nghttp2_session_set_local_window_size")
        }
    }

    deinit {
        nghttp2_session_del(session)
    }

    private static func from(_ userData: UnsafeMutableRawPointer?) -> HTTP2ServerSession? {
        userData.map { Unmanaged<HTTP2ServerSession>.fromOpaque($0).takeUnretainedValue() }
    }

    // MARK: Driving

    /// Feeds received bytes. Throws when the connection must end (nghttp2
    /// has then queued a GOAWAY with the right code, e.g. after a flood).
    func receive(_ bytes: UnsafeRawBufferPointer) throws(HTTP2SessionError) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        let result = nghttp2_session_mem_recv(session, base.assumingMemoryBound(to: UInt8.self), bytes.count)
        if result < 0 { throw .protocolError(String(cString: nghttp2_strerror(Int32(result)))) }
        if let floodDetected { throw .protocolError(floodDetected) }
    }

    /// Everything nghttp2 wants to send now (SETTINGS, responses, GOAWAY…),
    /// up to about `limit` bytes so a fast producer cannot outrun the socket.
    func pendingOutput(limit: Int = 1 << 20) -> ByteBuffer? {
        var output: ByteBuffer?
        while (output?.readableBytes ?? 0) < limit {
            var pointer: UnsafePointer<UInt8>?
            let length = nghttp2_session_mem_send(session, &pointer)
            guard length > 0, let pointer else { break }
            if output == nil { output = allocator.buffer(capacity: max(length, 16 << 10)) }
            output!.writeBytes(UnsafeRawBufferPointer(start: pointer, count: length))
        }
        noteDrainedStreams()
        return output
    }

    /// Events since the last call, in order.
    func takeEvents() -> [HTTP2StreamEvent] {
        defer { events = [] }
        return events
    }

    /// True while the session still expects to read or write.
    var isAlive: Bool { nghttp2_session_want_read(session) != 0 || nghttp2_session_want_write(session) != 0 }

    var wantsWrite: Bool { nghttp2_session_want_write(session) != 0 }

    // MARK: Responses

    /// Submits the response head. With `endStream` there is no body;
    /// otherwise body bytes follow through `sendBody` and `sendEnd`.
    func sendHead(streamID: Int32, status: Int, headers: [(name: String, value: String)], endStream: Bool) {
        var fields: [(String, String)] = [(":status", String(status))]
        fields += headers.map { ($0.name.lowercased(), $0.value) }
        if endStream {
            Self.withNameValues(fields) { nameValues in
                _ = nghttp2_submit_response(session, streamID, nameValues.baseAddress, nameValues.count, nil)
            }
            return
        }
        outbound[streamID] = OutboundBody()
        var provider = nghttp2_data_provider()
        provider.read_callback = { _, streamID, buffer, length, flags, _, userData in
            guard let buffer, let flags, let session = HTTP2ServerSession.from(userData) else {
                return ssize_t(NGHTTP2_ERR_CALLBACK_FAILURE.rawValue)
            }
            return session.readBody(streamID: streamID, into: buffer, length: length, flags: flags)
        }
        Self.withNameValues(fields) { nameValues in
            _ = nghttp2_submit_response(session, streamID, nameValues.baseAddress, nameValues.count, &provider)
        }
    }

    func sendBody(streamID: Int32, _ buffer: ByteBuffer) {
        guard outbound[streamID] != nil, buffer.readableBytes > 0 else { return }
        outbound[streamID]!.chunks.append(buffer)
        outbound[streamID]!.queuedBytes += buffer.readableBytes
        resumeIfDeferred(streamID)
    }

    func sendEnd(streamID: Int32, trailers: [(name: String, value: String)]) {
        guard outbound[streamID] != nil else { return }
        outbound[streamID]!.ended = true
        outbound[streamID]!.trailers = trailers.map { ($0.name.lowercased(), $0.value) }
        resumeIfDeferred(streamID)
    }

    /// Queued response bytes for a stream (backpressure for the producer).
    func queuedResponseBytes(streamID: Int32) -> Int { outbound[streamID]?.queuedBytes ?? 0 }

    /// Whether the producer should wait; if so, a `.responseDrained` event
    /// follows once the queue is below half the high-water mark.
    func responseQueueIsFull(streamID: Int32) -> Bool {
        guard let body = outbound[streamID], body.queuedBytes >= limits.responseHighWater else { return false }
        outbound[streamID]!.wantsDrainNotice = true
        return true
    }

    func reset(streamID: Int32, code: HTTP2ErrorCode) {
        _ = nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), streamID, code.rawValue)
    }

    /// Request body bytes delivered: open the windows again (stream and
    /// connection) so the peer may send that much more.
    func consume(streamID: Int32, bytes: Int) {
        guard bytes > 0 else { return }
        if nghttp2_session_consume(session, streamID, bytes) != 0 {
            // The stream is gone; the connection window still needs them back.
            _ = nghttp2_session_consume_connection(session, bytes)
        }
    }

    /// GOAWAY for graceful shutdown: streams already open finish, new ones
    /// are refused (RFC 9113 §6.8).
    func goAway(code: HTTP2ErrorCode = .noError) {
        _ = nghttp2_submit_goaway(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), nghttp2_session_get_last_proc_stream_id(session),
                                  code.rawValue, nil, 0)
    }

    private func resumeIfDeferred(_ streamID: Int32) {
        guard outbound[streamID]?.deferred == true else { return }
        outbound[streamID]!.deferred = false
        _ = nghttp2_session_resume_data(session, streamID)
    }

    private func noteDrainedStreams() {
        for (streamID, body) in outbound where body.wantsDrainNotice && body.queuedBytes < limits.responseHighWater / 2 {
            outbound[streamID]!.wantsDrainNotice = false
            events.append(.responseDrained(streamID: streamID))
        }
    }

    /// nghttp2 copies names and values during submit, so the bytes only have
    /// to live for the call.
    private static func withNameValues(_ fields: [(String, String)], _ body: (UnsafeMutableBufferPointer<nghttp2_nv>) -> Void) {
        var storage: [UnsafeMutableBufferPointer<UInt8>] = []
        defer { storage.forEach { $0.deallocate() } }
        func copy(_ text: String) -> (UnsafeMutablePointer<UInt8>, Int) {
            let bytes = Array(text.utf8)
            let buffer = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(bytes.count, 1))
            _ = buffer.initialize(from: bytes)
            storage.append(buffer)
            return (buffer.baseAddress!, bytes.count)
        }
        var nameValues: [nghttp2_nv] = fields.map { name, value in
            let (n, nl) = copy(name)
            let (v, vl) = copy(value)
            return nghttp2_nv(name: n, value: v, namelen: nl, valuelen: vl, flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue))
        }
        nameValues.withUnsafeMutableBufferPointer { body($0) }
    }

    // MARK: Callbacks

    private func beginHeaders(_ frame: UnsafePointer<nghttp2_frame>) -> Int32 {
        let header = frame.pointee.hd
        guard header.type == UInt8(NGHTTP2_HEADERS.rawValue) else { return 0 }
        if frame.pointee.headers.cat == NGHTTP2_HCAT_REQUEST {
            inbound[header.stream_id] = InboundStream(head: HTTP2RequestHead(streamID: header.stream_id))
            openStreams += 1
        }
        return 0
    }

    private func header(_ frame: UnsafePointer<nghttp2_frame>, name: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>) -> Int32 {
        let streamID = frame.pointee.hd.stream_id
        guard var stream = inbound[streamID], !stream.tooLarge else { return 0 }
        // RFC 9113 §6.5.2: a field's size is name + value + 32.
        stream.headerBytes += name.count + value.count + 32
        if stream.headerBytes > limits.maxHeaderListBytes {
            stream.tooLarge = true
            stream.head.headers = []
            inbound[streamID] = stream
            return 0
        }
        let nameText = String(decoding: name, as: UTF8.self)
        let valueText = String(decoding: value, as: UTF8.self)
        if stream.headComplete {
            stream.trailers.append((nameText, valueText))
        } else {
            switch nameText {
            case ":method": stream.head.method = valueText
            case ":scheme": stream.head.scheme = valueText
            case ":authority": stream.head.authority = valueText
            case ":path": stream.head.path = valueText
            default: stream.head.headers.append((nameText, valueText))
            }
        }
        inbound[streamID] = stream
        return 0
    }

    private func dataChunk(streamID: Int32, _ data: UnsafeRawBufferPointer) -> Int32 {
        guard let stream = inbound[streamID], stream.headComplete, !stream.tooLarge else {
            // Nobody will deliver these bytes: give the window back now.
            consume(streamID: streamID, bytes: data.count)
            return 0
        }
        var buffer = allocator.buffer(capacity: data.count)
        buffer.writeBytes(data)
        events.append(.requestBody(streamID: streamID, bytes: buffer))
        return 0
    }

    private func frameReceived(_ frame: UnsafePointer<nghttp2_frame>) -> Int32 {
        let header = frame.pointee.hd
        let streamID = header.stream_id
        let endStream = header.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0
        switch header.type {
        case UInt8(NGHTTP2_HEADERS.rawValue):
            guard var stream = inbound[streamID] else { return 0 }
            if stream.tooLarge {
                if !stream.headComplete { events.append(.requestHeadTooLarge(streamID: streamID)) }
                stream.headComplete = true
                inbound[streamID] = stream
                return 0
            }
            if !stream.headComplete {
                stream.headComplete = true
                inbound[streamID] = stream
                events.append(.requestHead(stream.head, endStream: endStream))
                if endStream { events.append(.requestEnd(streamID: streamID, trailers: [])) }
            } else if endStream {
                events.append(.requestEnd(streamID: streamID, trailers: stream.trailers))
            }
        case UInt8(NGHTTP2_RST_STREAM.rawValue):
            spendResetToken()
        case UInt8(NGHTTP2_DATA.rawValue):
            if endStream, let stream = inbound[streamID], stream.headComplete, !stream.tooLarge {
                events.append(.requestEnd(streamID: streamID, trailers: []))
            }
        default:
            break
        }
        return 0
    }

    private func spendResetToken() {
        let now = ContinuousClock.now
        let elapsed = now - resetTokensUpdated
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        resetTokens = min(Double(limits.clientResetBurst), resetTokens + seconds * limits.clientResetsPerSecond)
        resetTokensUpdated = now
        resetTokens -= 1
        if resetTokens < 0 && floodDetected == nil {
            floodDetected = "too many RST_STREAM frames (rapid reset)"
            goAway(code: .enhanceYourCalm)
        }
    }

    private func streamClosed(_ streamID: Int32, errorCode: UInt32) {
        if inbound.removeValue(forKey: streamID) != nil { openStreams -= 1 }
        outbound[streamID] = nil
        events.append(.streamClosed(streamID: streamID, errorCode: errorCode))
    }

    private func readBody(streamID: Int32, into buffer: UnsafeMutablePointer<UInt8>, length: Int,
                          flags: UnsafeMutablePointer<UInt32>) -> ssize_t {
        guard outbound[streamID] != nil else {
            flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue
            return 0
        }
        // In place: copying the queue out of the dictionary would copy it.
        return fill(&outbound[streamID]!, streamID: streamID, into: buffer, length: length, flags: flags)
    }

    private func fill(_ body: inout OutboundBody, streamID: Int32, into buffer: UnsafeMutablePointer<UInt8>, length: Int,
                      flags: UnsafeMutablePointer<UInt32>) -> ssize_t {
        guard var chunk = body.chunks.first else {
            guard body.ended else {
                body.deferred = true
                return ssize_t(NGHTTP2_ERR_DEFERRED.rawValue)
            }
            flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue
            if !body.trailers.isEmpty {
                // Trailers end the stream instead of the last DATA frame.
                flags.pointee |= NGHTTP2_DATA_FLAG_NO_END_STREAM.rawValue
                Self.withNameValues(body.trailers.map { ($0.name, $0.value) }) { nameValues in
                    _ = nghttp2_submit_trailer(session, streamID, nameValues.baseAddress, nameValues.count)
                }
            }
            return 0
        }
        let count = min(length, chunk.readableBytes)
        chunk.withUnsafeReadableBytes { source in
            UnsafeMutableRawPointer(buffer).copyMemory(from: source.baseAddress!, byteCount: count)
        }
        chunk.moveReaderIndex(forwardBy: count)
        if chunk.readableBytes == 0 { body.chunks.removeFirst() } else { body.chunks[body.chunks.startIndex] = chunk }
        body.queuedBytes -= count
        if body.chunks.isEmpty && body.ended && body.trailers.isEmpty {
            flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue
        }
        return count
    }
}

public enum HTTP2SessionError: Error, CustomStringConvertible {
    case setup(String)
    case protocolError(String)

    public var description: String {
        switch self {
        case .setup(let step): return "HTTP/2: \(step) failed"
        case .protocolError(let detail): return "HTTP/2 protocol error: \(detail)"
        }
    }
}
