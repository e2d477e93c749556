// Checks the codecs against byte-exact recordings of real Halibut 2.6.19 and
// 4.3.24 (Fixtures/halibut, see its README.md). Every test runs once per
// vector file.

import Foundation
import PortholeWire
import Testing

@Suite("Halibut wire vectors")
struct HalibutVectorTests {
    @Test("every vector file is listed in index.json and present on disk")
    func indexListsEveryFixture() throws {
        #expect(HalibutFixtures.fileNames.count == 42)
        let onDisk = try FileManager.default.contentsOfDirectory(atPath: HalibutFixtures.directory.path)
            .filter { $0.hasSuffix(".json") && $0 != "index.json" }
        #expect(Set(onDisk) == Set(HalibutFixtures.fileNames))
    }

    @Test("every message unit inflates to its recorded BSON", arguments: HalibutFixtures.fileNames)
    func messageUnitsInflateToRecordedBSON(file name: String) throws {
        let file = HalibutFixtures.file(name)
        for message in file.messages {
            let (bson, consumed) = try HalibutMessageInflater.inflateMessage(message.deflated)
            #expect(bson == message.bson, "\(message.where_)")
            #expect(consumed == message.deflated.count, "\(message.where_): deflate stream must end at the unit's end")
        }
    }

    @Test("recorded BSON decodes to the vectors' ordered and JSON forms", arguments: HalibutFixtures.fileNames)
    func recordedBSONDecodesToOrderedAndJSONForms(file name: String) throws {
        for message in HalibutFixtures.file(name).messages {
            let decoded = try BSONDocument(bsonBytes: message.bson)
            #expect(decoded == (try HalibutOrderedForm.document(message.ordered)), "\(message.where_) ordered")
            #expect(decoded == (try BSONExtendedJSON.document(from: message.json)), "\(message.where_) json via EJSON reader")
            // Our canonical EJSON writer gives back the recorded JSON (as an
            // ordered JSON value, so formatting whitespace does not matter).
            let written = BSONExtendedJSON.string(from: decoded)
            #expect(try BSONOrderedJSON(parsing: written) == message.json, "\(message.where_) json via EJSON writer")
        }
    }

    @Test("re-encoding recorded BSON reproduces it byte for byte", arguments: HalibutFixtures.fileNames)
    func reencodingReproducesRecordedBytes(file name: String) throws {
        for message in HalibutFixtures.file(name).messages {
            let decoded = try BSONDocument(bsonBytes: message.bson)
            #expect(try decoded.bsonBytes() == message.bson, "\(message.where_)")
            // Also from the independent forms, not just our own decode.
            #expect(try HalibutOrderedForm.document(message.ordered).bsonBytes() == message.bson, "\(message.where_) ordered")
            #expect(try BSONExtendedJSON.document(from: message.json).bsonBytes() == message.bson, "\(message.where_) json")
        }
    }

    @Test("messages decode to typed requests and responses that re-encode exactly", arguments: HalibutFixtures.fileNames)
    func typedMessagesRoundTrip(file name: String) throws {
        for message in HalibutFixtures.file(name).messages {
            let typed = try HalibutMessage(bson: message.bson)
            #expect(try typed.bsonBytes() == message.bson, "\(message.where_)")
        }
    }

    @Test(
        "requests built from decoded fields equal what the real 4.3.24 server writes",
        arguments: HalibutFixtures.serverFileNames.filter { $0.contains("4.3.24") }
    )
    func requestsBuiltFieldByFieldMatchRealServer(file name: String) throws {
        let requests = HalibutFixtures.file(name).messages.filter { $0.from == "halibut" && $0.json["Message"]?["method"] != nil }
        for recorded in requests {
            guard case .request(let decoded) = try HalibutMessage(bson: recorded.bson) else {
                Issue.record("\(recorded.where_) is not a request")
                continue
            }
            // Build anew with the default (ten-field) endpoint shape.
            let built = HalibutRequestMessage(
                id: decoded.id, activityID: decoded.activityID,
                endpoint: HalibutServiceEndPoint(baseURI: decoded.endpoint.baseURI, remoteThumbprint: decoded.endpoint.remoteThumbprint),
                service: decoded.service, method: decoded.method, params: decoded.params)
            #expect(try HalibutMessage.request(built).bsonBytes() == recorded.bson, "\(recorded.where_)")
        }
        if name.hasPrefix("server-4.3.24-rpc") && !name.contains("probe") {
            #expect(!requests.isEmpty)
        }
    }

