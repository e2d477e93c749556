// Halibut's message payloads and their BSON envelope (spec §4–§6).
//
// Every message is the document `{"Message": payload}` where the payload is a
// RequestMessage, a ResponseMessage or null (the keep-alive). The payload's
// declared type is `object`, so Json.NET puts `$type` first (§5) and 2.x
// agents cannot read a request without it. Field order below is the order
// real Halibut writes, checked byte for byte against the recorded vectors.

/// Why BSON could not be read as (or written from) a Halibut message.
public enum HalibutMessageError: Error, Hashable, Sendable, CustomStringConvertible {
    case bson(BSONDecodingError)
    case encoding(BSONEncodingError)
    /// The document has no `Message` element.
    case missingEnvelope(keys: [String])
    /// The payload's `$type` names a different type than expected.
    case unexpectedPayloadType(found: String, expected: String)
    /// A field the message cannot do without is absent or null.
    case missingField(field: String, in: String)
    /// A field holds the wrong BSON type.
    case wrongFieldType(field: String, in: String, expected: String, found: String)
    case dataStream(HalibutDataStreamError)
    case compression(HalibutDeflateError)

    public var description: String {
        switch self {
        case .bson(let error): return "Halibut message is not valid BSON: \(error)"
        case .encoding(let error): return "cannot encode Halibut message: \(error)"
        case .missingEnvelope(let keys):
            return "Halibut message has no \"Message\" element (found keys \(keys))"
        case let .unexpectedPayloadType(found, expected):
            return "Halibut message payload is \(String(reflecting: found)), expected \(String(reflecting: expected))"
        case let .missingField(field, container):
            return "\(container) lacks required field \"\(field)\""
        case let .wrongFieldType(field, container, expected, found):
            return "\(container) field \"\(field)\" is \(found), expected \(expected)"
        case .dataStream(let error): return error.description
        case .compression(let error): return error.description
        }
    }
}

/// Json.NET type names, written as the `$type` element (§5).
public enum HalibutTypeName {
    public static let requestMessage = "Halibut.Transport.Protocol.RequestMessage, Halibut"
    public static let responseMessage = "Halibut.Transport.Protocol.ResponseMessage, Halibut"
    public static let dataStream = "Halibut.DataStream, Halibut"

    /// Compares the type part (before the assembly) so a name written with
    /// assembly details (`…, Halibut, Version=…`) still matches.
    static func matches(_ found: String, _ expected: String) -> Bool {
        typePart(found) == typePart(expected)
    }

    private static func typePart(_ name: String) -> Substring {
        let part = name.split(separator: ",", maxSplits: 1, omittingEmptySubsequences: false).first ?? Substring(name)
        return part.drop(while: { $0 == " " })
    }
}

/// Field readers that turn a BSON document into typed message fields with
/// errors that name the field.
struct HalibutFieldReader {
    let document: BSONDocument
    let container: String

    func kind(_ value: BSONValue) -> String {
        switch value {
        case .double: return "a double"
        case .string: return "a string"
        case .document: return "a document"
        case .array: return "an array"
        case .binary(let subtype, _): return "binary subtype 0x\(BSONHex.encode([subtype]))"
        case .objectID: return "an ObjectId"
        case .bool: return "a boolean"
        case .utcDateTime: return "a datetime"
        case .null: return "null"
        case .regularExpression: return "a regular expression"
        case .int32: return "an int32"
        case .int64: return "an int64"
        }
    }

    func wrongType(_ field: String, _ expected: String, _ value: BSONValue) -> HalibutMessageError {
        .wrongFieldType(field: field, in: container, expected: expected, found: kind(value))
    }

    /// Absent and null both read as `nil` (Json.NET leaves the default).
    func optionalString(_ field: String) throws(HalibutMessageError) -> String? {
        switch document[field] {
        case nil, .null?: return nil
        case .string(let s)?: return s
        case let other?: throw wrongType(field, "a string", other)
        }
    }

    func string(_ field: String) throws(HalibutMessageError) -> String {
        guard let value = try optionalString(field) else { throw .missingField(field: field, in: container) }
        return value
    }

