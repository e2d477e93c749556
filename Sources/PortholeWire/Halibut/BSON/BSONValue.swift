// The BSON value model used for Halibut messages (spec §5).
//
// Json.NET writes objects as ordered BSON documents and Halibut agents depend
// on that order (`$type` must be the first element, §5), so a document is an
// ordered list of elements, never a dictionary. Duplicate keys are kept as
// they are: the model describes bytes, it does not interpret them.

/// One BSON value, covering every element type Json.NET's `BsonWriter` emits.
///
/// Equality is exact: doubles compare by bit pattern (so `NaN == NaN` and
/// `0.0 != -0.0`), because two values are equal here only when they encode to
/// the same bytes.
public enum BSONValue: Sendable {
    /// 0x01: `double`, also what Json.NET writes for `decimal` (§5).
    case double(Double)
    /// 0x02: UTF-8 string (may contain NUL characters; it is length-prefixed).
    case string(String)
    /// 0x03: embedded document.
    case document(BSONDocument)
    /// 0x04: array; on the wire a document with keys "0", "1", …
    case array([BSONValue])
    /// 0x05: binary data. Subtype 0x00 is `byte[]`, 0x04 a .NET `Guid` (§5).
    case binary(subtype: UInt8, bytes: [UInt8])
    /// 0x07: a 12-byte ObjectId (Json.NET's `BsonObjectId`).
    case objectID(BSONObjectID)
    /// 0x08: boolean.
    case bool(Bool)
    /// 0x09: UTC datetime, milliseconds since the Unix epoch.
    case utcDateTime(Int64)
    /// 0x0A: null. Json.NET writes nulls out rather than omitting them (§5).
    case null
    /// 0x0B: regular expression (pattern and option letters, both C strings).
    case regularExpression(pattern: String, options: String)
    /// 0x10: 32-bit integer (`int`, `short`, `byte`, enums).
    case int32(Int32)
    /// 0x12: 64-bit integer (`long`).
    case int64(Int64)
}

/// BSON binary subtypes that matter for Halibut (§5).
public enum BSONBinarySubtype {
    /// `byte[]`.
    public static let generic: UInt8 = 0x00
    /// A UUID; Json.NET stores a .NET `Guid` here in .NET byte order.
    public static let uuid: UInt8 = 0x04
}

extension BSONValue: Hashable {
    public static func == (lhs: BSONValue, rhs: BSONValue) -> Bool {
        switch (lhs, rhs) {
        case let (.double(a), .double(b)): return a.bitPattern == b.bitPattern
        case let (.string(a), .string(b)): return a == b
        case let (.document(a), .document(b)): return a == b
        case let (.array(a), .array(b)): return a == b
        case let (.binary(sa, ba), .binary(sb, bb)): return sa == sb && ba == bb
        case let (.objectID(a), .objectID(b)): return a == b
        case let (.bool(a), .bool(b)): return a == b
        case let (.utcDateTime(a), .utcDateTime(b)): return a == b
        case (.null, .null): return true
        case let (.regularExpression(pa, oa), .regularExpression(pb, ob)): return pa == pb && oa == ob
        case let (.int32(a), .int32(b)): return a == b
        case let (.int64(a), .int64(b)): return a == b
        default: return false
        }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(typeByte)
        switch self {
        case .double(let d): hasher.combine(d.bitPattern)
        case .string(let s): hasher.combine(s)
        case .document(let d): hasher.combine(d)
        case .array(let a): hasher.combine(a)
        case .binary(let subtype, let bytes): hasher.combine(subtype); hasher.combine(bytes)
        case .objectID(let o): hasher.combine(o)
        case .bool(let b): hasher.combine(b)
        case .utcDateTime(let ms): hasher.combine(ms)
        case .null: break
        case .regularExpression(let p, let o): hasher.combine(p); hasher.combine(o)
        case .int32(let i): hasher.combine(i)
        case .int64(let i): hasher.combine(i)
        }
    }
}

