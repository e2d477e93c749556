import CNGHTTP2

/// One server-side nghttp2 session driven by memory: bytes in with
/// `receive`, bytes out with `pendingOutput`. No I/O of its own, so the NIO
/// handler stays thin. Owns the `nghttp2_session*`; callbacks reach this
/// object through nghttp2's user data (unretained: they only run inside
/// calls made from here, on one event loop).
final class HTTP2ServerSession {
    struct Limits {
        var maxConcurrentStreams: UInt32 = 100
        /// Request bodies are buffered whole here (status pages only take
        /// tiny ones); the streaming proxy path has its own limits.
        var maxRequestBodyBytes = 1 << 20
        var maxHeaderListBytes = 64 << 10
    }

    private var session: OpaquePointer?
    private let limits: Limits
    private var partialRequests: [Int32: HTTP2Request] = [:]
    private var headerBytes: [Int32: Int] = [:]
    private var responseBodies: [Int32: (bytes: [UInt8], offset: Int)] = [:]
    /// Requests whose END_STREAM arrived during the last `receive`.
    private var completed: [HTTP2Request] = []

    init(limits: Limits = Limits()) throws(HTTP2SessionError) {
        self.limits = limits
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
            return session.dataChunk(streamID: streamID, UnsafeBufferPointer(start: data, count: length))
        }
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks) { _, frame, userData in
            guard let frame, let session = HTTP2ServerSession.from(userData) else { return 0 }
            return session.frameReceived(frame)
        }
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks) { _, streamID, _, userData in
            guard let session = HTTP2ServerSession.from(userData) else { return 0 }
            session.streamClosed(streamID)
            return 0
        }
        var created: OpaquePointer?
        guard nghttp2_session_server_new(&created, callbacks, nil) == 0, let created else { throw .setup("nghttp2_session_server_new") }
        session = created
        nghttp2_session_set_user_data(created, Unmanaged.passUnretained(self).toOpaque())

        var settings = [
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS.rawValue), value: limits.maxConcurrentStreams),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE.rawValue), value: UInt32(limits.maxHeaderListBytes)),
        ]
        guard nghttp2_submit_settings(created, UInt8(NGHTTP2_FLAG_NONE.rawValue), &settings, settings.count) == 0 else {
            throw .setup("nghttp2_submit_settings")
        }
    }

    deinit {
        nghttp2_session_del(session)
    }

    private static func from(_ userData: UnsafeMutableRawPointer?) -> HTTP2ServerSession? {
        userData.map { Unmanaged<HTTP2ServerSession>.fromOpaque($0).takeUnretainedValue() }
    }

    // MARK: Driving

    /// Feeds received bytes; returns the requests they completed.
    func receive(_ bytes: UnsafeRawBufferPointer) throws(HTTP2SessionError) -> [HTTP2Request] {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return [] }
        let result = nghttp2_session_mem_recv(session, base.assumingMemoryBound(to: UInt8.self), bytes.count)
        if result < 0 { throw .protocolError(String(cString: nghttp2_strerror(Int32(result)))) }
        defer { completed = [] }
        return completed
    }

    /// Everything nghttp2 wants to send now (SETTINGS, responses, GOAWAY…).
    func pendingOutput() -> [UInt8] {
        var output: [UInt8] = []
        while true {
            var pointer: UnsafePointer<UInt8>?
            let length = nghttp2_session_mem_send(session, &pointer)
            guard length > 0, let pointer else { break }
            output.append(contentsOf: UnsafeBufferPointer(start: pointer, count: length))
        }
        return output
    }

    /// True while the session still expects to read or write.
    var isAlive: Bool { nghttp2_session_want_read(session) != 0 || nghttp2_session_want_write(session) != 0 }

    var openStreams: Int { partialRequests.count + responseBodies.count }

    func respond(to streamID: Int32, with response: HTTP2Response, headOnly: Bool) {
        var fields: [(String, String)] = [(":status", String(response.status))]
        fields += response.headers.map { ($0.name.lowercased(), $0.value) }
        // nghttp2 copies names and values during submit, so the C strings
        // only have to live for this call.
        let cStrings = fields.map { (Array($0.0.utf8), Array($0.1.utf8)) }
        var keepAlive: [UnsafeMutableBufferPointer<UInt8>] = []
        defer { keepAlive.forEach { $0.deallocate() } }
        var nameValues: [nghttp2_nv] = cStrings.map { name, value in
            let n = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(name.count, 1))
            _ = n.initialize(from: name)
            let v = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(value.count, 1))
            _ = v.initialize(from: value)
            keepAlive += [n, v]
            return nghttp2_nv(name: n.baseAddress, value: v.baseAddress, namelen: name.count, valuelen: value.count,
                              flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue))
        }
        if headOnly || response.body.isEmpty {
            _ = nghttp2_submit_response(session, streamID, &nameValues, nameValues.count, nil)
            return
        }
        responseBodies[streamID] = (response.body, 0)
        var provider = nghttp2_data_provider()
        provider.read_callback = { _, streamID, buffer, length, flags, _, userData in
            guard let buffer, let flags, let session = HTTP2ServerSession.from(userData) else {
                return ssize_t(NGHTTP2_ERR_CALLBACK_FAILURE.rawValue)
            }
            return session.readBody(streamID: streamID, into: buffer, length: length, flags: flags)
        }
        _ = nghttp2_submit_response(session, streamID, &nameValues, nameValues.count, &provider)
    }

    /// GOAWAY for graceful shutdown: streams already open finish, new ones
    /// are refused (RFC 9113 §6.8).
    func goAway() {
        _ = nghttp2_submit_goaway(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), nghttp2_session_get_last_proc_stream_id(session),
                                  UInt32(NGHTTP2_NO_ERROR.rawValue), nil, 0)
    }

    // MARK: Callbacks

    private func beginHeaders(_ frame: UnsafePointer<nghttp2_frame>) -> Int32 {
        let header = frame.pointee.hd
        guard header.type == UInt8(NGHTTP2_HEADERS.rawValue), frame.pointee.headers.cat == NGHTTP2_HCAT_REQUEST else { return 0 }
        partialRequests[header.stream_id] = HTTP2Request(streamID: header.stream_id, method: "", scheme: "", authority: nil,
                                                         path: "", headers: [], body: [])
        headerBytes[header.stream_id] = 0
        return 0
    }

    private func header(_ frame: UnsafePointer<nghttp2_frame>, name: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>) -> Int32 {
        let streamID = frame.pointee.hd.stream_id
        guard var request = partialRequests[streamID] else { return 0 }
        let total = (headerBytes[streamID] ?? 0) + name.count + value.count + 32
        headerBytes[streamID] = total
        if total > limits.maxHeaderListBytes {
            return Int32(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue) // resets just this stream
        }
        let nameText = String(decoding: name, as: UTF8.self)
        let valueText = String(decoding: value, as: UTF8.self)
        switch nameText {
        case ":method": request.method = valueText
        case ":scheme": request.scheme = valueText
        case ":authority": request.authority = valueText
        case ":path": request.path = valueText
        default: request.headers.append((nameText, valueText))
        }
        partialRequests[streamID] = request
        return 0
    }

    private func dataChunk(streamID: Int32, _ data: UnsafeBufferPointer<UInt8>) -> Int32 {
        guard var request = partialRequests[streamID] else { return 0 }
        guard request.body.count + data.count <= limits.maxRequestBodyBytes else {
            _ = nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), streamID, UInt32(NGHTTP2_REFUSED_STREAM.rawValue))
            partialRequests[streamID] = nil
            return 0
        }
        request.body.append(contentsOf: data)
        partialRequests[streamID] = request
        return 0
    }

    private func frameReceived(_ frame: UnsafePointer<nghttp2_frame>) -> Int32 {
        let header = frame.pointee.hd
        let isRequestEnd = (header.type == UInt8(NGHTTP2_HEADERS.rawValue) || header.type == UInt8(NGHTTP2_DATA.rawValue))
            && header.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0
        if isRequestEnd, let request = partialRequests.removeValue(forKey: header.stream_id) {
            headerBytes[header.stream_id] = nil
            completed.append(request)
        }
        return 0
    }

    private func streamClosed(_ streamID: Int32) {
        partialRequests[streamID] = nil
        headerBytes[streamID] = nil
        responseBodies[streamID] = nil
    }

    private func readBody(streamID: Int32, into buffer: UnsafeMutablePointer<UInt8>, length: Int,
                          flags: UnsafeMutablePointer<UInt32>) -> ssize_t {
        guard let (bytes, offset) = responseBodies[streamID] else {
            flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue
            return 0
        }
        let count = min(length, bytes.count - offset)
        bytes.withUnsafeBufferPointer { source in
            buffer.update(from: source.baseAddress! + offset, count: count)
        }
        if offset + count == bytes.count {
            flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue
            responseBodies[streamID] = nil
        } else {
            responseBodies[streamID] = (bytes, offset + count)
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
