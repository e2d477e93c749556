import Foundation
import NIOCore
import NIOHTTP1
import PortholeConfig
import PortholeWire

/// One answer of the dispatch API.
public struct DispatchResponse: Sendable {
    public var status: HTTPResponseStatus
    public var contentType: String
    public var body: String

    static func json(_ value: BSONOrderedJSON, status: HTTPResponseStatus = .ok) -> DispatchResponse {
        DispatchResponse(status: status, contentType: "application/json", body: value.serialized(pretty: true) + "\n")
    }

    /// RFC 9457 problem details.
    static func problem(_ status: HTTPResponseStatus, _ title: String, _ detail: String) -> DispatchResponse {
        let body = BSONOrderedJSON.object([
            .init("type", .string("about:blank")), .init("title", .string(title)),
            .init("status", .number(String(status.code))), .init("detail", .string(detail)),
        ])
        return DispatchResponse(status: status, contentType: "application/problem+json", body: body.serialized() + "\n")
    }
}

/// The dispatch API on the admin listener (README "Dispatch API"): list
/// agents, call them, and describe itself. The admin handler has already
/// checked the bearer token.
public struct PollingDispatchAPI: Sendable {
    public static let prefix = "/v1/"
    let endpoint: PollingEndpoint

    public init(endpoint: PollingEndpoint) {
        self.endpoint = endpoint
    }

    public func handle(method: HTTPMethod, path: String, body: [UInt8], on eventLoop: EventLoop) -> EventLoopFuture<DispatchResponse> {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        switch (method, parts.count) {
        case (.GET, 2) where parts == ["v1", "agents"]:
            return eventLoop.makeSucceededFuture(agents())
        case (.GET, 2) where parts == ["v1", "openapi.json"]:
            return eventLoop.makeSucceededFuture(DispatchResponse(status: .ok, contentType: "application/json", body: PollingOpenAPI.document))
        case (.POST, 4) where parts[0] == "v1" && parts[1] == "agents" && parts[3] == "calls":
            return call(subscription: parts[2], body: body, on: eventLoop)
        case (_, 2) where parts == ["v1", "agents"] || parts == ["v1", "openapi.json"],
             (_, 4) where parts[0] == "v1" && parts[1] == "agents" && parts[3] == "calls":
            return eventLoop.makeSucceededFuture(.problem(.methodNotAllowed, "Method not allowed",
                                                          "\(method.rawValue) is not supported on \(path); see GET /v1/openapi.json."))
        default:
            return eventLoop.makeSucceededFuture(.problem(.notFound, "Not found",
                                                          "No dispatch endpoint at \(path); see GET /v1/openapi.json."))
        }
    }

    private func agents() -> DispatchResponse {
        let list = endpoint.registry.all.map { agent in
            BSONOrderedJSON.object([
                .init("subscription", .string(agent.subscription)),
                .init("thumbprint", .string(agent.thumbprint)),
                .init("remoteAddress", .string(agent.remoteAddress)),
                .init("transport", .string(agent.transport.rawValue)),
                .init("connectedSince", .string(TimestampText.milliseconds(agent.connectedSince))),
                .init("lastActivity", .string(TimestampText.milliseconds(agent.lastActivity))),
                .init("inFlight", .number(String(agent.inFlight))),
            ])
        }
        return .json(.object([.init("agents", .array(list))]))
    }

    /// `poll://abc/` (percent-encoded in the path) or just `abc`.
    static func subscription(fromPathSegment segment: String) -> String? {
        let decoded = segment.removingPercentEncoding ?? segment
        if decoded.contains("://") { return try? HalibutSubscriptionURI.normalize(decoded) }
        guard !decoded.isEmpty, !decoded.contains("/") else { return nil }
        return try? HalibutSubscriptionURI.normalize("poll://\(decoded)/")
    }