    func optionalDocument(_ field: String) throws(HalibutMessageError) -> BSONDocument? {
        switch document[field] {
        case nil, .null?: return nil
        case .document(let d)?: return d
        case let other?: throw wrongType(field, "a document", other)
        }
    }

    func bool(_ field: String, default defaultValue: Bool) throws(HalibutMessageError) -> Bool {
        switch document[field] {
        case nil, .null?: return defaultValue
        case .bool(let b)?: return b
        case let other?: throw wrongType(field, "a boolean", other)
        }
    }

    func int32(_ field: String, default defaultValue: Int32) throws(HalibutMessageError) -> Int32 {
        switch document[field] {
        case nil, .null?: return defaultValue
        case .int32(let i)?: return i
        case .int64(let i)? where Int32(exactly: i) != nil: return Int32(i)
        case let other?: throw wrongType(field, "an int32", other)
        }
    }

    func guid(_ field: String) throws(HalibutMessageError) -> HalibutGuid? {
        switch document[field] {
        case nil, .null?: return nil
        case let value?:
            guard let guid = HalibutGuid(bsonValue: value) else {
                throw wrongType(field, "a Guid (binary subtype 0x04, 16 bytes)", value)
            }
            return guid
        }
    }

    /// Checks `$type` when present. Newer Halibut versions may omit it when
    /// the declared type is concrete, so absence is accepted.
    func checkTypeName(_ expected: String) throws(HalibutMessageError) {
        switch document["$type"] {
        case nil: return
        case .string(let found)?:
            guard HalibutTypeName.matches(found, expected) else {
                throw .unexpectedPayloadType(found: found, expected: expected)
            }
        case let other?: throw wrongType("$type", "a string", other)
        }
    }
}

// MARK: - ServiceEndPoint (§6)

/// The six timeout and retry values 4.x servers write before `BaseUri`
/// (vectors README finding 6). TimeSpans are .NET `c`-format strings (§5).
public struct HalibutEndPointTimeouts: Hashable, Sendable {
    public var pollingRequestQueueTimeout: String
    public var pollingRequestMaximumMessageProcessingTimeout: String
    public var retryListeningSleepInterval: String
    public var retryCountLimit: Int32
    public var connectionErrorRetryTimeout: String
    public var tcpClientConnectTimeout: String

    public init(
        pollingRequestQueueTimeout: String = "00:02:00",
        pollingRequestMaximumMessageProcessingTimeout: String = "00:10:00",
        retryListeningSleepInterval: String = "00:00:01",
        retryCountLimit: Int32 = 5,
        connectionErrorRetryTimeout: String = "00:05:00",
        tcpClientConnectTimeout: String = "00:01:00"
    ) {
        self.pollingRequestQueueTimeout = pollingRequestQueueTimeout
        self.pollingRequestMaximumMessageProcessingTimeout = pollingRequestMaximumMessageProcessingTimeout
        self.retryListeningSleepInterval = retryListeningSleepInterval
        self.retryCountLimit = retryCountLimit
        self.connectionErrorRetryTimeout = connectionErrorRetryTimeout
        self.tcpClientConnectTimeout = tcpClientConnectTimeout
    }

    /// The values the recorded 4.3.24 server writes.
    public static let halibut4Defaults = HalibutEndPointTimeouts()

    static let keys = [
        "PollingRequestQueueTimeout", "PollingRequestMaximumMessageProcessingTimeout",
        "RetryListeningSleepInterval", "RetryCountLimit", "ConnectionErrorRetryTimeout", "TcpClientConnectTimeout",
    ]
}

/// Halibut's `ServiceEndPoint`, the `endpoint` of a request (§6). Agents
/// only need `BaseUri`; they ignore fields they do not know.
public struct HalibutServiceEndPoint: Hashable, Sendable {
    /// Required: e.g. `poll://abcdefghij0123456789/`.
    public var baseURI: String
    public var remoteThumbprint: String?
    /// Halibut's `ProxyDetails` or null (always null for polling); kept as written.
    public var proxy: BSONValue
    public var isWebSocketEndpoint: Bool
    /// `nil` writes the four-field 2.x shape; otherwise the ten-field 4.x
    /// shape with these six values first. Both recorded agent versions
    /// accept the ten-field shape, so that is the default.
    public var timeouts: HalibutEndPointTimeouts?

