// MongoDB Extended JSON v2 (canonical mode) <-> BSON.
//
// This is how a caller of the dispatch API says exactly which BSON a .NET
// agent should receive: `{"$numberInt":"5"}` vs `{"$numberLong":"5"}` matters
// to Json.NET (§5). Two deliberate departures from plain EJSON:
// - `$type` keys are ordinary string elements (Json.NET type names, §5), kept
//   in place, never read as the legacy EJSON binary `$type`.
// - Plain JSON numbers are accepted on input (relaxed mode): an integer that
//   fits int32 becomes int32, else int64 (else double, as MongoDB's relaxed
//   parser does); a fraction or exponent becomes a double. So simple callers
//   can write `"params": ["world"]` or `[5]`.
// Output is always canonical: every number is wrapped with its exact type.

/// Why JSON text cannot be turned into the requested BSON.
public enum BSONExtendedJSONError: Error, Hashable, Sendable, CustomStringConvertible {
    case syntax(BSONJSONSyntaxError)
    /// The top level must be a JSON object to become a BSON document.
    case notADocument(found: String)
    /// A `$`-wrapper such as `$numberLong` with the wrong shape or content.
    case invalidTypeWrapper(path: String, wrapper: String, reason: String)
    /// An EJSON wrapper for a BSON type Halibut never uses.
    case unsupportedTypeWrapper(path: String, wrapper: String)
    /// A number that no BSON numeric type can hold.
    case numberOutOfRange(path: String, literal: String)

    public var description: String {
        switch self {
        case .syntax(let error):
            return "invalid JSON: \(error)"
        case .notADocument(let found):
            return "expected a JSON object for a BSON document, found \(found)"
        case let .invalidTypeWrapper(path, wrapper, reason):
            return "invalid \(wrapper) at \(path): \(reason)"
        case let .unsupportedTypeWrapper(path, wrapper):
            return "\(wrapper) at \(path) is not supported (BSON types used by Halibut: $numberInt, $numberLong, $numberDouble, $binary, $date, $oid, $regularExpression)"
        case let .numberOutOfRange(path, literal):
            return "number \(literal) at \(path) is out of range for a BSON double"
        }
    }
}

/// Conversions between BSON values and MongoDB Extended JSON v2.
public enum BSONExtendedJSON {
    // MARK: BSON -> JSON (canonical)

    /// The canonical EJSON form of a document.
    public static func json(from document: BSONDocument) -> BSONOrderedJSON {
        .object(document.elements.map { .init($0.key, json(from: $0.value)) })
    }

    /// The canonical EJSON form of a value.
    public static func json(from value: BSONValue) -> BSONOrderedJSON {
        func wrap(_ key: String, _ inner: BSONOrderedJSON) -> BSONOrderedJSON { .object([.init(key, inner)]) }
        switch value {
        case .double(let d): return wrap("$numberDouble", .string(canonicalDoubleText(d)))
        case .string(let s): return .string(s)
        case .document(let d): return json(from: d)
        case .array(let values): return .array(values.map { json(from: $0) })
        case .binary(let subtype, let bytes):
            return wrap("$binary", .object([
                .init("base64", .string(BSONBase64.encode(bytes))),
                .init("subType", .string(BSONHex.encode([subtype]))),
            ]))
        case .objectID(let id): return wrap("$oid", .string(id.hex))
        case .bool(let b): return .bool(b)
        case .utcDateTime(let ms): return wrap("$date", wrap("$numberLong", .string(String(ms))))
        case .null: return .null
        case .regularExpression(let pattern, let options):
            return wrap("$regularExpression", .object([.init("pattern", .string(pattern)), .init("options", .string(options))]))
        case .int32(let i): return wrap("$numberInt", .string(String(i)))
        case .int64(let i): return wrap("$numberLong", .string(String(i)))
        }
    }

    /// Canonical EJSON text of a document (compact unless `pretty`).
    public static func string(from document: BSONDocument, pretty: Bool = false) -> String {
        json(from: document).serialized(pretty: pretty)
    }

