import Foundation
import PortholeWire
import Testing

@Suite("Ordered JSON and Extended JSON")
struct BSONExtendedJSONTests {
    @Test("object key order is preserved through parse and serialize")
    func keyOrderPreserved() throws {
        let text = #"{"z":1,"a":[true,false,null],"m":{"$type":"X, Y","b":"c"}}"#
        let json = try BSONOrderedJSON(parsing: text)
        #expect(json.serialized() == text)
        guard case .object(let members) = json else { Issue.record("not an object"); return }
        #expect(members.map(\.key) == ["z", "a", "m"])
    }

    @Test("string escapes and unicode, including surrogate pairs, parse and re-escape")
    func escapesAndUnicode() throws {
        let json = try BSONOrderedJSON(parsing: #""q\" b\\ s\/ \b\f\n\r\t \u00e9 \u2713 \ud83d\ude00 \u0001 ünï""#)
        #expect(json == .string("q\" b\\ s/ \u{8}\u{c}\n\r\t é ✓ 😀 \u{1} ünï"))
        #expect(json.serialized() == #""q\" b\\ s/ \b\f\n\r\t é ✓ 😀 \u0001 ünï""#)
        #expect(try BSONOrderedJSON(parsing: json.serialized()) == json)
    }

    @Test("numbers keep their literal text so int64 values are not rounded")
    func numbersKeepLiteral() throws {
        #expect(try BSONOrderedJSON(parsing: "9007199254740993") == .number("9007199254740993"))
        #expect(try BSONOrderedJSON(parsing: " -0.5e+10 ") == .number("-0.5e+10"))
    }

    @Test("malformed JSON gives typed syntax errors", arguments: [
        ("", BSONJSONSyntaxError.unexpectedEnd(offset: 0)),
        ("{\"a\":1,}", .unexpectedCharacter(offset: 7, found: "}")),
        ("[1 2]", .unexpectedCharacter(offset: 3, found: "2")),
        ("01", .trailingCharacters(offset: 1)),
        ("-", .invalidNumber(offset: 0)),
        ("1.", .invalidNumber(offset: 0)),
        ("\"\\x\"", .invalidEscape(offset: 1)),
        ("\"\\ud800\"", .unpairedSurrogate(offset: 1)),
        ("\"\\udc00\"", .unpairedSurrogate(offset: 1)),
        ("\"a\u{1}\"", .controlCharacterInString(offset: 2)),
        ("\"abc", .unexpectedEnd(offset: 4)),
        ("tru", .unexpectedEnd(offset: 3)),
        ("{\"a\" 1}", .unexpectedCharacter(offset: 5, found: "1")),
        ("é", .unexpectedCharacter(offset: 0, found: "é")),
    ])
    func malformedJSON(text: String, error: BSONJSONSyntaxError) {
        #expect(throws: error) { try BSONOrderedJSON(parsing: text) }
    }

    @Test("deep nesting is bounded, and invalid UTF-8 is rejected")
    func nestingAndUTF8Bounds() {
        let deep = String(repeating: "[", count: 600) + String(repeating: "]", count: 600)
        #expect(throws: BSONJSONSyntaxError.self) { try BSONOrderedJSON(parsing: deep) }
        #expect(throws: BSONJSONSyntaxError.invalidUTF8) { try BSONOrderedJSON(parsingUTF8: [0x22, 0xFF, 0x22]) }
    }

    @Test("our JSON reader agrees with Foundation on every fixture file")
    func readerAgreesWithFoundation() throws {
        for name in HalibutFixtures.fileNames + ["index.json"] {
            let data = HalibutFixtures.data(name)
            let ours = try BSONOrderedJSON(parsingUTF8: Array(data))
            let theirs = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
            #expect(Self.same(ours, theirs), "\(name)")
        }
    }

    static func same(_ ours: BSONOrderedJSON, _ theirs: Any) -> Bool {
        switch ours {
        case .null: return theirs is NSNull
        case .bool(let b): return (theirs as? Bool) == b
        case .number(let text): return (theirs as? NSNumber).map { $0.doubleValue == Double(text)! } ?? false
        case .string(let s): return (theirs as? String) == s
        case .array(let values):
            guard let array = theirs as? [Any], array.count == values.count else { return false }
            return zip(values, array).allSatisfy { same($0, $1) }
        case .object(let members):
            guard let dictionary = theirs as? [String: Any], dictionary.count == members.count else { return false }
            return members.allSatisfy { member in dictionary[member.key].map { same(member.value, $0) } ?? false }
        }
    }

    @Test("canonical EJSON output wraps every number with its exact type")
    func canonicalOutput() throws {
        let document: BSONDocument = [
            "$type": "T, A",
            "i": .int32(-3), "l": .int64(9_007_199_254_740_993), "d": .double(-2.0), "h": .double(0.1),
            "inf": .double(.infinity), "nan": .double(.nan), "nz": .double(-0.0),
            "b": .binary(subtype: 4, bytes: [0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66, 0x88, 0x99, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE, 0xFF]),
            "t": .utcDateTime(1_709_210_096_789), "o": .objectID(BSONObjectID(hex: "0123456789abcdef01234567")!),
            "r": .regularExpression(pattern: "a", options: "i"), "n": .null, "s": "x", "a": [true],
        ]
        let text = BSONExtendedJSON.string(from: document)
        #expect(text == #"{"$type":"T, A","i":{"$numberInt":"-3"},"l":{"$numberLong":"9007199254740993"},"d":{"$numberDouble":"-2.0"},"h":{"$numberDouble":"0.1"},"inf":{"$numberDouble":"Infinity"},"nan":{"$numberDouble":"NaN"},"nz":{"$numberDouble":"-0.0"},"b":{"$binary":{"base64":"MyIRAFVEd2aImaq7zN3u/w==","subType":"04"}},"t":{"$date":{"$numberLong":"1709210096789"}},"o":{"$oid":"0123456789abcdef01234567"},"r":{"$regularExpression":{"pattern":"a","options":"i"}},"n":null,"s":"x","a":[true]}"#)
        #expect(try BSONExtendedJSON.document(fromJSONText: text) == document)
        // Pretty output reads back the same.
        #expect(try BSONExtendedJSON.document(fromJSONText: BSONExtendedJSON.string(from: document, pretty: true)) == document)
    }

    @Test("relaxed plain numbers: int32 when it fits, else int64, fractions are doubles")
    func relaxedNumbers() throws {
        let document = try BSONExtendedJSON.document(fromJSONText: #"{"params":["world",5,-2147483649,2147483647,1.5,1e3,18446744073709551616]}"#)
        #expect(document["params"] == [
            "world", .int32(5), .int64(-2_147_483_649), .int32(2_147_483_647), .double(1.5), .double(1000), .double(18_446_744_073_709_551_616.0),
        ])
        #expect(throws: BSONExtendedJSONError.numberOutOfRange(path: "$.x", literal: "1e400")) {
            try BSONExtendedJSON.document(fromJSONText: #"{"x":1e400}"#)
        }
    }