    public init(
        baseURI: String, remoteThumbprint: String?, proxy: BSONValue = .null,
        isWebSocketEndpoint: Bool = false, timeouts: HalibutEndPointTimeouts? = .halibut4Defaults
    ) {
        self.baseURI = baseURI
        self.remoteThumbprint = remoteThumbprint
        self.proxy = proxy
        self.isWebSocketEndpoint = isWebSocketEndpoint
        self.timeouts = timeouts
    }

    public init(document: BSONDocument) throws(HalibutMessageError) {
        let fields = HalibutFieldReader(document: document, container: "ServiceEndPoint")
        baseURI = try fields.string("BaseUri")
        remoteThumbprint = try fields.optionalString("RemoteThumbprint")
        proxy = document["Proxy"] ?? .null
        isWebSocketEndpoint = try fields.bool("IsWebSocketEndpoint", default: false)
        if HalibutEndPointTimeouts.keys.contains(where: { document[$0] != nil }) {
            let d = HalibutEndPointTimeouts.halibut4Defaults
            timeouts = HalibutEndPointTimeouts(
                pollingRequestQueueTimeout: try fields.optionalString("PollingRequestQueueTimeout") ?? d.pollingRequestQueueTimeout,
                pollingRequestMaximumMessageProcessingTimeout: try fields.optionalString("PollingRequestMaximumMessageProcessingTimeout")
                    ?? d.pollingRequestMaximumMessageProcessingTimeout,
                retryListeningSleepInterval: try fields.optionalString("RetryListeningSleepInterval") ?? d.retryListeningSleepInterval,
                retryCountLimit: try fields.int32("RetryCountLimit", default: d.retryCountLimit),
                connectionErrorRetryTimeout: try fields.optionalString("ConnectionErrorRetryTimeout") ?? d.connectionErrorRetryTimeout,
                tcpClientConnectTimeout: try fields.optionalString("TcpClientConnectTimeout") ?? d.tcpClientConnectTimeout
            )
        } else {
            timeouts = nil
        }
    }

    /// Field order as the real servers write it (no `$type`: the declared
    /// type is concrete).
    public var document: BSONDocument {
        var d = BSONDocument()
        if let t = timeouts {
            d.append("PollingRequestQueueTimeout", .string(t.pollingRequestQueueTimeout))
            d.append("PollingRequestMaximumMessageProcessingTimeout", .string(t.pollingRequestMaximumMessageProcessingTimeout))
            d.append("RetryListeningSleepInterval", .string(t.retryListeningSleepInterval))
            d.append("RetryCountLimit", .int32(t.retryCountLimit))
            d.append("ConnectionErrorRetryTimeout", .string(t.connectionErrorRetryTimeout))
            d.append("TcpClientConnectTimeout", .string(t.tcpClientConnectTimeout))
        }
        d.append("BaseUri", .string(baseURI))
        d.append("RemoteThumbprint", remoteThumbprint.map(BSONValue.string) ?? .null)
        d.append("Proxy", proxy)
        d.append("IsWebSocketEndpoint", .bool(isWebSocketEndpoint))
        return d
    }
}

// MARK: - RequestMessage (§6)

/// A call the server pushes to an agent.
public struct HalibutRequestMessage: Hashable, Sendable {
    /// Correlation key; the response carries it back (§7: match by id).
    public var id: String
    public var activityID: HalibutGuid
    public var endpoint: HalibutServiceEndPoint
    /// Interface name, e.g. `IScriptService`.
    public var service: String
    /// Method name (agents match it case-insensitively).
    public var method: String
    /// One element per argument; object arguments carry their own `$type`.
    public var params: [BSONValue]

    public init(
        id: String, activityID: HalibutGuid, endpoint: HalibutServiceEndPoint,
        service: String, method: String, params: [BSONValue]
    ) {
        self.id = id
        self.activityID = activityID
        self.endpoint = endpoint
        self.service = service
        self.method = method
        self.params = params
    }

    /// An id in Halibut's own style: `IEchoService::SayHello[1] / <guid>`.
    public static func conventionalID(service: String, method: String, sequence: Int, guid: HalibutGuid) -> String {
        "\(service)::\(method)[\(sequence)] / \(guid)"
    }

