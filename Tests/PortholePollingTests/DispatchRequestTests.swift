import Foundation
import NIOCore
import Logging
import NIOEmbedded
@testable import PortholePolling
import PortholeWire
import Testing

@Suite struct DispatchRequestTests {
    func parse(_ json: String) throws -> CallRequest {
        try CallRequest(body: Array(json.utf8), defaultTimeout: .minutes(2))
    }

    func problem(_ json: String) -> String {
        do { _ = try parse(json); return "" } catch { return "\(error)" }
    }

    @Test func typedParamsKeepTheirBSONTypesAndOrder() throws {
        let request = try parse(#"""
        {"service":"IComplexService","method":"Process","params":[
          {"$type":"T, A","Count":5,"Big":{"$numberLong":"7"},"Id":{"$binary":{"base64":"MyIRAFVEd2aImaq7zN3u/w==","subType":"04"}}},
          null, true, "s"], "timeout":"30s"}
        """#)
        #expect(request.service == "IComplexService")
        #expect(request.timeout == .seconds(30))
        guard case .document(let document) = request.params[0] else { Issue.record("\(request.params)"); return }
        #expect(document.keys == ["$type", "Count", "Big", "Id"])
        #expect(document["Count"] == .int32(5))
        #expect(document["Big"] == .int64(7))
        #expect(HalibutGuid(bsonValue: document["Id"]!)?.description == "00112233-4455-6677-8899-aabbccddeeff")
        #expect(Array(request.params.dropFirst()) == [.null, .bool(true), .string("s")])
    }

    @Test func dataStreamParamsBecomePlaceholdersWithTheirBodies() throws {
        let file = NSTemporaryDirectory() + "porthole-stream-\(UUID().uuidString)"
        FileManager.default.createFile(atPath: file, contents: Data("from a file".utf8))
        defer { try? FileManager.default.removeItem(atPath: file) }
        let request = try parse(#"{"service":"S","method":"M","params":[{"$dataStream":{"base64":"aGk="}},{"$dataStream":{"file":"\#(file)"}}]}"#)
        let descriptors = try HalibutDataStreamDescriptor.find(in: .array(request.params))
        #expect(descriptors.map(\.length) == [2, 11])
        #expect(request.streams[descriptors[0].id] == Array("hi".utf8))
        #expect(request.streams[descriptors[1].id] == Array("from a file".utf8))
    }

    @Test func errorsNameTheJSONPath() {
        #expect(problem(#"{"method":"M"}"#).contains("$.service"))
        #expect(problem(#"{"service":"S"}"#).contains("$.method"))
        #expect(problem(#"{"service":"S","method":"M","params":{}}"#).contains("$.params"))
        #expect(problem(#"{"service":"S","method":"M","params":[1,{"x":{"$numberLong":5}}]}"#).contains("$.params[1].x"))
        #expect(problem(#"{"service":"S","method":"M","params":[{"$dataStream":{"base64":"%%"}}]}"#).contains("$.params[0].$dataStream.base64"))
        #expect(problem(#"{"service":"S","method":"M","timeout":"soon"}"#).contains("$.timeout"))
        #expect(problem("[1]").contains("JSON object"))
        #expect(problem("{").contains("not JSON"))
    }

    @Test func resultStreamsAreInlinedAsBase64() {
        let id = HalibutGuid.random()
        let result: BSONValue = .document(["Name": "x", "Data": HalibutDataStreamDescriptor(id: id, length: 3).bsonValue])
        let json = DataStreamJSON.json(from: result, streams: [id: [1, 2, 3]]).serialized()
        #expect(json == #"{"Name":"x","Data":{"$dataStream":{"length":{"$numberLong":"3"},"base64":"AQID"}}}"#)
    }

    @Test func subscriptionPathSegmentsAcceptIDsAndEncodedURIs() {
        #expect(PollingDispatchAPI.subscription(fromPathSegment: "abc") == "poll://abc/")
        #expect(PollingDispatchAPI.subscription(fromPathSegment: "poll%3A%2F%2FABC%2F") == "poll://abc/")
        #expect(PollingDispatchAPI.subscription(fromPathSegment: "") == nil)
    }

    @Test func unknownRoutesAndMethodsAreProblems() throws {
        let endpoint = PollingEndpoint(settings: PollingSettings(), logger: .init(label: "test"))
        let api = PollingDispatchAPI(endpoint: endpoint)
        let loop = EmbeddedEventLoop()
        let notFound = try api.handle(method: .GET, path: "/v1/nope", body: [], on: loop).wait()
        #expect(notFound.status == .notFound)
        #expect(notFound.contentType == "application/problem+json")
        let wrongMethod = try api.handle(method: .DELETE, path: "/v1/agents", body: [], on: loop).wait()
        #expect(wrongMethod.status == .methodNotAllowed)
        let agents = try api.handle(method: .GET, path: "/v1/agents", body: [], on: loop).wait()
        #expect(agents.body.contains(#""agents": ["#) || agents.body.contains(#""agents":[]"#))
        let openapi = try api.handle(method: .GET, path: "/v1/openapi.json", body: [], on: loop).wait()
        #expect((try? BSONOrderedJSON(parsing: openapi.body))?["openapi"] == .string("3.1.0"))
    }
}
