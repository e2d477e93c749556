import PortholeAgent
import PortholeWire
import Testing

/// The built-in services answer as the vectors' host program does (README
/// "Test contracts", finding 10).
@Suite struct AgentServicesTests {
    private func request(_ service: String, _ method: String, _ params: [BSONValue]) -> HalibutRequestMessage {
        HalibutRequestMessage(id: "\(service)::\(method)[1] / x", activityID: .zero,
                              endpoint: HalibutServiceEndPoint(baseURI: "poll://abc/", remoteThumbprint: nil),
                              service: service, method: method, params: params)
    }

    @Test func sayHello_isMatchedCaseInsensitively_andCopiesTheRequestID() {
        let reply = AgentServices.handle(request("IEchoService", "sayhello", ["World"]), streams: [:])
        #expect(reply.response.id == "IEchoService::sayhello[1] / x")
        #expect(reply.response.result == .string("Hello World"))
        #expect(reply.response.error == nil)
    }

    @Test func echo_returnsTypedValuesUnchanged() {
        let value: BSONValue = .document(["$type": "T, A", "n": .int32(5), "big": .int64(1 << 53 + 1), "g": HalibutGuid.zero.bsonValue])
        #expect(AgentServices.handle(request("IEchoService", "Echo", [value]), streams: [:]).response.result == value)
    }

    @Test func unknownServiceAndMethod_useHalibutsErrorTexts() {
        let service = AgentServices.handle(request("IUnknownService", "X", []), streams: [:])
        #expect(service.response.error?.message == "Service not found: IUnknownService")
        let method = AgentServices.handle(request("IFileService", "NoSuchMethod", []), streams: [:])
        #expect(method.response.error?.message == "Service Porthole.Agent.FileService::NoSuchMethod not found")
        #expect(method.response.error?.details == nil)
    }

    @Test func uploadFile_returnsTheReceivedLength_andDownloadFile_announcesItsStream() throws {
        let id = HalibutGuid.random()
        let placeholder = HalibutDataStreamDescriptor(id: id, length: 3).bsonValue
        let upload = AgentServices.handle(request("IFileService", "UploadFile", ["p", placeholder]), streams: [id: [1, 2, 3]])
        #expect(upload.response.result == .int64(3))

        let streamID = HalibutGuid.random()
        let download = AgentServices.handle(request("IFileService", "DownloadFile", ["big:x"]), streams: [:], newStreamID: { streamID })
        #expect(download.streams.count == 1)
        #expect(download.streams.first?.body.count == 20_000)
        #expect(download.response.result == HalibutDataStreamDescriptor(id: streamID, length: 20_000).bsonValue)
        #expect(try download.response.dataStreams() == [HalibutDataStreamDescriptor(id: streamID, length: 20_000)])
    }

    @Test func delay_isBoundedAndReturnsTheDelay() {
        let reply = AgentServices.handle(request("IDelayService", "Delay", [.int32(250)]), streams: [:])
        #expect(reply.delayMilliseconds == 250)
        #expect(reply.response.result == .int64(250))
        let huge = AgentServices.handle(request("IDelayService", "Delay", [.int64(Int64.max)]), streams: [:])
        #expect(huge.delayMilliseconds == AgentServices.maximumDelayMilliseconds)
        let wrong = AgentServices.handle(request("IDelayService", "Delay", ["soon"]), streams: [:])
        #expect(wrong.response.error != nil)
    }
}