    @Test("the 2.6.19 server's requests use the four-field endpoint (timeouts nil)")
    func halibut2RequestsUseFourFieldEndpoint() throws {
        let recorded = HalibutFixtures.file("server-2.6.19-rpc-string.json").messages.first { $0.from == "halibut" && $0.json["Message"]?["method"] != nil }!
        guard case .request(let decoded) = try HalibutMessage(bson: recorded.bson) else { throw HalibutOrderedForm.Mismatch(description: "not a request") }
        #expect(decoded.endpoint.timeouts == nil)
        #expect(decoded.endpoint.baseURI == "poll://abcdefghij0123456789/")
        #expect(decoded.service == "IEchoService" && decoded.method == "SayHello" && decoded.params == ["World"])
        var built = decoded
        built.endpoint = HalibutServiceEndPoint(baseURI: decoded.endpoint.baseURI, remoteThumbprint: decoded.endpoint.remoteThumbprint, timeouts: nil)
        #expect(try HalibutMessage.request(built).bsonBytes() == recorded.bson)
    }

    @Test("our compressor reproduces the recorded deflate bytes and inflates back", arguments: HalibutFixtures.fileNames)
    func compressorReproducesRecordedDeflate(file name: String) throws {
        for message in HalibutFixtures.file(name).messages {
            let termination: HalibutMessageCompressor.Termination
            switch message.reproducedBy {
            case "zlib level 6, raw (wbits -15), single Z_FINISH"?: termination = .finishOnly
            case "zlib level 6, raw (wbits -15), Z_SYNC_FLUSH then Z_FINISH"?: termination = .syncFlushThenFinish
            default:
                Issue.record("\(message.where_): unknown deflate_reproduced_by \(String(describing: message.reproducedBy))")
                continue
            }
            let exact = try HalibutMessageCompressor(termination: termination).compress(message.bson)
            #expect(exact == message.deflated, "\(message.where_)")
            // What we write by default always inflates back.
            let ours = try HalibutMessageCompressor().compress(message.bson)
            let (bson, consumed) = try HalibutMessageInflater.inflateMessage(ours)
            #expect(bson == message.bson && consumed == ours.count, "\(message.where_)")
        }
    }

    @Test("a mixed record leaves the following unit after the message", arguments: HalibutFixtures.fileNames.filter { $0.contains("coalesced") })
    func mixedRecordLeavesFollowingUnit(file name: String) throws {
        let mixed = HalibutFixtures.file(name).units.filter { $0.kind == "mixed" }
        #expect(mixed.count == 1)
        for unit in mixed {
            let segments = unit.raw["segments"]!.array!
            let inflater = HalibutMessageInflater()
            guard case .complete(let bson, let consumed) = try inflater.feed(unit.bytes) else {
                Issue.record("message in the mixed record did not complete")
                continue
            }
            #expect(bson == halibutHexBytes(segments[0]["bson_hex"]!.string!))
            #expect(consumed == segments[1]["offset"]!.int!)
            var control = HalibutControlLineReader()
            let rest = Array(unit.bytes[consumed...])
            #expect(try control.feed(rest) == .complete(.next, consumed: rest.count))
        }
    }

    @Test("partial messages need more input and are reported truncated at end of input")
    func partialMessagesAreTruncated() throws {
        let partials = HalibutFixtures.clientFileNames.flatMap { HalibutFixtures.file($0).partialMessages }
        #expect(partials.count == 2)
        for partial in partials {
            let inflater = HalibutMessageInflater()
            #expect(try inflater.feed(partial.deflatedPrefix) == .needMoreInput, "\(partial.where_)")
            #expect(inflater.isInsideMessage)
            // The intended message, once compressed, is what the half came from.
            let whole = try HalibutMessageCompressor().compress(partial.intendedBSON)
            #expect(Array(whole.prefix(partial.deflatedPrefix.count)) == partial.deflatedPrefix, "\(partial.where_)")
            #expect(throws: HalibutInflateError.self) { try HalibutMessageInflater.inflateMessage(partial.deflatedPrefix) }
        }
    }

