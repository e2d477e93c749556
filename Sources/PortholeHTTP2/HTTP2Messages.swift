import NIOCore

/// The head of one HTTP/2 request: pseudo-headers split out, regular fields
/// with lower-case names in arrival order (RFC 9113 §8.3).
public struct HTTP2RequestHead: Sendable {
    public var streamID: Int32
    public var method: String
    public var scheme: String
    public var authority: String?
    public var path: String
    public var headers: [(name: String, value: String)]

    public init(streamID: Int32, method: String = "", scheme: String = "", authority: String? = nil, path: String = "",
                headers: [(name: String, value: String)] = []) {
        self.streamID = streamID
        self.method = method
        self.scheme = scheme
        self.authority = authority
        self.path = path
        self.headers = headers
    }
}

/// A complete response (status pages, errors).
public struct HTTP2Response: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(name: String, value: String)], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}

/// RFC 9113 §7 error codes the portal uses.
public enum HTTP2ErrorCode: UInt32, Sendable {
    case noError = 0x0
    case protocolError = 0x1
    case internalError = 0x2
    case refusedStream = 0x7
    case cancel = 0x8
    case enhanceYourCalm = 0xb
}

/// What the server-side session saw, in order, for the layer above.
public enum HTTP2StreamEvent {
    /// A request's header block is complete. `endStream`: no body follows.
    case requestHead(HTTP2RequestHead, endStream: Bool)
    /// Request header fields over `Limits.maxHeaderListBytes`: answer 431.
    case requestHeadTooLarge(streamID: Int32)
    /// Request body bytes; hand them back with `consume` once they are
    /// delivered, which is what reopens the peer's flow-control window.
    case requestBody(streamID: Int32, bytes: ByteBuffer)
    case requestEnd(streamID: Int32, trailers: [(name: String, value: String)])
    /// The stream is gone (answered, reset by either side, or connection
    /// ended). `errorCode` is non-zero when it was cut short.
    case streamClosed(streamID: Int32, errorCode: UInt32)
    /// The stream's queued response body dropped below the low-water mark.
    case responseDrained(streamID: Int32)
}
