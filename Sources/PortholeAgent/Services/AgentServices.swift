import PortholeWire

/// A DataStream the agent sends after a response (halibut.md §6).
public struct AgentOutgoingStream: Sendable, Hashable {
    public var id: HalibutGuid
    public var body: [UInt8]

    public var descriptor: HalibutDataStreamDescriptor { HalibutDataStreamDescriptor(id: id, length: Int64(body.count)) }
}

/// What a built-in service decided for one request.
public struct AgentServiceReply: Sendable, Hashable {
    public var response: HalibutResponseMessage
    /// Frames to write after the response, in placeholder order.
    public var streams: [AgentOutgoingStream]
    /// Wait this long before answering (`IDelayService.Delay`).
    public var delayMilliseconds: Int64

    public init(response: HalibutResponseMessage, streams: [AgentOutgoingStream] = [], delayMilliseconds: Int64 = 0) {
        self.response = response
        self.streams = streams
        self.delayMilliseconds = delayMilliseconds
    }
}

/// The services a test agent offers, registered under their interface names
/// as in the recorded vectors' host program (vectors README "Test contracts"):
///
/// - `IEchoService.SayHello(string name)` → `"Hello " + name`
/// - `IEchoService.Fail(string reason)` → error `"Failure requested: " + reason`
/// - `IEchoService.Echo(object value)` → `value` unchanged (typed values,
///   `$type` and all, round-trip: handy for checking a server's encoding)
/// - `IDelayService.Delay(int ms)` → waits, then returns `ms` (int64)
/// - `IFileService.UploadFile(string path, DataStream data)` → the stream's length (int64)
/// - `IFileService.DownloadFile(string path)` → a DataStream with
///   `"Contents of " + path + "\n"`, or 20,000 bytes `A..Z` repeated for
///   paths starting `big:`
///
/// Unknown services and methods get Halibut's own error texts (README
/// finding 10). Pure code: the session handler does the waiting and writing.
public enum AgentServices {
    /// Longest `Delay` honoured, so a typo cannot park a connection for days.
    public static let maximumDelayMilliseconds: Int64 = 10 * 60 * 1000

    public static func handle(
        _ request: HalibutRequestMessage, streams: [HalibutGuid: [UInt8]], newStreamID: () -> HalibutGuid = { HalibutGuid.random() }
    ) -> AgentServiceReply {
        func success(_ result: BSONValue) -> AgentServiceReply {
            AgentServiceReply(response: HalibutResponseMessage(id: request.id, result: result))
        }
        func failure(_ message: String, details: String?) -> AgentServiceReply {
            AgentServiceReply(response: HalibutResponseMessage(id: request.id, error: HalibutServerError(message: message, details: details)))
        }
        func argumentError(_ expected: String) -> AgentServiceReply {
            failure("Method \(request.service).\(request.method) expects \(expected)",
                    details: "System.ArgumentException: \(request.service).\(request.method) was called with \(request.params.count) argument(s)")
        }
        // A method that throws: Halibut reports the inner exception's message
        // and the TargetInvocationException text as details (finding 10).
        func thrown(_ exception: String, _ message: String, in method: String) -> AgentServiceReply {
            failure(message, details: "System.Reflection.TargetInvocationException: Exception has been thrown by the target of an invocation. "
                    + "---> \(exception): \(message)\n  at Porthole.Agent.\(method)\n   --- End of inner exception stack trace ---")
        }

        let method = request.method.lowercased()  // matched case-insensitively (§6)
        switch request.service {
        case "IEchoService":
            switch method {
            case "sayhello":
                guard request.params.count == 1, let name = request.params[0].stringValue else { return argumentError("(string name)") }
                return success(.string("Hello " + name))
            case "echo":
                guard request.params.count == 1 else { return argumentError("(object value)") }
                return success(request.params[0])
            case "fail":
                guard request.params.count == 1, let reason = request.params[0].stringValue else { return argumentError("(string reason)") }
                return thrown("System.InvalidOperationException", "Failure requested: " + reason, in: "EchoService.Fail (System.String reason)")
            default:
                return unknownMethod(request, implementation: "Porthole.Agent.EchoService")
            }
        case "IDelayService":
            guard method == "delay" else { return unknownMethod(request, implementation: "Porthole.Agent.DelayService") }
            guard request.params.count == 1, let ms = request.params[0].integerValue, ms >= 0 else { return argumentError("(int milliseconds)") }
            var reply = success(.int64(ms))
            reply.delayMilliseconds = min(ms, maximumDelayMilliseconds)
            return reply
        case "IFileService":
            switch method {
            case "uploadfile":
                guard request.params.count == 2, request.params[0].stringValue != nil,
                      let descriptors = try? HalibutDataStreamDescriptor.find(in: request.params[1]), descriptors.count == 1
                else { return argumentError("(string path, DataStream data)") }
                let received = streams[descriptors[0].id] ?? []
                return success(.int64(Int64(received.count)))
            case "downloadfile":
                guard request.params.count == 1, let path = request.params[0].stringValue else { return argumentError("(string path)") }
                let body = downloadContents(path: path)
                let stream = AgentOutgoingStream(id: newStreamID(), body: body)
                var reply = success(stream.descriptor.bsonValue)
                reply.streams = [stream]
                return reply
            default:
                return unknownMethod(request, implementation: "Porthole.Agent.FileService")
            }
        default:
            return failure("Service not found: \(request.service)",
                           details: "Halibut.Exceptions.ServiceNotFoundHalibutClientException: Service not found: \(request.service)")
        }
    }

    /// `"Contents of " + path + "\n"`, or for `big:` paths 20,000 bytes of
    /// `A..Z` repeated (as the vectors' host program).
    public static func downloadContents(path: String) -> [UInt8] {
        if path.hasPrefix("big:") {
            return (0..<20_000).map { UInt8(0x41 + $0 % 26) }
        }
        return Array("Contents of \(path)\n".utf8)
    }

    private static func unknownMethod(_ request: HalibutRequestMessage, implementation: String) -> AgentServiceReply {
        AgentServiceReply(response: HalibutResponseMessage(
            id: request.id, error: HalibutServerError(message: "Service \(implementation)::\(request.method) not found", details: nil)))
    }
}
