import NIOCore
import NIOHTTP1
import PortholeWire

/// What the built-in status page answers to one request, whatever the HTTP
/// version: the page (HTML or JSON), Halibut's friendly page on the comms
/// path, or a 404/405 page. The HTTP/1.1 and HTTP/2 portal handlers write it.
public enum StatusPageAnswer {
    /// The status page's answer to one request, whatever the HTTP version.
    public static func response(method: String, uri: String, accept: String?, paths: Set<String>, friendly: FriendlyPageRoute? = nil,
                                page: (StatusPageFormat) -> String) -> SimpleHTTPResponse {
        let (path, query) = split(uri)
        if let friendly, path.lowercased() == friendly.commsPath.lowercased() {
            // A browser on the agents' comms path: Halibut's friendly page
            // as a normal HTTP 200 (halibut.md §8).
            return SimpleHTTPResponse(status: .ok, contentType: "text/html; charset=utf-8", body: friendly.html,
                                      extraHeaders: friendly.headers)
        }
        guard method == "GET" || method == "HEAD" else {
            return .page(status: .methodNotAllowed, title: "Method not allowed",
                         message: "The status page answers GET and HEAD only.", extraHeaders: [("Allow", "GET, HEAD")])
        }
        guard paths.contains(path) || paths.contains(where: { path == $0 + ".json" }) else {
            return .page(status: .notFound, title: "Not found", message: "Nothing is served at \(path).")
        }
        let wantsJSON = path.hasSuffix(".json") || query.contains("format=json") || (accept?.contains("application/json") ?? false)
        return wantsJSON
            ? SimpleHTTPResponse(status: .ok, contentType: "application/json", body: page(.json))
            : SimpleHTTPResponse(status: .ok, contentType: "text/html; charset=utf-8", body: page(.html))
    }

    public static func split(_ uri: String) -> (path: String, query: String) {
        guard let mark = uri.firstIndex(of: "?") else { return (uri, "") }
        return (String(uri[..<mark]), String(uri[uri.index(after: mark)...]))
    }
}

/// A complete small response (status pages, errors).
public struct SimpleHTTPResponse: Sendable {
    public var status: HTTPResponseStatus
    public var contentType: String
    public var body: String
    public var extraHeaders: [(String, String)] = []

    public init(status: HTTPResponseStatus, contentType: String, body: String, extraHeaders: [(String, String)] = []) {
        self.status = status
        self.contentType = contentType
        self.body = body
        self.extraHeaders = extraHeaders
    }

    public static func page(status: HTTPResponseStatus, title: String, message: String,
                     extraHeaders: [(String, String)] = []) -> SimpleHTTPResponse {
        let body = """
        <!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">\
        <title>\(status.code) \(HTMLText.escape(title))</title></head><body style="font-family:system-ui,sans-serif;margin:2rem">\
        <h1>\(status.code) \(HTMLText.escape(title))</h1><p>\(HTMLText.escape(message))</p>\
        <p style="color:#6b7785">\(PortholeVersion.serverHeader)</p></body></html>

        """
        return SimpleHTTPResponse(status: status, contentType: "text/html; charset=utf-8", body: body, extraHeaders: extraHeaders)
    }

    public func write(to context: ChannelHandlerContext, version: HTTPVersion, keepAlive: Bool, headOnly: Bool,
               wrap: (HTTPServerResponsePart) -> NIOAny) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: String(body.utf8.count))
        headers.add(name: "Server", value: PortholeVersion.serverHeader)
        headers.add(name: "Cache-Control", value: "no-store")
        headers.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
        for (name, value) in extraHeaders { headers.add(name: name, value: value) }
        context.write(wrap(.head(HTTPResponseHead(version: version, status: status, headers: headers))), promise: nil)
        if !headOnly {
            var buffer = context.channel.allocator.buffer(capacity: body.utf8.count)
            buffer.writeString(body)
            context.write(wrap(.body(.byteBuffer(buffer))), promise: nil)
        }
        let done = context.writeAndFlush(wrap(.end(nil)))
        if !keepAlive {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }
}

/// Where Halibut's friendly page is served on the HTTP side: a browser that
/// opens the agents' comms path (halibut.md §8).
public struct FriendlyPageRoute: Sendable {
    public var commsPath: String
    public var html: String
    public var headers: [(String, String)]

    public init(commsPath: String, html: String, headers: [(String, String)]) {
        self.commsPath = commsPath
        self.html = html
        self.headers = headers
    }
}
