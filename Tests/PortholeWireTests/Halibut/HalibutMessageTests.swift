import PortholeWire
import Testing

@Suite("Halibut messages and data streams")
struct HalibutMessageTests {
    static let endpoint = HalibutServiceEndPoint(baseURI: "poll://abcdefghij0123456789/", remoteThumbprint: "034A2C20FE98BFCEFADB2D8479E21CD7BC0E7045")

    @Test("a request built from fields decodes back to the same fields, $type first")
    func requestRoundTrip() throws {
        let activity = HalibutGuid("5ca1ab1e-0000-4000-8000-000000000001")!
        let request = HalibutRequestMessage(
            id: HalibutRequestMessage.conventionalID(service: "IEchoService", method: "SayHello", sequence: 1, guid: activity),
            activityID: activity, endpoint: Self.endpoint, service: "IEchoService", method: "SayHello", params: ["World"])
        #expect(request.id == "IEchoService::SayHello[1] / 5ca1ab1e-0000-4000-8000-000000000001")
        let bytes = try HalibutMessage.request(request).bsonBytes()
        #expect(try HalibutMessage(bson: bytes) == .request(request))
        let envelope = try BSONDocument(bsonBytes: bytes)
        #expect(envelope.keys == ["Message"])
        #expect(envelope["Message"]?.documentValue?.keys == ["$type", "id", "activityId", "endpoint", "service", "method", "params"])
        #expect(envelope["Message"]?.documentValue?["endpoint"]?.documentValue?.count == 10)
    }

    @Test("a response with an error, and one with a DataStream result, round-trip")
    func responseRoundTrip() throws {
        let failed = HalibutResponseMessage(id: "x", error: HalibutServerError(message: "Service not found: IUnknownService", details: nil))
        #expect(try HalibutMessage(bson: HalibutMessage.response(failed).bsonBytes()) == .response(failed))
        #expect(failed.payload["error"]?.documentValue?.keys == ["message", "details"])
        let newer = HalibutServerError(message: "m", details: "d", halibutErrorType: "MethodNotFoundHalibutClientException")
        #expect(try HalibutServerError(document: newer.document) == newer)

        let stream = HalibutDataStreamDescriptor(id: HalibutGuid.random(), length: 41)
        let withStream = HalibutResponseMessage(id: "y", result: stream.bsonValue)
        let decoded = try HalibutMessage(bson: HalibutMessage.response(withStream).bsonBytes())
        #expect(try decoded.dataStreams() == [stream])
    }

    @Test("what we write for one polling exchange decodes back unit by unit from one buffer")
    func writtenExchangeDecodesBack() throws {
        let stream = HalibutDataStreamDescriptor(id: HalibutGuid.random(), length: 3)
        let request = HalibutRequestMessage(
            id: "IFileService::UploadFile[1] / x", activityID: .random(), endpoint: Self.endpoint,
            service: "IFileService", method: "UploadFile", params: ["C:\\f.txt", stream.bsonValue])
        let wire = HalibutIdentity.serverIdentityBytes
            + (try HalibutMessage.request(request).deflatedUnit())
            + HalibutDataStreamFrame.encode(id: stream.id, body: [7, 8, 9])
            + HalibutControlLine.proceed.encoded
            + HalibutMessage.nullMessageDeflated
        let decoder = HalibutUnitDecoder()
        var rest = wire[...]
        func next(_ expected: HalibutExpectedUnit) throws -> HalibutUnit? {
            if !decoder.isExpectingUnit { try decoder.expect(expected) }
            let step = try decoder.decode(rest)
            rest = rest.dropFirst(step.consumed)
            return step.unit
        }
        #expect(try next(.identity) == .identity(HalibutIdentity(role: .server)))
        guard case .message(let bson)? = try next(.message) else { Issue.record("no message"); return }
        let message = try HalibutMessage(bson: bson)
        #expect(message == .request(request))
        let streams = try message.dataStreams()
        #expect(try next(.dataStreams(streams)) == .dataStream(.started(id: stream.id, length: 3)))
        #expect(try next(.dataStreams(streams)) == .dataStream(.body(id: stream.id, bytes: [7, 8, 9])))
        #expect(try next(.dataStreams(streams)) == .dataStream(.finished(id: stream.id, remainingStreams: 0)))
        #expect(try next(.controlLine) == .control(.proceed))
        #expect(try next(.message) == .message(bson: HalibutMessage.nullMessageBSON))
        #expect(rest.isEmpty)
    }

