import PortholeWire
import Testing

@Suite("Halibut message deflate framing")
struct HalibutDeflateTests {
    static func sampleBSON(size: Int, seed: UInt64) throws -> [UInt8] {
        var generator = HalibutTestRandom(seed: seed)
        // Half random, half repetitive: exercises stored and compressed blocks.
        let noise = (0..<(size / 2)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let text = String(repeating: "Halibut ", count: size / 16)
        let document: BSONDocument = ["Message": ["$type": "T, A", "blob": .binary(subtype: 0, bytes: noise), "text": .string(text)]]
        return try document.bsonBytes()
    }

    @Test("compress then inflate returns the input, for every way of splitting the stream", arguments: [14, 1_000, 70_000, 300_000])
    func roundTripAnySplit(size: Int) throws {
        let bson = try Self.sampleBSON(size: size, seed: UInt64(size))
        for termination in [HalibutMessageCompressor.Termination.syncFlushThenFinish, .finishOnly] {
            let deflated = try HalibutMessageCompressor(termination: termination).compress(bson)
            for pieceSize in [1, 7, 4096, deflated.count] where pieceSize <= max(deflated.count, 1) {
                if size > 1_000 && pieceSize == 1 { continue }  // byte-by-byte is covered by the smaller sizes
                let inflater = HalibutMessageInflater()
                var offset = 0
                var result: [UInt8]?
                while offset < deflated.count {
                    let end = min(offset + pieceSize, deflated.count)
                    switch try inflater.feed(deflated[offset..<end]) {
                    case .needMoreInput:
                        offset = end
                    case .complete(let inflated, let consumed):
                        result = inflated
                        offset += consumed
                        #expect(offset == deflated.count)
                    }
                    if result != nil { break }
                }
                #expect(result == bson, "size \(size), pieces of \(pieceSize), \(termination)")
            }
        }
    }

    @Test("the inflater stops exactly at the end of the deflate stream and leaves what follows")
    func stopsExactlyAtStreamEnd() throws {
        let first = try HalibutMessageCompressor().compress(Self.sampleBSON(size: 2_000, seed: 1))
        let second = HalibutMessage.nullMessageDeflatedByHalibut
        let trailer = Array("NEXT\r\n".utf8)
        let stream = first + second + trailer
        let inflater = HalibutMessageInflater()
        guard case .complete(_, let consumedFirst) = try inflater.feed(stream) else { Issue.record("first incomplete"); return }
        #expect(consumedFirst == first.count)
        guard case .complete(let nullBSON, let consumedSecond) = try inflater.feed(stream[consumedFirst...]) else {
            Issue.record("second incomplete")
            return
        }
        #expect(nullBSON == HalibutMessage.nullMessageBSON)
        #expect(consumedSecond == second.count)
        #expect(!inflater.isInsideMessage)
    }

    @Test("a message that inflates past the limit is a typed error, even a deflate bomb")
    func overLimitMessage() throws {
        let bomb = try HalibutMessageCompressor().compress([UInt8](repeating: 0, count: 8 << 20))
        #expect(bomb.count < 20_000)
        let inflater = HalibutMessageInflater(maxMessageBytes: 1 << 20)
        #expect(throws: HalibutInflateError.messageTooLarge(limit: 1 << 20)) { try inflater.feed(bomb) }
        // The error sticks until reset; after reset the inflater works again.
        #expect(throws: HalibutInflateError.messageTooLarge(limit: 1 << 20)) { try inflater.feed(HalibutMessage.nullMessageDeflated) }
        inflater.reset()
        #expect(try inflater.feed(HalibutMessage.nullMessageDeflated) == .complete(bson: HalibutMessage.nullMessageBSON, consumed: 22))
    }

    @Test("a limit exactly at the message size is accepted")
    func limitIsInclusive() throws {
        let inflater = HalibutMessageInflater(maxMessageBytes: 14)
        #expect(try inflater.feed(HalibutMessage.nullMessageDeflated) == .complete(bson: HalibutMessage.nullMessageBSON, consumed: 22))
        let tight = HalibutMessageInflater(maxMessageBytes: 13)
        #expect(throws: HalibutInflateError.messageTooLarge(limit: 13)) { try tight.feed(HalibutMessage.nullMessageDeflated) }
    }

    @Test("garbage is a malformed deflate stream, not a crash", arguments: [
        [0xFF, 0xFF, 0xFF, 0xFF] as [UInt8],
        [0x07, 0x00, 0x00],  // BTYPE 11 (reserved)
        [0x01, 0x05, 0x00, 0x00, 0x00],  // stored block whose NLEN is not ~LEN
        Array("NEXT\r\n".utf8),
    ])
    func garbageDeflate(bytes: [UInt8]) {
        #expect(throws: HalibutInflateError.self) { try HalibutMessageInflater.inflateMessage(bytes) }
    }

    @Test("empty input needs more input and starts nothing")
    func emptyInput() throws {
        let inflater = HalibutMessageInflater()
        #expect(try inflater.feed([UInt8]()) == .needMoreInput)
        #expect(!inflater.isInsideMessage)
    }

    @Test("sync flush adds an empty stored block and an empty final block (6 or 7 bytes, spec §4)")
    func syncFlushCostsSixBytes() throws {
        let bson = try Self.sampleBSON(size: 500, seed: 3)
        let finishOnly = try HalibutMessageCompressor(termination: .finishOnly).compress(bson)
        let sync = try HalibutMessageCompressor().compress(bson)
        // Same data bits; the extra length depends on the bit alignment.
        #expect((6...7).contains(sync.count - finishOnly.count))
        #expect(Array(sync.suffix(6)) == [0x00, 0x00, 0xFF, 0xFF, 0x03, 0x00])
    }
}
