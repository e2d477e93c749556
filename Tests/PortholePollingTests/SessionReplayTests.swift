// Vectors README "Using them in tests" step 4: the bytes real Halibut
// agents (2.6.19, 4.3.24) sent are fed into the session state machine with
// the recorded record boundaries, all at once, and one byte at a time. The
// machine is handed the same requests the recording's server sent; what it
// writes must have the shape of the recorded server units, and every
// response must complete its own call.

import Foundation
import PortholePolling
import PortholeWire
import Testing

enum ReplayFixtures {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("PortholeWireTests/Halibut/Fixtures/halibut")

    static func json(_ name: String) -> BSONOrderedJSON {
        let data = FileManager.default.contents(atPath: directory.appendingPathComponent(name).path)!
        return try! BSONOrderedJSON(parsingUTF8: Array(data))
    }

    static func bytes(hex: String) -> [UInt8] {
        var out: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            out.append(UInt8(hex[index..<next], radix: 16)!)
            index = next
        }
        return out
    }
}

/// One recorded unit of one connection.
struct RecordedUnit {
    var direction: String
    var kind: String
    var bytes: [UInt8]
    var streamPart: String?

    static func load(_ file: String, connection: Int = 0) -> [RecordedUnit] {
        guard case .array(let units)? = ReplayFixtures.json(file)["units"] else { return [] }
        return units.compactMap { unit in
            guard case .number(let conn)? = unit["conn"], Int(conn) == connection,
                  case .string(let direction)? = unit["dir"], case .string(let kind)? = unit["kind"], kind != "event",
                  case .string(let hex)? = unit["hex"] else { return nil }
            var part: String?
            if case .string(let p)? = unit["stream_part"] { part = p }
            return RecordedUnit(direction: direction, kind: kind, bytes: ReplayFixtures.bytes(hex: hex), streamPart: part)
        }
    }
}

/// What the server side of a recording did, turn by turn: the requests (with
/// their stream bodies) or nulls it handed the agent.
enum ServerTurn {
    case request(PollingCall)
    case null
}

func serverTurns(_ units: [RecordedUnit]) throws -> [ServerTurn] {
    var turns: [ServerTurn] = []
    var pendingStreams: [HalibutDataStreamDescriptor] = []
    var streamIndex = 0
    for unit in units where unit.direction == "s2c" {
        switch unit.kind {
        case "message":
            let inflated = try HalibutMessageInflater.inflateMessage(unit.bytes)
            let message = try HalibutMessage(bson: inflated.bson)
            switch message {
            case .request(let request):
                turns.append(.request(PollingCall(request: request)))
                pendingStreams = try request.dataStreams()
                streamIndex = 0
            default:
                turns.append(.null)
            }
        case "datastream" where unit.streamPart == "body":
            guard case .request(var call)? = turns.last else { continue }
            let id = pendingStreams[streamIndex].id
            call.outgoingStreams[id, default: []] += unit.bytes
            turns[turns.count - 1] = .request(call)
        case "datastream" where unit.streamPart == "length-trailer":
            if case .request(var call)? = turns.last, call.outgoingStreams[pendingStreams[streamIndex].id] == nil {
                call.outgoingStreams[pendingStreams[streamIndex].id] = []
                turns[turns.count - 1] = .request(call)
            }
            streamIndex += 1
        default:
            break
        }
    }
    return turns
}

/// Drives a state machine as the I/O layer would, answering `collectWork`
/// with the recorded server turns.
final class ReplayDriver {
    let machine: PollingSessionStateMachine
    var turns: [ServerTurn]
    var writes: [[UInt8]] = []
    var completed: [PollingCallResult] = []
    var failed: [PollingCallError] = []
    var closeReasons: [String] = []
    var sentRequestIDs: [String] = []

    init(turns: [ServerTurn]) {
        self.turns = turns
        machine = PollingSessionStateMachine(transport: .raw, thumbprint: "AB", timings: PollingSessionTimings(),
                                             gatekeeper: PollingGatekeeper(isTrusted: { _ in true }, admit: { _, _ in nil }))
        run(machine.start())
    }