    @Test("null keep-alive constants match spec §4 and the recordings")
    func nullKeepAliveConstants() throws {
        #expect(HalibutMessage.nullMessageBSON == halibutHexBytes("0E000000 0A4D657373616765 0000".replacingOccurrences(of: " ", with: "")))
        #expect(try HalibutMessage.null.bsonBytes() == HalibutMessage.nullMessageBSON)
        #expect(try HalibutMessage(bson: HalibutMessage.nullMessageBSON) == .null)
        #expect(HalibutMessage.nullMessageDeflatedByHalibut == halibutHexBytes("E3636060E0F24D2D2E4E4C4F65600000"))
        #expect(try HalibutMessageCompressor(termination: .finishOnly).compress(HalibutMessage.nullMessageBSON) == HalibutMessage.nullMessageDeflatedByHalibut)
        #expect(try HalibutMessageCompressor().compress(HalibutMessage.nullMessageBSON) == HalibutMessage.nullMessageDeflated)
        #expect(try HalibutMessageInflater.inflateMessage(HalibutMessage.nullMessageDeflated).bson == HalibutMessage.nullMessageBSON)
        #expect(try HalibutMessageInflater.inflateMessage(HalibutMessage.nullMessageDeflatedByHalibut).bson == HalibutMessage.nullMessageBSON)

        // Both forms occur in the recordings: real Halibut's and the test peers'.
        var seen: Set<[UInt8]> = []
        for name in HalibutFixtures.fileNames {
            for message in HalibutFixtures.file(name).messages where message.bson == HalibutMessage.nullMessageBSON {
                seen.insert(message.deflated)
            }
        }
        #expect(seen == [HalibutMessage.nullMessageDeflatedByHalibut, HalibutMessage.nullMessageDeflated])
    }

    @Test("recorded datetimes' ISO text and Guids' text agree with our readings", arguments: HalibutFixtures.fileNames)
    func isoDatesAndGuidsAgree(file name: String) throws {
        func walk(_ json: BSONOrderedJSON) throws {
            guard case .array(let triples) = json else { return }
            for triple in triples {
                guard let parts = triple.array, parts.count == 3 else { continue }
                switch parts[1].string {
                case "datetime":
                    let iso = parts[2]["iso"]!.string!
                    let value = try BSONExtendedJSON.value(fromJSONText: "{\"$date\":\"\(iso)\"}")
                    #expect(value == .utcDateTime(Int64(parts[2]["ms"]!.string!)!), "\(iso)")
                case "document", "array":
                    try walk(parts[2])
                default:
                    break
                }
            }
        }
        for message in HalibutFixtures.file(name).messages { try walk(message.ordered) }
    }

    @Test("recorded data-stream frames match the placeholders of the message before them", arguments: HalibutFixtures.fileNames.filter { $0.contains("datastream") })
    func dataStreamFramesMatchPlaceholders(file name: String) throws {
        let file = HalibutFixtures.file(name)
        var announced: [HalibutDataStreamDescriptor] = []
        var frames: [[UInt8]] = []
        var current: [UInt8] = []
        for unit in file.units {
            if unit.kind == "message" {
                if !current.isEmpty { frames.append(current); current = [] }
                announced += try HalibutMessage(bson: halibutHexBytes(unit.raw["bson_hex"]!.string!)).dataStreams()
            } else if unit.kind == "datastream" {
                current += unit.bytes
            }
        }
        if !current.isEmpty { frames.append(current) }
        #expect(announced.count == frames.count)
        #expect(!announced.isEmpty)
        for (descriptor, frame) in zip(announced, frames) {
            var reader = HalibutDataStreamReader(expecting: [descriptor])
            var body: [UInt8] = []
            var rest = frame[...]
            while !rest.isEmpty {
                guard case .event(let event, let consumed) = try reader.feed(rest) else { break }
                rest = rest.dropFirst(consumed)
                if case .body(_, let bytes) = event { body += bytes }
            }
            #expect(reader.isComplete)
            #expect(Int64(body.count) == descriptor.length)
            // Our encoder writes the same frame.
            #expect(HalibutDataStreamFrame.encode(id: descriptor.id, body: body) == frame)
        }
    }
}