    @Test("$type stays an ordinary string element in place")
    func typeKeyIsOrdinary() throws {
        let document = try BSONExtendedJSON.document(fromJSONText: #"{"$type":"Halibut.DataStream, Halibut","id":{"$binary":{"subType":"04","base64":"MyIRAFVEd2aImaq7zN3u/w=="}},"length":{"$numberLong":"18"}}"#)
        #expect(document.keys == ["$type", "id", "length"])
        #expect(document["$type"] == "Halibut.DataStream, Halibut")
        #expect(document["length"] == .int64(18))
    }

    @Test("$date accepts canonical, integer and ISO-8601 forms")
    func dateForms() throws {
        let expected = BSONValue.utcDateTime(1_709_210_096_789)
        for text in [
            #"{"$date":{"$numberLong":"1709210096789"}}"#, #"{"$date":1709210096789}"#,
            #"{"$date":"2024-02-29T12:34:56.789Z"}"#, #"{"$date":"2024-02-29T14:34:56.789+02:00"}"#,
            #"{"$date":"2024-02-29T12:34:56.7891234Z"}"#,
        ] {
            #expect(try BSONExtendedJSON.value(fromJSONText: text) == expected, "\(text)")
        }
        #expect(try BSONExtendedJSON.value(fromJSONText: #"{"$date":"1969-12-31T23:59:59Z"}"#) == .utcDateTime(-1000))
        #expect(throws: BSONExtendedJSONError.self) { try BSONExtendedJSON.value(fromJSONText: #"{"$date":"2023-02-29T00:00:00Z"}"#) }
    }

    @Test("malformed type wrappers give typed errors naming the path", arguments: [
        #"{"a":{"$numberInt":"2147483648"}}"#,
        #"{"a":{"$numberInt":5}}"#,
        #"{"a":{"$numberInt":"+5"}}"#,
        #"{"a":{"$numberLong":"1.5"}}"#,
        #"{"a":{"$numberDouble":"inf"}}"#,
        #"{"a":{"$numberDouble":"0x1p3"}}"#,
        #"{"a":{"$binary":{"base64":"!!!!","subType":"00"}}}"#,
        #"{"a":{"$binary":{"base64":"AA==","subType":"zz"}}}"#,
        #"{"a":{"$binary":{"base64":"AA=="}}}"#,
        #"{"a":{"$binary":"AA==","$type":"00"}}"#,
        #"{"a":{"$numberInt":"5","extra":1}}"#,
        #"{"a":{"$oid":"123"}}"#,
        #"{"a":{"$numberDecimal":"1.0"}}"#,
        #"{"a":{"$date":{"$numberLong":"x"}}}"#,
    ])
    func malformedWrappers(text: String) {
        do {
            _ = try BSONExtendedJSON.document(fromJSONText: text)
            Issue.record("accepted \(text)")
        } catch {
            switch error {
            case .invalidTypeWrapper(let path, _, _), .unsupportedTypeWrapper(let path, _): #expect(path == "$.a")
            default: Issue.record("unexpected error \(error)")
            }
        }
    }

    @Test("a top level that is not an object is not a document")
    func topLevelMustBeObject() {
        #expect(throws: BSONExtendedJSONError.notADocument(found: "an array")) { try BSONExtendedJSON.document(fromJSONText: "[1]") }
        #expect(throws: BSONExtendedJSONError.self) { try BSONExtendedJSON.document(fromJSONText: #"{"$numberInt":"1"}"#) }
        #expect(throws: BSONExtendedJSONError.self) { try BSONExtendedJSON.document(fromJSONText: "{") }
    }
}