    /// Reads a request payload (the value of `Message`).
    public init(payload: BSONDocument) throws(HalibutMessageError) {
        let fields = HalibutFieldReader(document: payload, container: "RequestMessage")
        try fields.checkTypeName(HalibutTypeName.requestMessage)
        id = try fields.string("id")
        activityID = try fields.guid("activityId") ?? .zero
        guard let endpointDocument = try fields.optionalDocument("endpoint") else {
            throw .missingField(field: "endpoint", in: "RequestMessage")
        }
        endpoint = try HalibutServiceEndPoint(document: endpointDocument)
        service = try fields.string("service")
        method = try fields.string("method")
        switch payload["params"] {
        case nil, .null?: params = []
        case .array(let values)?: params = values
        case let other?: throw fields.wrongType("params", "an array", other)
        }
    }

    /// The payload exactly as Halibut writes it (§6 field order).
    public var payload: BSONDocument {
        [
            "$type": .string(HalibutTypeName.requestMessage),
            "id": .string(id),
            "activityId": activityID.bsonValue,
            "endpoint": .document(endpoint.document),
            "service": .string(service),
            "method": .string(method),
            "params": .array(params),
        ]
    }

    /// The DataStreams this request carries, in the order their bytes follow
    /// the message (§6).
    public func dataStreams() throws(HalibutMessageError) -> [HalibutDataStreamDescriptor] {
        do { return try HalibutDataStreamDescriptor.find(in: .array(params)) } catch { throw .dataStream(error) }
    }
}

// MARK: - ResponseMessage (§6)

/// Halibut's `ServerError`: why a call failed on the agent.
public struct HalibutServerError: Hashable, Sendable {
    /// Stable text, e.g. `Service not found: IUnknownService`.
    public var message: String
    /// Exception text (a stack trace; unstable across platforms), or nil.
    public var details: String?
    /// Written by Halibut 5.x and later only. When nil the field is omitted,
    /// as 2.x/4.x write it; agents ignore fields they do not know.
    public var halibutErrorType: String?

    public init(message: String, details: String? = nil, halibutErrorType: String? = nil) {
        self.message = message
        self.details = details
        self.halibutErrorType = halibutErrorType
    }

    public init(document: BSONDocument) throws(HalibutMessageError) {
        let fields = HalibutFieldReader(document: document, container: "ServerError")
        message = try fields.optionalString("message") ?? ""
        details = try fields.optionalString("details")
        halibutErrorType = try fields.optionalString("HalibutErrorType")
    }

    public var document: BSONDocument {
        var d: BSONDocument = [
            "message": .string(message),
            "details": details.map(BSONValue.string) ?? .null,
        ]
        if let halibutErrorType { d.append("HalibutErrorType", .string(halibutErrorType)) }
        return d
    }
}

/// An agent's answer to a request.
public struct HalibutResponseMessage: Hashable, Sendable {
    /// The request's id, copied.
    public var id: String
    /// nil on success.
    public var error: HalibutServerError?
    /// The return value (`.null` for void). Object results carry `$type`;
    /// a `long` is an int64 (§5).
    public var result: BSONValue

    public init(id: String, error: HalibutServerError? = nil, result: BSONValue = .null) {
        self.id = id
        self.error = error
        self.result = result
    }

    public init(payload: BSONDocument) throws(HalibutMessageError) {
        let fields = HalibutFieldReader(document: payload, container: "ResponseMessage")
        try fields.checkTypeName(HalibutTypeName.responseMessage)
        id = try fields.string("id")
        error = try fields.optionalDocument("error").map { (d) throws(HalibutMessageError) in try HalibutServerError(document: d) }
        result = payload["result"] ?? .null
    }

    public var payload: BSONDocument {
        [
            "$type": .string(HalibutTypeName.responseMessage),
            "id": .string(id),
            "error": error.map { .document($0.document) } ?? .null,
            "result": result,
        ]
    }

    /// The DataStreams in the result, in the order their bytes follow (§6).
    public func dataStreams() throws(HalibutMessageError) -> [HalibutDataStreamDescriptor] {
        do { return try HalibutDataStreamDescriptor.find(in: result) } catch { throw .dataStream(error) }
    }
}

// MARK: - The envelope (§4)