    func feed(_ bytes: [UInt8]) { run(machine.receive(bytes)) }
    func finish() { run(machine.endOfInput()) }

    func run(_ actions: [PollingSessionAction]) {
        for action in actions {
            switch action {
            case .write(let bytes): writes.append(bytes)
            case .writeAndClose(let bytes): writes.append(bytes); closeReasons.append("friendly page")
            case .close(let reason): closeReasons.append(reason)
            case .reject(let rejection): closeReasons.append(rejection.reason)
            case .completeCall(let result): completed.append(result)
            case .failCall(let error): failed.append(error)
            case .collectWork:
                guard !turns.isEmpty else { continue }
                switch turns.removeFirst() {
                case .request(let call):
                    sentRequestIDs.append(call.request.id)
                    run(machine.send(CollectedCall(call: call, subscription: "poll://abcdefghij0123456789/")))
                case .null:
                    run(machine.sendKeepalive())
                }
            default: break
            }
        }
    }

    /// Our writes classified like the recording's `kind`s, stream frame
    /// parts merged into one `datastream`.
    func writtenKinds() throws -> [String] {
        var kinds: [String] = []
        for bytes in writes {
            if bytes == HalibutIdentity.serverIdentityBytes { kinds.append("identity") }
            else if bytes == HalibutControlLine.proceed.encoded { kinds.append("control") }
            else if let inflated = try? HalibutMessageInflater.inflateMessage(bytes), inflated.consumed == bytes.count {
                _ = try HalibutMessage(bson: inflated.bson)
                kinds.append("message")
            } else if kinds.last != "datastream" { kinds.append("datastream") }
        }
        return kinds
    }
}

func recordedServerKinds(_ units: [RecordedUnit]) -> [String] {
    var kinds: [String] = []
    for unit in units where unit.direction == "s2c" {
        if unit.kind == "datastream" && kinds.last == "datastream" { continue }
        kinds.append(unit.kind)
    }
    return kinds
}

enum FeedMode: String, CaseIterable { case records, concatenated, bytes }

@Suite("Session replay of real agents")
struct SessionReplayTests {
    static let files = ["keepalive", "rpc-string", "rpc-complex", "rpc-datastream", "rpc-datastream-large", "rpc-unknown", "rpc-exception"]
        .flatMap { scenario in ["2.6.19", "4.3.24"].map { "client-\($0)-\(scenario).json" } }

    @Test(arguments: files, FeedMode.allCases)
    func realAgentBytesDriveTheSessionLikeTheRecordedServer(file: String, mode: FeedMode) throws {
        let units = RecordedUnit.load(file)
        let driver = ReplayDriver(turns: try serverTurns(units))
        let agentBytes = units.filter { $0.direction == "c2s" }
        switch mode {
        case .records: for unit in agentBytes { driver.feed(unit.bytes) }
        case .concatenated: driver.feed(agentBytes.flatMap(\.bytes))
        case .bytes: for byte in agentBytes.flatMap(\.bytes) { driver.feed([byte]) }
        }
        driver.finish()

        let responses = agentBytes.filter { $0.kind == "message" }.count
        #expect(driver.failed.isEmpty, "\(driver.failed)")
        #expect(driver.completed.count == responses)
        #expect(driver.completed.map(\.response.id) == Array(driver.sentRequestIDs.prefix(responses)))
        #expect(driver.writes.first == Array("MX-SERVER 1.0\r\n\r\n".utf8))
        // Our writes have the recording's shape: what the server sent after
        // the last NEXT depends on timing, so compare up to our last write.
        let ours = try driver.writtenKinds()
        let recorded = recordedServerKinds(units)
        #expect(Array(recorded.prefix(ours.count)) == ours, "ours \(ours) recorded \(recorded)")
        #expect(ours.count >= recorded.count - 1)
        #expect(driver.closeReasons.count == 1)
    }

