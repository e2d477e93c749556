// Server replay (vectors README "Using them in tests" step 4): the bytes a
// real Halibut peer sent, fed through HalibutUnitDecoder in the recorded TLS
// record boundaries, all concatenated, and one byte at a time. The parsed
// sequence must be the same every time and must match the recording.

import Foundation
import PortholeWire
import Testing

/// What the replay saw, with body chunks merged (chunking depends on how
/// the input was split; the content must not).
enum HalibutReplayItem: Hashable, CustomStringConvertible {
    case preamble(String)
    case identity(HalibutIdentity)
    case control(HalibutControlLine)
    case message([UInt8])
    case streamStarted(HalibutGuid, Int64)
    case streamBody(HalibutGuid, [UInt8])
    case streamFinished(HalibutGuid, Int)
    case endOfInput(String)

    var description: String {
        switch self {
        case .preamble(let t): return "preamble(\(t.debugDescription))"
        case .identity(let i): return "identity(\(i))"
        case .control(let c): return "control(\(c.rawValue))"
        case .message(let b): return "message(\(b.count) bytes)"
        case .streamStarted(let id, let n): return "streamStarted(\(id), \(n))"
        case .streamBody(let id, let b): return "streamBody(\(id), \(b.count) bytes)"
        case .streamFinished(let id, let r): return "streamFinished(\(id), remaining \(r))"
        case .endOfInput(let outcome): return "endOfInput(\(outcome))"
        }
    }
}

/// A tiny stand-in for the connection state machine: it knows what to
/// expect from the recorded unit kinds, and takes the data-stream
/// placeholders from the message it just decoded.
struct HalibutReplayDriver {
    enum Expectation { case unit(HalibutExpectedUnit), dataStreamsOfLastMessage }

    var expectations: [Expectation]
    var next = 0
    let decoder = HalibutUnitDecoder()
    var lastMessageStreams: [HalibutDataStreamDescriptor] = []
    var items: [HalibutReplayItem] = []

    init(kinds: [String]) {
        var expectations: [Expectation] = []
        for kind in kinds {
            switch kind {
            case "preamble", "http": expectations.append(.unit(.preamble))
            case "identity": expectations.append(.unit(.identity))
            case "control": expectations.append(.unit(.controlLine))
            case "message": expectations.append(.unit(.message))
            case "datastream":
                // Consecutive stream records are the frames of one message.
                if case .dataStreamsOfLastMessage? = expectations.last {} else { expectations.append(.dataStreamsOfLastMessage) }
            default: break
            }
        }
        self.expectations = expectations
    }

    mutating func append(_ item: HalibutReplayItem) {
        if case .streamBody(let id, let bytes) = item, case .streamBody(let lastID, let lastBytes)? = items.last, lastID == id {
            items[items.count - 1] = .streamBody(id, lastBytes + bytes)
        } else {
            items.append(item)
        }
    }

    /// Moves on to the next expectation when the decoder is idle.
    mutating func advanceIfIdle() throws -> Bool {
        guard !decoder.isExpectingUnit else { return true }
        guard next < expectations.count else { return false }
        defer { next += 1 }
        switch expectations[next] {
        case .unit(let unit): try decoder.expect(unit)
        case .dataStreamsOfLastMessage: try decoder.expect(.dataStreams(lastMessageStreams))
        }
        return true
    }

    mutating func feed(_ chunk: [UInt8]) throws {
        var rest = chunk[...]
        while try advanceIfIdle() {
            let step = try decoder.decode(rest)
            rest = rest.dropFirst(step.consumed)
            guard let unit = step.unit else { break }
            switch unit {
            case .preamble(let p): append(.preamble(p.text))
            case .identity(let i): append(.identity(i))
            case .control(let c): append(.control(c))
            case .message(let bson):
                append(.message(bson))
                lastMessageStreams = try HalibutMessage(bson: bson).dataStreams()
            case .dataStream(.started(let id, let length)): append(.streamStarted(id, length))
            case .dataStream(.body(let id, let bytes)): append(.streamBody(id, bytes))
            case .dataStream(.finished(let id, let remaining)): append(.streamFinished(id, remaining))
            }
        }
        if !rest.isEmpty { throw HalibutReplayFailure(description: "\(rest.count) byte(s) arrived when no unit was expected") }
    }

    mutating func finish() {
        do {
            if let unit = try decoder.decodeAtEndOfInput() {
                if case .preamble(let p) = unit { append(.preamble(p.text)) }
                append(.endOfInput("unit completed by EOF"))
            } else {
                append(.endOfInput("clean"))
            }
        } catch {
            append(.endOfInput("error: \(error)"))
        }
    }
}

struct HalibutReplayFailure: Error, CustomStringConvertible {
    var description: String
}

/// One direction of one connection of a vector file.
struct HalibutReplayStream {
    var label: String
    var records: [[UInt8]]
    var kinds: [String]
    var units: [HalibutVectorUnit]

    static func streams(in file: HalibutVectorFile) -> [HalibutReplayStream] {
        var out: [HalibutReplayStream] = []
        let connections = Set(file.units.map(\.conn)).sorted()
        for conn in connections where conn >= 0 {
            for dir in ["c2s", "s2c"] {
                let units = file.units.filter { $0.conn == conn && $0.dir == dir && !$0.bytes.isEmpty }
                // The friendly HTML page is not a Halibut unit we parse.
                if units.isEmpty || (dir == "s2c" && units.contains { $0.kind == "http" }) { continue }
                var kinds: [String] = []
                for unit in units {
                    if unit.kind == "mixed" {
                        kinds += unit.raw["segments"]!.array!.map { $0["kind"]!.string! }
                    } else if !(unit.kind == "datastream" && kinds.last == "datastream") {
                        kinds.append(unit.kind)
                    }
                }
                out.append(HalibutReplayStream(
                    label: "\(file.name) conn \(conn) \(dir)", records: units.map(\.bytes), kinds: kinds, units: units))
            }
        }
        return out
    }

