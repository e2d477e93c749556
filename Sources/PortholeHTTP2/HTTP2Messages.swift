/// One complete HTTP/2 request as the portal layer sees it.
public struct HTTP2Request: Sendable {
    public var streamID: Int32
    public var method: String
    public var scheme: String
    public var authority: String?
    public var path: String
    /// Regular header fields, lower-case names, in arrival order.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
}

/// A complete response (status pages, errors). Streaming bodies for the
/// reverse proxy come with the portal issue.
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