    /// Canonical EJSON text of a value (compact unless `pretty`).
    public static func string(from value: BSONValue, pretty: Bool = false) -> String {
        json(from: value).serialized(pretty: pretty)
    }

    /// Shortest text that reads back to the same double, with `.0` on
    /// integral values (`"1.0"`, `"-2.0"`, `"1e+16"`), and the EJSON names
    /// for the non-finite values.
    static func canonicalDoubleText(_ d: Double) -> String {
        if d.isNaN { return "NaN" }
        if d.isInfinite { return d < 0 ? "-Infinity" : "Infinity" }
        return d.description
    }

    // MARK: JSON -> BSON

    /// Parses EJSON text whose top level is an object.
    public static func document(fromJSONText text: String) throws(BSONExtendedJSONError) -> BSONDocument {
        let json: BSONOrderedJSON
        do { json = try BSONOrderedJSON(parsing: text) } catch { throw .syntax(error) }
        return try document(from: json)
    }

    /// Parses EJSON text holding any value.
    public static func value(fromJSONText text: String) throws(BSONExtendedJSONError) -> BSONValue {
        let json: BSONOrderedJSON
        do { json = try BSONOrderedJSON(parsing: text) } catch { throw .syntax(error) }
        return try value(from: json)
    }

    /// Converts a parsed JSON object into a document (must be an object
    /// that is not itself a type wrapper).
    public static func document(from json: BSONOrderedJSON) throws(BSONExtendedJSONError) -> BSONDocument {
        let converted = try value(from: json, path: "$")
        guard case .document(let document) = converted else {
            throw .notADocument(found: describeKind(json))
        }
        return document
    }

    /// Converts any parsed JSON value into a BSON value.
    public static func value(from json: BSONOrderedJSON) throws(BSONExtendedJSONError) -> BSONValue {
        try value(from: json, path: "$")
    }

    private static func describeKind(_ json: BSONOrderedJSON) -> String {
        switch json {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "a type-wrapper object"
        }
    }

    /// The `$` keys that mark a type wrapper in EJSON v2.
    private static let supportedWrappers: Set<String> = [
        "$numberInt", "$numberLong", "$numberDouble", "$binary", "$date", "$oid", "$regularExpression",
    ]
    private static let unsupportedWrappers: Set<String> = [
        "$numberDecimal", "$timestamp", "$symbol", "$code", "$scope", "$minKey", "$maxKey",
        "$undefined", "$dbPointer", "$uuid", "$regex",
    ]

    private static func value(from json: BSONOrderedJSON, path: String) throws(BSONExtendedJSONError) -> BSONValue {
        switch json {
        case .null: return .null
        case .bool(let b): return .bool(b)
        case .string(let s): return .string(s)
        case .number(let literal): return try relaxedNumber(literal, path: path)
        case .array(let values):
            var out: [BSONValue] = []
            out.reserveCapacity(values.count)
            for (index, element) in values.enumerated() {
                out.append(try value(from: element, path: "\(path)[\(index)]"))
            }
            return .array(out)
        case .object(let members):
            if let first = members.first {
                if supportedWrappers.contains(first.key) {
                    guard members.count == 1 else {
                        throw .invalidTypeWrapper(path: path, wrapper: first.key, reason: "a type wrapper must be the only key of its object")
                    }
                    return try unwrap(first.key, first.value, path: path)
                }
                if unsupportedWrappers.contains(first.key) {
                    throw .unsupportedTypeWrapper(path: path, wrapper: first.key)
                }
            }
            var document = BSONDocument()
            document.elements.reserveCapacity(members.count)
            for member in members {
                document.append(member.key, try value(from: member.value, path: "\(path).\(member.key)"))
            }
            return .document(document)
        }
    }

    private static func relaxedNumber(_ literal: String, path: String) throws(BSONExtendedJSONError) -> BSONValue {
        let isInteger = !literal.utf8.contains(where: { $0 == UInt8(ascii: ".") || $0 | 0x20 == UInt8(ascii: "e") })
        if isInteger {
            if let i = Int32(literal) { return .int32(i) }
            if let i = Int64(literal) { return .int64(i) }
        }
        guard let d = Double(literal), d.isFinite else { throw .numberOutOfRange(path: path, literal: literal) }
        return .double(d)
    }