/// One message unit's content.
public enum HalibutMessage: Hashable, Sendable {
    case request(HalibutRequestMessage)
    case response(HalibutResponseMessage)
    /// `{"Message": null}`: the keep-alive / "nothing to do" (§4, §7).
    case null

    /// BSON of the null message (14 bytes, §4).
    public static let nullMessageBSON: [UInt8] = [0x0E, 0x00, 0x00, 0x00, 0x0A, 0x4D, 0x65, 0x73, 0x73, 0x61, 0x67, 0x65, 0x00, 0x00]
    /// The null message as real Halibut deflates it (level 6, one Z_FINISH):
    /// the 16 bytes given in spec §4.
    public static let nullMessageDeflatedByHalibut: [UInt8] = [
        0xE3, 0x63, 0x60, 0x60, 0xE0, 0xF2, 0x4D, 0x2D, 0x2E, 0x4E, 0x4C, 0x4F, 0x65, 0x60, 0x00, 0x00,
    ]
    /// The null message as Porthole writes it (level 6, Z_SYNC_FLUSH then
    /// Z_FINISH, §4): 22 bytes, identical to the test peers' recorded nulls.
    public static let nullMessageDeflated: [UInt8] = [
        0xE2, 0x63, 0x60, 0x60, 0xE0, 0xF2, 0x4D, 0x2D, 0x2E, 0x4E, 0x4C, 0x4F, 0x65, 0x60, 0x00, 0x00,
        0x00, 0x00, 0xFF, 0xFF, 0x03, 0x00,
    ]

    /// Reads an envelope. The payload kind comes from its `$type`; without
    /// one, a payload with a `method` field is taken as a request.
    public init(envelope: BSONDocument) throws(HalibutMessageError) {
        guard let payload = envelope["Message"] else { throw .missingEnvelope(keys: envelope.keys) }
        switch payload {
        case .null:
            self = .null
        case .document(let document):
            let typeName = document["$type"]?.stringValue
            if let typeName, HalibutTypeName.matches(typeName, HalibutTypeName.requestMessage) {
                self = .request(try HalibutRequestMessage(payload: document))
            } else if let typeName, HalibutTypeName.matches(typeName, HalibutTypeName.responseMessage) {
                self = .response(try HalibutResponseMessage(payload: document))
            } else if let typeName {
                throw .unexpectedPayloadType(found: typeName, expected: "RequestMessage or ResponseMessage")
            } else if document["method"] != nil {
                self = .request(try HalibutRequestMessage(payload: document))
            } else {
                self = .response(try HalibutResponseMessage(payload: document))
            }
        default:
            throw HalibutFieldReader(document: envelope, container: "message envelope")
                .wrongType("Message", "a document or null", payload)
        }
    }

    /// Reads a message from inflated BSON bytes.
    public init(bson: [UInt8]) throws(HalibutMessageError) {
        let envelope: BSONDocument
        do { envelope = try BSONDocument(bsonBytes: bson) } catch { throw .bson(error) }
        try self.init(envelope: envelope)
    }

    /// `{"Message": payload}`.
    public var envelope: BSONDocument {
        switch self {
        case .request(let request): return ["Message": .document(request.payload)]
        case .response(let response): return ["Message": .document(response.payload)]
        case .null: return ["Message": .null]
        }
    }

    /// The envelope's BSON bytes (to be deflated into one message unit).
    public func bsonBytes() throws(HalibutMessageError) -> [UInt8] {
        do { return try envelope.bsonBytes() } catch { throw .encoding(error) }
    }

    /// The complete message unit to write: the envelope's BSON, deflated
    /// (by default with the sync flush spec §4 asks for).
    public func deflatedUnit(
        compressor: HalibutMessageCompressor = HalibutMessageCompressor()
    ) throws(HalibutMessageError) -> [UInt8] {
        let bson = try bsonBytes()
        do { return try compressor.compress(bson) } catch { throw .compression(error) }
    }

    /// The DataStreams whose frames follow this message (§6).
    public func dataStreams() throws(HalibutMessageError) -> [HalibutDataStreamDescriptor] {
        switch self {
        case .request(let request): return try request.dataStreams()
        case .response(let response): return try response.dataStreams()
        case .null: return []
        }
    }
}