extension BSONValue {
    /// The element type byte this value is written with.
    public var typeByte: UInt8 {
        switch self {
        case .double: return 0x01
        case .string: return 0x02
        case .document: return 0x03
        case .array: return 0x04
        case .binary: return 0x05
        case .objectID: return 0x07
        case .bool: return 0x08
        case .utcDateTime: return 0x09
        case .null: return 0x0A
        case .regularExpression: return 0x0B
        case .int32: return 0x10
        case .int64: return 0x12
        }
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var documentValue: BSONDocument? {
        if case .document(let d) = self { return d }
        return nil
    }

    public var arrayValue: [BSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// An int32 or int64 widened to `Int64`. Json.NET reads an int32 into an
    /// `object`-typed slot as a long (§5), so callers usually want either.
    public var integerValue: Int64? {
        switch self {
        case .int32(let i): return Int64(i)
        case .int64(let i): return i
        default: return nil
        }
    }
}

extension BSONValue: ExpressibleByStringLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByFloatLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: BSONValue...) { self = .array(elements) }
    public init(floatLiteral value: Double) { self = .double(value) }
    /// Keys keep the literal's order.
    public init(dictionaryLiteral elements: (String, BSONValue)...) {
        self = .document(BSONDocument(elements.map { BSONElement(key: $0.0, value: $0.1) }))
    }
}

/// One `key: value` pair of a document, in wire order.
public struct BSONElement: Hashable, Sendable {
    public var key: String
    public var value: BSONValue

    public init(key: String, value: BSONValue) {
        self.key = key
        self.value = value
    }
}

/// An ordered BSON document. Element order is significant (§5: `$type` first).
public struct BSONDocument: Hashable, Sendable {
    public var elements: [BSONElement]

    public init() { elements = [] }

    public init(_ elements: [BSONElement]) { self.elements = elements }

    public var count: Int { elements.count }
    public var isEmpty: Bool { elements.isEmpty }
    public var keys: [String] { elements.map(\.key) }

    /// The value of the first element named `key`. Setting replaces that
    /// element in place (keeping its position), appends when there is none,
    /// and setting `nil` removes every element with that key.
    public subscript(key: String) -> BSONValue? {
        get { elements.first(where: { $0.key == key })?.value }
        set {
            if let newValue {
                if let index = elements.firstIndex(where: { $0.key == key }) {
                    elements[index].value = newValue
                } else {
                    elements.append(BSONElement(key: key, value: newValue))
                }
            } else {
                elements.removeAll(where: { $0.key == key })
            }
        }
    }

    public mutating func append(_ key: String, _ value: BSONValue) {
        elements.append(BSONElement(key: key, value: value))
    }
}

extension BSONDocument: ExpressibleByDictionaryLiteral {
    /// Keys keep the literal's order.
    public init(dictionaryLiteral elements: (String, BSONValue)...) {
        self.init(elements.map { BSONElement(key: $0.0, value: $0.1) })
    }
}

/// A 12-byte BSON ObjectId.
public struct BSONObjectID: Hashable, Sendable {
    public let bytes: [UInt8]

    /// `nil` unless exactly 12 bytes are given.
    public init?(bytes: [UInt8]) {
        guard bytes.count == 12 else { return nil }
        self.bytes = bytes
    }

    /// `nil` unless exactly 24 hexadecimal digits are given.
    public init?(hex: String) {
        guard let bytes = BSONHex.decode(hex), bytes.count == 12 else { return nil }
        self.bytes = bytes
    }

    /// 24 lower-case hexadecimal digits.
    public var hex: String { BSONHex.encode(bytes) }
}

/// Lower-case hexadecimal, used by EJSON (`$oid`, `subType`) and diagnostics.
enum BSONHex {
    private static let digits = Array("0123456789abcdef".utf8)

    static func encode<S: Sequence<UInt8>>(_ bytes: S) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.underestimatedCount * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes an even number of hex digits (either case); `nil` otherwise.
    static func decode(_ text: String) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(utf8.count / 2)
        var index = 0
        while index < utf8.count {
            guard let high = nibble(utf8[index]), let low = nibble(utf8[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }

    static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