    private static func unwrap(_ wrapper: String, _ inner: BSONOrderedJSON, path: String) throws(BSONExtendedJSONError) -> BSONValue {
        func invalid(_ reason: String) -> BSONExtendedJSONError {
            .invalidTypeWrapper(path: path, wrapper: wrapper, reason: reason)
        }
        func stringMember(_ members: [BSONOrderedJSON.Member], _ key: String) throws(BSONExtendedJSONError) -> String {
            guard let found = members.first(where: { $0.key == key }), case .string(let s) = found.value else {
                throw invalid("expected a string member \"\(key)\"")
            }
            return s
        }
        switch wrapper {
        case "$numberInt":
            guard case .string(let text) = inner, isDecimalInteger(text), let i = Int32(text) else {
                throw invalid("expected a decimal string in the int32 range, e.g. {\"$numberInt\":\"5\"}")
            }
            return .int32(i)
        case "$numberLong":
            guard case .string(let text) = inner, isDecimalInteger(text), let i = Int64(text) else {
                throw invalid("expected a decimal string in the int64 range, e.g. {\"$numberLong\":\"5\"}")
            }
            return .int64(i)
        case "$numberDouble":
            guard case .string(let text) = inner, let d = parseDoubleText(text) else {
                throw invalid("expected a decimal string, \"Infinity\", \"-Infinity\" or \"NaN\"")
            }
            return .double(d)
        case "$binary":
            guard case .object(let members) = inner, members.count == 2 else {
                throw invalid("expected {\"base64\": \"…\", \"subType\": \"hex\"}")
            }
            let base64 = try stringMember(members, "base64")
            let subTypeText = try stringMember(members, "subType")
            guard (1...2).contains(subTypeText.utf8.count),
                  let subType = BSONHex.decode(subTypeText.utf8.count == 1 ? "0" + subTypeText : subTypeText)
            else { throw invalid("subType must be one or two hex digits, e.g. \"00\" or \"04\"") }
            guard let bytes = BSONBase64.decode(base64) else { throw invalid("base64 is not valid padded base64") }
            return .binary(subtype: subType[0], bytes: bytes)
        case "$date":
            switch inner {
            case .object(let members):
                guard members.count == 1, members[0].key == "$numberLong", case .string(let text) = members[0].value,
                      isDecimalInteger(text), let ms = Int64(text)
                else { throw invalid("expected {\"$numberLong\": \"<milliseconds>\"}") }
                return .utcDateTime(ms)
            case .number(let literal):
                guard let ms = Int64(literal) else { throw invalid("expected integer milliseconds") }
                return .utcDateTime(ms)
            case .string(let iso):
                guard let ms = BSONISODate.milliseconds(iso) else {
                    throw invalid("expected an ISO-8601 date such as \"2024-02-29T12:34:56.789Z\"")
                }
                return .utcDateTime(ms)
            default:
                throw invalid("expected {\"$numberLong\": \"<milliseconds>\"}")
            }
        case "$oid":
            guard case .string(let hex) = inner, let id = BSONObjectID(hex: hex) else {
                throw invalid("expected 24 hexadecimal digits")
            }
            return .objectID(id)
        case "$regularExpression":
            guard case .object(let members) = inner, members.count == 2 else {
                throw invalid("expected {\"pattern\": \"…\", \"options\": \"…\"}")
            }
            return .regularExpression(pattern: try stringMember(members, "pattern"), options: try stringMember(members, "options"))
        default:
            throw .unsupportedTypeWrapper(path: path, wrapper: wrapper)
        }
    }

    /// `-?[0-9]+`: Swift's integer parsers also take a leading `+`, which
    /// canonical EJSON never writes.
    private static func isDecimalInteger(_ text: String) -> Bool {
        var utf8 = Substring(text).utf8[...]
        if utf8.first == UInt8(ascii: "-") { utf8 = utf8.dropFirst() }
        return !utf8.isEmpty && utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
    }