    private func call(subscription segment: String, body: [UInt8], on eventLoop: EventLoop) -> EventLoopFuture<DispatchResponse> {
        guard let subscription = Self.subscription(fromPathSegment: segment) else {
            return eventLoop.makeSucceededFuture(.problem(.badRequest, "Bad subscription",
                                                          "\(segment) is neither a subscription id nor a percent-encoded poll:// URI."))
        }
        let request: CallRequest
        do { request = try CallRequest(body: body, defaultTimeout: endpoint.settings.collectionTimeout) } catch {
            return eventLoop.makeSucceededFuture(.problem(.badRequest, "Bad call request", error.description))
        }
        let registry = endpoint.registry
        return endpoint.call(subscription: subscription, service: request.service, method: request.method, params: request.params,
                             outgoingStreams: request.streams, collectionTimeout: request.timeout, on: eventLoop)
            .map { result in
                let error: BSONOrderedJSON = result.response.error.map { error in
                    .object([.init("message", .string(error.message)),
                             .init("details", error.details.map(BSONOrderedJSON.string) ?? .null),
                             .init("halibutErrorType", error.halibutErrorType.map(BSONOrderedJSON.string) ?? .null)])
                } ?? .null
                return .json(.object([
                    .init("id", .string(result.response.id)),
                    .init("result", DataStreamJSON.json(from: result.response.result, streams: result.streams)),
                    .init("error", error),
                ]))
            }
            .flatMapErrorThrowing { error in
                switch error as? PollingCallError {
                case .collectionTimeout?:
                    let connected = registry.isSubscribed(subscription)
                    return .problem(.gatewayTimeout, "Agent did not collect the call",
                                    "\(error)" + (connected ? "" : " (no agent is connected for \(subscription) now)"))
                case .responseTimeout?:
                    return .problem(.gatewayTimeout, "Agent did not answer in time", "\(error)")
                case .agentFailed?:
                    return .problem(.badGateway, "Agent failed during the call", "\(error)")
                case .shuttingDown?:
                    return .problem(.serviceUnavailable, "Shutting down", "\(error)")
                case nil:
                    return .problem(.internalServerError, "Call failed", "\(error)")
                }
            }
    }
}

/// The body of `POST /v1/agents/{subscription}/calls`.
struct CallRequest {
    var service: String
    var method: String
    var params: [BSONValue]
    var streams: [HalibutGuid: [UInt8]]
    var timeout: TimeAmount

    struct Invalid: Error, CustomStringConvertible {
        var description: String
    }

    init(body: [UInt8], defaultTimeout: TimeAmount) throws(Invalid) {
        let json: BSONOrderedJSON
        do { json = try BSONOrderedJSON(parsingUTF8: body) } catch { throw Invalid(description: "the body is not JSON: \(error)") }
        guard case .object = json else { throw Invalid(description: "$: the body must be a JSON object {\"service\", \"method\", \"params\", \"timeout\"}") }
        guard case .string(let service)? = json["service"], !service.isEmpty else {
            throw Invalid(description: "$.service: required, a non-empty string such as \"IEchoService\"")
        }
        guard case .string(let method)? = json["method"], !method.isEmpty else {
            throw Invalid(description: "$.method: required, a non-empty string such as \"SayHello\"")
        }
        var streams: [HalibutGuid: [UInt8]] = [:]
        var params: [BSONValue] = []
        switch json["params"] {
        case nil, .null?: break
        case .array(let values)?:
            for (index, value) in values.enumerated() {
                do { params.append(try DataStreamJSON.bson(from: value, path: "$.params[\(index)]", streams: &streams)) } catch {
                    throw Invalid(description: error.description)
                }
            }
        default:
            throw Invalid(description: "$.params: must be an array (one element per method argument)")
        }
        var timeout = defaultTimeout
        switch json["timeout"] {
        case nil, .null?: break
        case .string(let text)?:
            do { timeout = .nanoseconds(Self.nanoseconds(try DurationSyntax.parse(text))) } catch {
                throw Invalid(description: "$.timeout: \(error) (e.g. \"30s\", \"2m\")")
            }
        default:
            throw Invalid(description: "$.timeout: must be a duration string such as \"30s\"")
        }
        self.service = service
        self.method = method
        self.params = params
        self.streams = streams
        self.timeout = timeout
    }

    private static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