    func replay(_ chunks: [[UInt8]]) throws -> [HalibutReplayItem] {
        var driver = HalibutReplayDriver(kinds: kinds)
        for chunk in chunks { try driver.feed(chunk) }
        driver.finish()
        return driver.items
    }

    /// What the recording says the stream holds.
    func recordedItems() -> [HalibutReplayItem] {
        var items: [HalibutReplayItem] = []
        for unit in units {
            switch unit.kind {
            case "preamble", "http":
                // Halibut's reading: CRs dropped, up to the empty line.
                let text = String(decoding: unit.bytes.filter { $0 != 0x0D }, as: UTF8.self)
                items.append(.preamble(String(text.prefix(upTo: text.range(of: "\n\n")?.lowerBound ?? text.endIndex))))
            case "identity":
                let line = unit.text!.split(whereSeparator: { $0 == "\r\n" || $0 == "\n" || $0 == "\r" }).first.map(String.init)!
                items.append(.identity(try! HalibutIdentity(line: line)))
            case "control":
                items.append(.control(HalibutControlLine(rawValue: unit.text!.trimmingCharacters(in: .whitespacesAndNewlines))!))
            case "message" where unit.raw["partial_message"]?.bool != true:
                items.append(.message(halibutHexBytes(unit.raw["bson_hex"]!.string!)))
            case "mixed":
                for segment in unit.raw["segments"]!.array! {
                    if segment["kind"]?.string == "message" { items.append(.message(halibutHexBytes(segment["bson_hex"]!.string!))) }
                    if segment["kind"]?.string == "control" {
                        let offset = segment["offset"]!.int!, length = segment["length"]!.int!
                        let text = String(decoding: unit.bytes[offset..<(offset + length)], as: UTF8.self)
                        items.append(.control(HalibutControlLine(rawValue: text.trimmingCharacters(in: .whitespacesAndNewlines))!))
                    }
                }
            case "datastream":
                let part = unit.raw["stream_part"]?.string
                if part == "id" {
                    items.append(.streamStarted(HalibutGuid(unit.raw["stream_id"]!.string!)!, 0))
                } else if part == "length", case .streamStarted(let id, _)? = items.last {
                    items[items.count - 1] = .streamStarted(id, Int64(unit.raw["int64_le"]!.string!)!)
                } else if part == "body", case .streamStarted(let id, _)? = items.last {
                    items.append(.streamBody(id, unit.bytes))
                } else if part == "body", case .streamBody(let id, let bytes)? = items.last {
                    items[items.count - 1] = .streamBody(id, bytes + unit.bytes)
                } else if part == "length-trailer" {
                    let id: HalibutGuid? = {
                        switch items.last {
                        case .streamBody(let id, _)?, .streamStarted(let id, _)?: return id
                        default: return nil
                        }
                    }()
                    items.append(.streamFinished(id!, -1))  // remaining count checked separately
                }
            default:
                break
            }
        }
        return items
    }
}

@Suite("Halibut replay of recorded streams")
struct HalibutReplayTests {
    static let streams: [HalibutReplayStream] = HalibutFixtures.fileNames.flatMap {
        HalibutReplayStream.streams(in: HalibutFixtures.file($0))
    }

    @Test("real client bytes parse the same in record boundaries, concatenated and byte by byte", arguments: HalibutFixtures.clientFileNames)
    func clientRecordingsReplayIdentically(file name: String) throws {
        try checkReplays(HalibutReplayStream.streams(in: HalibutFixtures.file(name)).filter { $0.label.hasSuffix("c2s") })
    }

    @Test("every other recorded direction parses the same in all three feedings", arguments: HalibutFixtures.fileNames)
    func allRecordedDirectionsReplayIdentically(file name: String) throws {
        let streams = HalibutReplayStream.streams(in: HalibutFixtures.file(name))
        try checkReplays(streams.filter { !(name.hasPrefix("client-") && $0.label.hasSuffix("c2s")) })
    }

    func checkReplays(_ streams: [HalibutReplayStream]) throws {
        for stream in streams {
            let inRecords = try stream.replay(stream.records)
            let concatenated = try stream.replay([stream.records.flatMap { $0 }])
            let singleBytes = try stream.replay(stream.records.flatMap { $0 }.map { [$0] })
            #expect(inRecords == concatenated, "\(stream.label): concatenated")
            #expect(inRecords == singleBytes, "\(stream.label): byte by byte")

            // And it is what was recorded (remaining-stream counts aside).
            let parsed = inRecords.compactMap { item -> HalibutReplayItem? in
                switch item {
                case .endOfInput: return nil
                case .streamFinished(let id, _): return .streamFinished(id, -1)
                default: return item
                }
            }
            #expect(parsed == stream.recordedItems(), "\(stream.label)")
            let expectedEnd = stream.units.contains { $0.raw["partial_message"]?.bool == true }
                ? "error" : "clean"
            if case .endOfInput(let outcome)? = inRecords.last {
                #expect(outcome.hasPrefix(expectedEnd) || (outcome == "unit completed by EOF" && stream.kinds.last == "preamble"),
                        "\(stream.label): end of input \(outcome)")
            }
        }
    }

    @Test("the replay covers every kind of unit the real peers send")
    func replayCoversAllUnitKinds() {
        let kinds = Set(Self.streams.flatMap(\.kinds))
        #expect(kinds.isSuperset(of: ["preamble", "identity", "control", "message", "datastream", "http"]))
        #expect(Self.streams.count > 60)
    }
}
