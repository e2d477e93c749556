import PortholeWire
import Testing

@Suite("BSON codec")
struct BSONCodecTests {
    /// One element of every supported type, in a fixed order.
    static let everyType: BSONDocument = [
        "$type": "Some.Type, Assembly",
        "double": .double(-2.5),
        "string": "héllo\u{0}world ✓",
        "document": ["inner": .int32(1)],
        "array": [.int32(1), "two", .null],
        "bytes": .binary(subtype: 0, bytes: [0, 1, 2, 255]),
        "guid": HalibutGuid("00112233-4455-6677-8899-aabbccddeeff")!.bsonValue,
        "oid": .objectID(BSONObjectID(hex: "0123456789abcdef01234567")!),
        "true": true,
        "date": .utcDateTime(1_709_210_096_789),
        "null": .null,
        "regex": .regularExpression(pattern: "^a.*b$", options: "i"),
        "int32": .int32(Int32.min),
        "int64": .int64(Int64.max),
    ]

    @Test("every value type round-trips through encode and decode")
    func everyTypeRoundTrips() throws {
        let bytes = try Self.everyType.bsonBytes()
        #expect(try BSONDocument(bsonBytes: bytes) == Self.everyType)
        #expect(try BSONDocument(bsonBytes: bytes).keys == Self.everyType.keys)
    }

    @Test("a small document encodes to the exact BSON bytes")
    func smallDocumentExactBytes() throws {
        let document: BSONDocument = ["a": .int32(1), "b": "x", "c": [true]]
        let expected: [UInt8] = [
            0x21, 0, 0, 0,
            0x10, 0x61, 0, 1, 0, 0, 0,
            0x02, 0x62, 0, 2, 0, 0, 0, 0x78, 0,
            0x04, 0x63, 0, 0x09, 0, 0, 0, 0x08, 0x30, 0, 0x01, 0,
            0,
        ]
        #expect(try document.bsonBytes() == expected)
    }

    @Test("doubles compare by bit pattern so NaN and negative zero survive")
    func doublesCompareByBits() throws {
        #expect(BSONValue.double(.nan) == .double(.nan))
        #expect(BSONValue.double(0.0) != .double(-0.0))
        let document: BSONDocument = ["nan": .double(.nan), "negzero": .double(-0.0), "inf": .double(-.infinity)]
        #expect(try BSONDocument(bsonBytes: document.bsonBytes()) == document)
    }

    @Test("Guid uses .NET byte order: first three groups little-endian (spec §5)")
    func guidDotNetByteOrder() {
        let guid = HalibutGuid("00112233-4455-6677-8899-AABBCCDDEEFF")!
        #expect(guid.dotNetBytes == [0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66, 0x88, 0x99, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE, 0xFF])
        #expect(guid.description == "00112233-4455-6677-8899-aabbccddeeff")
        #expect(HalibutGuid(dotNetBytes: guid.dotNetBytes) == guid)
        #expect(guid.bsonValue == .binary(subtype: 4, bytes: guid.dotNetBytes))
        #expect(HalibutGuid(bsonValue: guid.bsonValue) == guid)
        #expect(HalibutGuid(bsonValue: .binary(subtype: 0, bytes: guid.dotNetBytes)) == nil)
        #expect(HalibutGuid("not-a-guid") == nil)
        #expect(HalibutGuid("00112233x4455-6677-8899-aabbccddeeff") == nil)
    }

    @Test("Guid converts to and from Foundation UUID without reordering")
    func guidUUIDConversion() {
        let guid = HalibutGuid("0a5b72e1-630e-485d-ae71-99f8a0875441")!
        #expect(guid.uuid.uuidString.lowercased() == guid.description)
        #expect(HalibutGuid(uuid: guid.uuid) == guid)
        var generator = HalibutTestRandom(seed: 7)
        let random = HalibutGuid.random(using: &generator)
        #expect(random.rfcBytes[6] >> 4 == 4)
        #expect(random.rfcBytes[8] >> 6 == 2)
        #expect(HalibutGuid.random() != HalibutGuid.random())
    }

    @Test("array keys are regenerated as 0, 1, … and ignored on decode like Json.NET")
    func arrayKeysIgnoredOnDecode() throws {
        // An array written with odd keys still reads as its values in order.
        let odd: [UInt8] = [
            0x1B, 0, 0, 0,
            0x04, 0x61, 0,
            0x13, 0, 0, 0,
            0x10, 0x78, 0, 7, 0, 0, 0,
            0x10, 0x79, 0, 8, 0, 0, 0,
            0,
            0,
        ]
        let document = try BSONDocument(bsonBytes: odd)
        #expect(document["a"] == [.int32(7), .int32(8)])
    }

    @Test("subscript replaces in place, appends new keys and removes with nil")
    func documentSubscript() {
        var document: BSONDocument = ["a": .int32(1), "b": .int32(2)]
        document["a"] = "x"
        document["c"] = .null
        #expect(document.keys == ["a", "b", "c"])
        #expect(document["a"] == "x")
        document["b"] = nil
        #expect(document.keys == ["a", "c"])
        #expect(document["missing"] == nil)
    }

    @Test("keys containing NUL cannot be encoded")
    func nulInKeyIsAnEncodingError() {
        let document: BSONDocument = ["bad\u{0}key": .null]
        #expect(throws: BSONEncodingError.keyContainsNUL(key: "bad\u{0}key")) { try document.bsonBytes() }
    }
}

/// Deterministic generator for tests (HalibutTestRandom), so fuzz runs repeat.
struct HalibutTestRandom: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
