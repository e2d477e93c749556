// Hostile and broken input: every failure must be a typed error, never a
// trap, an unbounded allocation or a hang.

import PortholeWire
import Testing

@Suite("Halibut malformed input")
struct HalibutMalformedInputTests {
    /// Recorded message BSON and deflate bytes from every vector file.
    static let recorded: [HalibutVectorMessage] = HalibutFixtures.fileNames.flatMap { HalibutFixtures.file($0).messages }

    @Test("every truncation of a recorded message's BSON is a typed decoding error")
    func truncatedBSON() throws {
        let sample = Self.recorded.filter { $0.bson.count < 2_500 }.prefix(12)
        #expect(sample.count == 12)
        for message in sample {
            for length in 0..<message.bson.count {
                #expect(throws: BSONDecodingError.self, "\(message.where_) cut at \(length)") {
                    try BSONDocument(bsonBytes: Array(message.bson.prefix(length)))
                }
            }
        }
    }

    @Test("bad length fields are caught before they are trusted", arguments: [
        // Document length larger than the buffer.
        ([0xFF, 0, 0, 0, 0], BSONDecodingError.invalidDocumentLength(offset: 0, declared: 255)),
        // Document length below the minimum.
        ([0x04, 0, 0, 0], .invalidDocumentLength(offset: 0, declared: 4)),
        // Negative document length.
        ([0xFF, 0xFF, 0xFF, 0xFF, 0], .invalidDocumentLength(offset: 0, declared: -1)),
        // String length beyond its document.
        ([0x0E, 0, 0, 0, 0x02, 0x61, 0, 0x40, 0, 0, 0, 0x78, 0, 0], .invalidStringLength(offset: 7, declared: 64)),
        // Zero string length (must include the NUL).
        ([0x0E, 0, 0, 0, 0x02, 0x61, 0, 0x00, 0, 0, 0, 0x78, 0, 0], .invalidStringLength(offset: 7, declared: 0)),
        // String without its NUL.
        ([0x0E, 0, 0, 0, 0x02, 0x61, 0, 0x02, 0, 0, 0, 0x78, 0x79, 0], .stringNotTerminated(offset: 7)),
        // Negative binary length.
        ([0x0E, 0, 0, 0, 0x05, 0x61, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0, 0], .invalidBinaryLength(offset: 7, declared: -1)),
        // Nested document claiming more than its parent holds.
        ([0x0D, 0, 0, 0, 0x03, 0x61, 0, 0x20, 0, 0, 0, 0, 0], .invalidDocumentLength(offset: 7, declared: 32)),
        // Element running into the parent's terminator.
        ([0x0B, 0, 0, 0, 0x10, 0x61, 0, 1, 0, 0, 0], .truncated(offset: 7, needed: 4)),
        // Terminator before the declared end.
        ([0x07, 0, 0, 0, 0, 0, 0], .documentLengthMismatch(offset: 5)),
        // Key without NUL.
        ([0x08, 0, 0, 0, 0x0A, 0x61, 0x62, 0], .cStringNotTerminated(offset: 5)),
        // Boolean other than 0/1.
        ([0x0A, 0, 0, 0, 0x08, 0x61, 0, 0x02, 0, 0], .invalidBoolean(offset: 7, byte: 2)),
        // Unsupported element type (0x13, decimal128).
        ([0x08, 0, 0, 0, 0x13, 0x61, 0, 0], .unsupportedElementType(offset: 4, type: 0x13)),
        // Invalid UTF-8 in a key.
        ([0x08, 0, 0, 0, 0x0A, 0xFF, 0, 0], .invalidUTF8(offset: 5)),
        // Bytes after the document.
        ([0x05, 0, 0, 0, 0, 0x00], .trailingBytes(offset: 5, count: 1)),
    ] as [([UInt8], BSONDecodingError)])
    func badLengths(bytes: [UInt8], error: BSONDecodingError) {
        #expect(throws: error) { try BSONDocument(bsonBytes: bytes) }
    }

    @Test("nesting deeper than the limit is an error, not a stack overflow")
    func deepNesting() throws {
        var value: BSONValue = .null
        for _ in 0..<500 { value = ["a": value] }
        let root: BSONDocument = ["x": value]
        let bytes = try root.bsonBytes()
        #expect(throws: BSONDecodingError.self) { try BSONDocument(bsonBytes: bytes) }
        #expect(throws: BSONDecodingError.nestingTooDeep(offset: 21, limit: 3)) { try BSONDecoder(maxNestingDepth: 3).decodeDocument(bytes) }
    }

    @Test("the unit decoder reports truncation at end of input and stays failed after an error")
    func unitDecoderFailures() throws {
        let decoder = HalibutUnitDecoder()
        try decoder.expect(.message)
        let half = Array(HalibutMessage.nullMessageDeflated.prefix(8))
        #expect(try decoder.decode(half) == HalibutDecodeStep(consumed: 8, unit: nil))
        #expect(decoder.isInsideUnit)
        #expect(throws: HalibutUnitDecoderError.expectationChangedMidUnit) { try decoder.expect(.controlLine) }
        #expect(throws: HalibutUnitDecoderError.failedEarlier) { try decoder.decode([0x00]) }

        let eof = HalibutUnitDecoder()
        try eof.expect(.message)
        _ = try eof.decode(half)
        #expect(throws: HalibutUnitDecoderError.truncated(expecting: "message")) { try eof.decodeAtEndOfInput() }

        let idle = HalibutUnitDecoder()
        #expect(try idle.decode([1, 2, 3]) == HalibutDecodeStep(consumed: 0, unit: nil))
        try idle.expect(.controlLine)
        #expect(try idle.decodeAtEndOfInput() == nil)  // EOF between units: the agent's END

        let garbage = HalibutUnitDecoder()
        try garbage.expect(.message)
        #expect(throws: HalibutUnitDecoderError.self) { try garbage.decode([0xFF, 0xFF]) }

        let tooBig = HalibutUnitDecoder(limits: HalibutDecoderLimits(maxMessageBytes: 10))
        try tooBig.expect(.message)
        #expect(throws: HalibutUnitDecoderError.message(.messageTooLarge(limit: 10))) { try tooBig.decode(HalibutMessage.nullMessageDeflated) }

        let preamble = HalibutUnitDecoder(limits: HalibutDecoderLimits(maxPreambleCharacters: 100))
        try preamble.expect(.preamble)
        #expect(throws: HalibutUnitDecoderError.line(.preambleTooLong(limit: 100))) {
            try preamble.decode([UInt8](repeating: 0x41, count: 101))
        }
    }

    @Test("seeded random mutations of recorded messages never crash the BSON decoder or the inflater")
    func seededMutationFuzz() throws {
        var rng = HalibutTestRandom(seed: 0x4841_4C49_4255_5421)  // "HALIBUT!"
        let messages = Self.recorded
        var decodedOK = 0, rejected = 0, inflatedOK = 0, inflateRejected = 0, needMore = 0
        for _ in 0..<2_000 {
            let message = messages[Int.random(in: 0..<messages.count, using: &rng)]

            // BSON decoder: if a mutant decodes, it must also re-encode and
            // decode to the same value.
            let bsonMutant = Self.mutate(message.bson, using: &rng)
            do {
                let document = try BSONDocument(bsonBytes: bsonMutant)
                decodedOK += 1
                let again = try BSONDocument(bsonBytes: document.bsonBytes())
                #expect(again == document)
                _ = try? HalibutMessage(envelope: document)
                _ = BSONExtendedJSON.string(from: document)
            } catch {
                rejected += 1
            }

            // Inflater, with a small limit so bombs are cut short; a
            // complete result goes on into the message decoder.
            let deflateMutant = Self.mutate(message.deflated, using: &rng)
            let inflater = HalibutMessageInflater(maxMessageBytes: 1 << 16)
            do {
                switch try inflater.feed(deflateMutant) {
                case .complete(let bson, let consumed):
                    inflatedOK += 1
                    #expect(consumed <= deflateMutant.count)
                    _ = try? HalibutMessage(bson: bson)
                case .needMoreInput:
                    needMore += 1
                }
            } catch {
                inflateRejected += 1
            }

            // The unit decoder on the same bytes, as a control line and as
            // data-stream frames, must also only ever throw typed errors.
            let lines = HalibutUnitDecoder()
            try lines.expect(.controlLine)
            _ = try? lines.decode(deflateMutant)
            let streams = HalibutUnitDecoder()
            try streams.expect(.dataStreams([HalibutDataStreamDescriptor(id: HalibutGuid(dotNetBytes: Array(bsonMutant.prefix(16)) + [UInt8](repeating: 0, count: max(0, 16 - bsonMutant.count)))!, length: 4)]))
            var rest = bsonMutant[...]
            while let step = try? streams.decode(rest), step.unit != nil { rest = rest.dropFirst(step.consumed) }
        }
        // The mutations really exercise both outcomes.
        #expect(decodedOK > 0 && rejected > 0)
        #expect(inflatedOK > 0 && inflateRejected + needMore > 0)
    }

    /// Flip bits, overwrite bytes, insert, delete, truncate or duplicate a
    /// range, with extra weight on little-endian length fields.
    static func mutate(_ input: [UInt8], using rng: inout HalibutTestRandom) -> [UInt8] {
        var bytes = input
        let rounds = Int.random(in: 1...4, using: &rng)
        for _ in 0..<rounds {
            guard !bytes.isEmpty else { bytes = [UInt8.random(in: 0...255, using: &rng)]; continue }
            let index = Int.random(in: 0..<bytes.count, using: &rng)
            switch Int.random(in: 0..<7, using: &rng) {
            case 0: bytes[index] ^= 1 << UInt8.random(in: 0..<8, using: &rng)
            case 1: bytes[index] = UInt8.random(in: 0...255, using: &rng)
            case 2: bytes.insert(UInt8.random(in: 0...255, using: &rng), at: index)
            case 3: bytes.remove(at: index)
            case 4: bytes = Array(bytes.prefix(index))
            case 5:
                let end = min(bytes.count, index + Int.random(in: 1...32, using: &rng))
                bytes.insert(contentsOf: bytes[index..<end], at: index)
            default:
                // An interesting int32 where a length field might be.
                let value: Int32 = [0, 1, 4, 5, -1, Int32.max, Int32.min, 0x7FFF_FFF0].randomElement(using: &rng)!
                let bits = UInt32(bitPattern: value)
                for i in 0..<4 where index + i < bytes.count { bytes[index + i] = UInt8(truncatingIfNeeded: bits >> (8 * UInt32(i))) }
            }
        }
        return bytes
    }
}