    @Test(arguments: ["2.6.19", "4.3.24"])
    func datastreamResultsReachTheCaller(version: String) throws {
        let units = RecordedUnit.load("client-\(version)-rpc-datastream.json")
        let driver = ReplayDriver(turns: try serverTurns(units))
        for unit in units where unit.direction == "c2s" { driver.feed(unit.bytes) }
        let download = try #require(driver.completed.first { !$0.streams.isEmpty })
        let body = try #require(download.streams.values.first)
        #expect(String(decoding: body, as: UTF8.self).hasPrefix("Contents of "))
    }

    @Test func probeGetsTheFriendlyPageAndNoCertificateCheck() {
        let driver = ReplayDriver(turns: [])
        driver.feed(Array("HELLO\r\n\r\n".utf8))
        #expect(driver.writes == [FriendlyPage.halibutDefault.response()])
        #expect(driver.closeReasons == ["friendly page"])
    }

    @Test func untrustedOrMissingCertificateClosesWithoutAReply() {
        for thumbprint in [nil, "0123456789ABCDEF0123456789ABCDEF01234567"] as [String?] {
            let machine = PollingSessionStateMachine(transport: .raw, thumbprint: thumbprint, timings: PollingSessionTimings(),
                                                     gatekeeper: PollingGatekeeper(isTrusted: { _ in false }, admit: { _, _ in nil }))
            _ = machine.start()
            let actions = machine.receive(Array("MX\n\nMX-SUBSCRIBER 1.0 poll://abc/\n\n".utf8))
            #expect(actions.count == 1)
            guard case .reject(let rejection)? = actions.first else { Issue.record("\(actions)"); continue }
            #expect(rejection.kind == (thumbprint == nil ? .noCertificate : .untrusted))
            #expect(rejection.reason.contains(thumbprint ?? "no client certificate"))
        }
    }

    @Test func admissionRefusalClosesWithoutMXServer() {
        let machine = PollingSessionStateMachine(transport: .raw, thumbprint: "AB", timings: PollingSessionTimings(),
                                                 gatekeeper: PollingGatekeeper(isTrusted: { _ in true }, admit: { _, _ in PollingRejection(.bindingMismatch, "bound to another thumbprint") }))
        _ = machine.start()
        let actions = machine.receive(Array("MX\r\n\r\nMX-SUBSCRIBER 1.0 poll://abc/\r\n\r\n".utf8))
        guard case .reject(let rejection)? = actions.last else { Issue.record("\(actions)"); return }
        #expect(rejection.kind == .bindingMismatch)
        #expect(!actions.contains { if case .write = $0 { return true } else { return false } })
    }

    @Test func responseWithUnknownIDIsDroppedAndTheCallFails() throws {
        let request = makeCall("expected-id")
        let driver = ReplayDriver(turns: [.request(request)])
        driver.feed(Array("MX\n\nMX-SUBSCRIBER 1.0 poll://abc/\n\n".utf8))
        let wrong = try HalibutMessage.response(HalibutResponseMessage(id: "other-id", result: .string("x"))).deflatedUnit()
        driver.feed(wrong + Array("NEXT\r\n".utf8))
        #expect(driver.completed.isEmpty)
        #expect(driver.failed.count == 1)
        // The connection goes on: PROCEED was written.
        #expect(driver.writes.last == HalibutControlLine.proceed.encoded || driver.writes.contains(HalibutControlLine.proceed.encoded))
        #expect(driver.closeReasons.isEmpty)
    }

    @Test func endOfInputWhileARequestIsInFlightFailsTheCall() {
        let driver = ReplayDriver(turns: [.request(makeCall("gone"))])
        driver.feed(Array("MX\n\nMX-SUBSCRIBER 1.0 poll://abc/\n\n".utf8))
        driver.finish()
        #expect(driver.failed.count == 1)
        #expect(driver.completed.isEmpty)
    }

    @Test func responseTimeoutFailsTheCallAndCloses() {
        let driver = ReplayDriver(turns: [.request(makeCall("slow"))])
        driver.feed(Array("MX\n\nMX-SUBSCRIBER 1.0 poll://abc/\n\n".utf8))
        driver.run(driver.machine.timerFired(.response))
        guard case .responseTimeout? = driver.failed.first else { Issue.record("\(driver.failed)"); return }
        #expect(driver.closeReasons.count == 1)
    }
}