    /// Decimal text (`1.5`, `-2.0`, `1e+16`, `1.0E-5`) or an EJSON special
    /// value. Rejects what `Double(_:)` would also accept but EJSON does not
    /// (`inf`, `0x1p3`, `+1`).
    private static func parseDoubleText(_ text: String) -> Double? {
        switch text {
        case "Infinity": return .infinity
        case "-Infinity": return -.infinity
        case "NaN": return .nan
        default: break
        }
        let utf8 = Array(text.utf8)
        var i = 0
        func digits() -> Int {
            let start = i
            while i < utf8.count && utf8[i] >= 0x30 && utf8[i] <= 0x39 { i += 1 }
            return i - start
        }
        if i < utf8.count && utf8[i] == UInt8(ascii: "-") { i += 1 }
        var mantissaDigits = digits()
        if i < utf8.count && utf8[i] == UInt8(ascii: ".") {
            i += 1
            mantissaDigits += digits()
        }
        guard mantissaDigits > 0 else { return nil }
        if i < utf8.count && utf8[i] | 0x20 == UInt8(ascii: "e") {
            i += 1
            if i < utf8.count && (utf8[i] == UInt8(ascii: "+") || utf8[i] == UInt8(ascii: "-")) { i += 1 }
            guard digits() > 0 else { return nil }
        }
        guard i == utf8.count, let d = Double(text), d.isFinite else { return nil }
        return d
    }
}

/// Relaxed EJSON writes dates as ISO-8601 strings; accepting them lets a
/// hand-written dispatch call say `{"$date": "2024-02-29T12:34:56.789Z"}`.
enum BSONISODate {
    /// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM|±HHMM)` → Unix milliseconds.
    static func milliseconds(_ text: String) -> Int64? {
        let u = Array(text.utf8)
        var i = 0
        func number(_ width: Int) -> Int? {
            guard u.count - i >= width else { return nil }
            var value = 0
            for _ in 0..<width {
                guard u[i] >= 0x30 && u[i] <= 0x39 else { return nil }
                value = value * 10 + Int(u[i] - 0x30)
                i += 1
            }
            return value
        }
        func literal(_ c: Character) -> Bool {
            guard i < u.count, u[i] == c.asciiValue! else { return false }
            i += 1
            return true
        }
        guard let year = number(4), literal("-"), let month = number(2), literal("-"), let day = number(2),
              literal("T") || literal("t"), let hour = number(2), literal(":"), let minute = number(2), literal(":"),
              let second = number(2)
        else { return nil }
        var millis = 0
        if literal(".") {
            var scale = 100
            var count = 0
            while i < u.count && u[i] >= 0x30 && u[i] <= 0x39 {
                millis += Int(u[i] - 0x30) * scale
                scale /= 10  // digits past milliseconds are truncated
                i += 1
                count += 1
            }
            guard count > 0 else { return nil }
        }
        var offsetMinutes = 0
        if literal("Z") || literal("z") {
        } else if i < u.count && (u[i] == UInt8(ascii: "+") || u[i] == UInt8(ascii: "-")) {
            let sign = u[i] == UInt8(ascii: "-") ? -1 : 1
            i += 1
            guard let oh = number(2) else { return nil }
            _ = literal(":")
            guard let om = number(2), oh < 24, om < 60 else { return nil }
            offsetMinutes = sign * (oh * 60 + om)
        } else {
            return nil
        }
        guard i == u.count, (1...12).contains(month), day >= 1, day <= daysInMonth(year, month),
              hour < 24, minute < 60, second < 60
        else { return nil }
        let days = daysFromCivil(year, month, day)
        let seconds = ((days * 24 + hour) * 60 + minute) * 60 + second - offsetMinutes * 60
        return Int64(seconds) * 1000 + Int64(millis)
    }

    private static func daysInMonth(_ year: Int, _ month: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 in the proleptic Gregorian calendar
    /// (H. Hinnant's `days_from_civil`).
    private static func daysFromCivil(_ y0: Int, _ m: Int, _ d: Int) -> Int {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}