    @Test("payloads without $type are told apart by their fields; a wrong $type is an error")
    func payloadKindWithoutTypeName() throws {
        var payload = HalibutResponseMessage(id: "r", result: .int64(18)).payload
        payload["$type"] = nil
        #expect(try HalibutMessage(envelope: ["Message": .document(payload)]) == .response(HalibutResponseMessage(id: "r", result: .int64(18))))
        let wrong: BSONDocument = ["Message": ["$type": "Something.Else, Lib", "id": "r"]]
        #expect(throws: HalibutMessageError.self) { try HalibutMessage(envelope: wrong) }
        #expect(throws: HalibutMessageError.unexpectedPayloadType(found: "Something.Else, Lib", expected: HalibutTypeName.responseMessage)) {
            try HalibutResponseMessage(payload: ["$type": "Something.Else, Lib", "id": "r"])
        }
    }

    @Test("missing or mistyped fields name the field")
    func fieldErrors() {
        #expect(throws: HalibutMessageError.missingEnvelope(keys: ["Other"])) { try HalibutMessage(envelope: ["Other": .null]) }
        #expect(throws: HalibutMessageError.missingField(field: "id", in: "ResponseMessage")) {
            try HalibutResponseMessage(payload: ["$type": .string(HalibutTypeName.responseMessage)])
        }
        #expect(throws: HalibutMessageError.wrongFieldType(field: "service", in: "RequestMessage", expected: "a string", found: "an int32")) {
            try HalibutRequestMessage(payload: [
                "$type": .string(HalibutTypeName.requestMessage), "id": "i", "endpoint": .document(Self.endpoint.document), "service": .int32(1),
            ])
        }
        #expect(throws: HalibutMessageError.missingField(field: "BaseUri", in: "ServiceEndPoint")) {
            try HalibutServiceEndPoint(document: ["RemoteThumbprint": .null])
        }
        #expect(throws: HalibutMessageError.self) { try HalibutMessage(bson: [0x05, 0, 0, 0]) }
    }

    @Test("DataStream placeholders are found depth-first in document order")
    func descriptorsDepthFirst() throws {
        let a = HalibutDataStreamDescriptor(id: HalibutGuid("00000000-0000-0000-0000-00000000000a")!, length: 1)
        let b = HalibutDataStreamDescriptor(id: HalibutGuid("00000000-0000-0000-0000-00000000000b")!, length: 2)
        let c = HalibutDataStreamDescriptor(id: HalibutGuid("00000000-0000-0000-0000-00000000000c")!, length: 0)
        let params: BSONValue = ["x", ["$type": "Outer, A", "first": a.bsonValue, "list": [b.bsonValue, ["deep": c.bsonValue]]]]
        #expect(try HalibutDataStreamDescriptor.find(in: params) == [a, b, c])
        #expect(throws: HalibutDataStreamError.duplicateStreamID(a.id)) {
            try HalibutDataStreamDescriptor.find(in: [a.bsonValue, a.bsonValue])
        }
        #expect(throws: HalibutDataStreamError.self) {
            try HalibutDataStreamDescriptor.find(in: ["$type": .string(HalibutTypeName.dataStream), "id": "nope", "length": .int64(1)])
        }
    }

    @Test("stream frames encode and decode, in any announced order, with zero-length bodies")
    func framesRoundTrip() throws {
        let a = HalibutDataStreamDescriptor(id: HalibutGuid.random(), length: 5)
        let b = HalibutDataStreamDescriptor(id: HalibutGuid.random(), length: 0)
        let bytes = HalibutDataStreamFrame.encode(id: b.id, body: []) + HalibutDataStreamFrame.encode(id: a.id, body: Array("hello".utf8))
        #expect(HalibutDataStreamFrame.parts(id: a.id, body: [1, 2]).map(\.count) == [16, 8, 2, 8])
        var reader = HalibutDataStreamReader(expecting: [a, b])
        var events: [HalibutDataStreamEvent] = []
        var rest = bytes[...]
        while case .event(let event, let consumed) = try reader.feed(rest) {
            events.append(event)
            rest = rest.dropFirst(consumed)
        }
        #expect(rest.isEmpty && reader.isComplete)
        #expect(events == [
            .started(id: b.id, length: 0), .finished(id: b.id, remainingStreams: 1),
            .started(id: a.id, length: 5), .body(id: a.id, bytes: Array("hello".utf8)), .finished(id: a.id, remainingStreams: 0),
        ])
    }

    @Test("bad stream frames give typed errors")
    func badFrames() {
        let known = HalibutDataStreamDescriptor(id: HalibutGuid("d5d5d5d5-0001-4000-8000-000000000001")!, length: 3)
        let other = HalibutGuid("d5d5d5d5-0002-4000-8000-000000000002")!
        func read(_ bytes: [UInt8], limit: Int64 = HalibutDataStreamReader.defaultMaxStreamBytes) throws(HalibutDataStreamError) {
            var reader = HalibutDataStreamReader(expecting: [known], maxStreamBytes: limit)
            var rest = bytes[...]
            while case .event(_, let consumed) = try reader.feed(rest) { rest = rest.dropFirst(consumed) }
        }
        let header = HalibutDataStreamFrame.idBytes(known.id) + HalibutDataStreamFrame.lengthBytes(3)
        #expect(throws: HalibutDataStreamError.trailerMismatch(id: known.id, length: 3, trailer: 4)) {
            try read(header + [1, 2, 3] + HalibutDataStreamFrame.lengthBytes(4))
        }
        #expect(throws: HalibutDataStreamError.unexpectedStreamID(other)) { try read(HalibutDataStreamFrame.encode(id: other, body: [1, 2, 3])) }
        #expect(throws: HalibutDataStreamError.lengthDiffersFromDescriptor(id: known.id, frame: 2, descriptor: 3)) {
            try read(HalibutDataStreamFrame.encode(id: known.id, body: [1, 2]))
        }
        #expect(throws: HalibutDataStreamError.invalidLength(id: known.id, length: -1)) {
            try read(HalibutDataStreamFrame.idBytes(known.id) + HalibutDataStreamFrame.lengthBytes(-1))
        }
        #expect(throws: HalibutDataStreamError.streamTooLarge(id: known.id, length: 3, limit: 2)) { try read(header, limit: 2) }
    }
}
