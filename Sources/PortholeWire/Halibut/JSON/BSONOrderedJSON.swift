// A small order-preserving JSON model, reader and writer.
//
// Extended JSON only makes sense if key order survives: Halibut agents need
// `$type` as the first element of every object-typed value (spec §5), and
// Foundation's JSONSerialization hands back unordered dictionaries. Numbers
// are kept as their literal text so an int64 such as 9007199254740993 is not
// rounded through a Double on the way in.

/// A JSON value with object members in document order.
public enum BSONOrderedJSON: Hashable, Sendable {
    case null
    case bool(Bool)
    /// The number literal exactly as written (validated against RFC 8259).
    case number(String)
    case string(String)
    case array([BSONOrderedJSON])
    /// Members in document order; duplicate keys are kept.
    case object([Member])

    public struct Member: Hashable, Sendable {
        public var key: String
        public var value: BSONOrderedJSON

        public init(_ key: String, _ value: BSONOrderedJSON) {
            self.key = key
            self.value = value
        }
    }

    /// The value of the first member named `key`, if this is an object.
    public subscript(key: String) -> BSONOrderedJSON? {
        guard case .object(let members) = self else { return nil }
        return members.first(where: { $0.key == key })?.value
    }
}

/// Why a text is not JSON. Offsets are UTF-8 byte offsets into the input.
public enum BSONJSONSyntaxError: Error, Hashable, Sendable, CustomStringConvertible {
    case invalidUTF8
    case unexpectedEnd(offset: Int)
    case unexpectedCharacter(offset: Int, found: String)
    case invalidNumber(offset: Int)
    case invalidEscape(offset: Int)
    /// A `\u` escape yields an unpaired UTF-16 surrogate.
    case unpairedSurrogate(offset: Int)
    /// RFC 8259 forbids raw control characters (U+0000–U+001F) in strings.
    case controlCharacterInString(offset: Int)
    case nestingTooDeep(offset: Int, limit: Int)
    case trailingCharacters(offset: Int)

    public var description: String {
        switch self {
        case .invalidUTF8:
            return "JSON text is not valid UTF-8"
        case let .unexpectedEnd(offset):
            return "JSON text ends unexpectedly at byte \(offset)"
        case let .unexpectedCharacter(offset, found):
            return "unexpected \(String(reflecting: found)) at byte \(offset) of the JSON text"
        case let .invalidNumber(offset):
            return "malformed JSON number at byte \(offset)"
        case let .invalidEscape(offset):
            return "invalid escape sequence in a JSON string at byte \(offset)"
        case let .unpairedSurrogate(offset):
            return "\\u escape at byte \(offset) is an unpaired UTF-16 surrogate"
        case let .controlCharacterInString(offset):
            return "raw control character in a JSON string at byte \(offset) (escape it as \\u00XX)"
        case let .nestingTooDeep(offset, limit):
            return "JSON nests deeper than \(limit) levels at byte \(offset)"
        case let .trailingCharacters(offset):
            return "unexpected characters after the JSON value at byte \(offset)"
        }
    }
}

extension BSONOrderedJSON {
    /// Parses one JSON value (RFC 8259; surrounding whitespace allowed).
    public init(parsing text: String, maxNestingDepth: Int = 512) throws(BSONJSONSyntaxError) {
        var parser = BSONJSONParser(bytes: Array(text.utf8), maxNestingDepth: maxNestingDepth)
        self = try parser.parseDocument()
    }

    /// Parses one JSON value from UTF-8 bytes.
    public init(parsingUTF8 bytes: [UInt8], maxNestingDepth: Int = 512) throws(BSONJSONSyntaxError) {
        guard String(validating: bytes, as: UTF8.self) != nil else { throw .invalidUTF8 }
        var parser = BSONJSONParser(bytes: bytes, maxNestingDepth: maxNestingDepth)
        self = try parser.parseDocument()
    }
}

private struct BSONJSONParser {
    let bytes: [UInt8]
    let maxNestingDepth: Int
    var position = 0

    init(bytes: [UInt8], maxNestingDepth: Int) {
        self.bytes = bytes
        self.maxNestingDepth = maxNestingDepth
    }

    mutating func parseDocument() throws(BSONJSONSyntaxError) -> BSONOrderedJSON {
        skipWhitespace()
        let value = try parseValue(depth: 0)
        skipWhitespace()
        guard position == bytes.count else { throw .trailingCharacters(offset: position) }
        return value
    }

    mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    func unexpected() -> BSONJSONSyntaxError {
        guard position < bytes.count else { return .unexpectedEnd(offset: position) }
        // Report the whole (possibly multi-byte) character, not one byte of it.
        var end = position + 1
        while end < bytes.count && bytes[end] & 0xC0 == 0x80 { end += 1 }
        return .unexpectedCharacter(offset: position, found: String(decoding: bytes[position..<end], as: UTF8.self))
    }

    mutating func expect(_ byte: UInt8) throws(BSONJSONSyntaxError) {
        guard position < bytes.count, bytes[position] == byte else { throw unexpected() }
        position += 1
    }

    mutating func parseLiteral(_ word: String, _ value: BSONOrderedJSON) throws(BSONJSONSyntaxError) -> BSONOrderedJSON {
        for byte in word.utf8 { try expect(byte) }
        return value
    }

    mutating func parseValue(depth: Int) throws(BSONJSONSyntaxError) -> BSONOrderedJSON {
        guard position < bytes.count else { throw .unexpectedEnd(offset: position) }
        switch bytes[position] {
        case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
        case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): return try parseLiteral("true", .bool(true))
        case UInt8(ascii: "f"): return try parseLiteral("false", .bool(false))
        case UInt8(ascii: "n"): return try parseLiteral("null", .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        default: throw unexpected()
        }
    }

    mutating func parseObject(depth: Int) throws(BSONJSONSyntaxError) -> BSONOrderedJSON {
        guard depth <= maxNestingDepth else { throw .nestingTooDeep(offset: position, limit: maxNestingDepth) }
        position += 1  // {
        var members: [BSONOrderedJSON.Member] = []
        skipWhitespace()
        if position < bytes.count && bytes[position] == UInt8(ascii: "}") {
            position += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else { throw unexpected() }
            let key = try parseString()
            skipWhitespace()
            try expect(UInt8(ascii: ":"))
            skipWhitespace()
            members.append(.init(key, try parseValue(depth: depth)))
            skipWhitespace()
            guard position < bytes.count else { throw .unexpectedEnd(offset: position) }
            if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
            try expect(UInt8(ascii: "}"))
            return .object(members)
        }
    }

    mutating func parseArray(depth: Int) throws(BSONJSONSyntaxError) -> BSONOrderedJSON {
        guard depth <= maxNestingDepth else { throw .nestingTooDeep(offset: position, limit: maxNestingDepth) }
        position += 1  // [
        var values: [BSONOrderedJSON] = []
        skipWhitespace()
        if position < bytes.count && bytes[position] == UInt8(ascii: "]") {
            position += 1
            return .array(values)
        }
        while true {
            skipWhitespace()
            values.append(try parseValue(depth: depth))
            skipWhitespace()
            guard position < bytes.count else { throw .unexpectedEnd(offset: position) }
            if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
            try expect(UInt8(ascii: "]"))
            return .array(values)
        }
    }

    /// RFC 8259 §6: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    mutating func parseNumber() throws(BSONJSONSyntaxError) -> String {
        let start = position
        func isDigit(_ i: Int) -> Bool { i < bytes.count && bytes[i] >= 0x30 && bytes[i] <= 0x39 }
        if bytes[position] == UInt8(ascii: "-") { position += 1 }
        guard isDigit(position) else { throw .invalidNumber(offset: start) }
        if bytes[position] == UInt8(ascii: "0") {
            position += 1
        } else {
            while isDigit(position) { position += 1 }
        }
        if position < bytes.count && bytes[position] == UInt8(ascii: ".") {
            position += 1
            guard isDigit(position) else { throw .invalidNumber(offset: start) }
            while isDigit(position) { position += 1 }
        }
        if position < bytes.count && (bytes[position] | 0x20) == UInt8(ascii: "e") {
            position += 1
            if position < bytes.count && (bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-")) {
                position += 1
            }
            guard isDigit(position) else { throw .invalidNumber(offset: start) }
            while isDigit(position) { position += 1 }
        }
        return String(decoding: bytes[start..<position], as: UTF8.self)
    }

    mutating func parseHex4() throws(BSONJSONSyntaxError) -> UInt16 {
        guard bytes.count - position >= 4 else { throw .invalidEscape(offset: position) }
        var value: UInt16 = 0
        for i in 0..<4 {
            guard let nibble = BSONHex.nibble(bytes[position + i]) else { throw .invalidEscape(offset: position) }
            value = value << 4 | UInt16(nibble)
        }
        position += 4
        return value
    }

    mutating func parseString() throws(BSONJSONSyntaxError) -> String {
        position += 1  // opening quote
        var out: [UInt8] = []
        while true {
            guard position < bytes.count else { throw .unexpectedEnd(offset: position) }
            let byte = bytes[position]
            switch byte {
            case UInt8(ascii: "\""):
                position += 1
                // Input is valid UTF-8 and we only split at ASCII bytes or
                // append encoded scalars, so `out` is valid UTF-8 too.
                return String(decoding: out, as: UTF8.self)
            case UInt8(ascii: "\\"):
                let escapeOffset = position
                position += 1
                guard position < bytes.count else { throw .unexpectedEnd(offset: position) }
                let code = bytes[position]
                position += 1
                switch code {
                case UInt8(ascii: "\""): out.append(0x22)
                case UInt8(ascii: "\\"): out.append(0x5C)
                case UInt8(ascii: "/"): out.append(0x2F)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    let unit = try parseHex4()
                    var scalarValue = UInt32(unit)
                    if (0xD800...0xDBFF).contains(unit) {
                        // A high surrogate must be followed by `\u` + low surrogate.
                        guard bytes.count - position >= 6,
                              bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u")
                        else { throw .unpairedSurrogate(offset: escapeOffset) }
                        position += 2
                        let low = try parseHex4()
                        guard (0xDC00...0xDFFF).contains(low) else { throw .unpairedSurrogate(offset: escapeOffset) }
                        scalarValue = 0x10000 + ((UInt32(unit) - 0xD800) << 10) + (UInt32(low) - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(unit) {
                        throw .unpairedSurrogate(offset: escapeOffset)
                    }
                    guard let scalar = Unicode.Scalar(scalarValue) else { throw .invalidEscape(offset: escapeOffset) }
                    out.append(contentsOf: String(Character(scalar)).utf8)
                default:
                    throw .invalidEscape(offset: escapeOffset)
                }
            case 0x00..<0x20:
                throw .controlCharacterInString(offset: position)
            default:
                out.append(byte)
                position += 1
            }
        }
    }
}

extension BSONOrderedJSON {
    /// JSON text. Compact by default (`{"a":1}`); `pretty` indents by two
    /// spaces. Non-ASCII characters are written as UTF-8, not escaped.
    public func serialized(pretty: Bool = false) -> String {
        var out: [UInt8] = []
        write(to: &out, pretty: pretty, indent: 0)
        return String(decoding: out, as: UTF8.self)
    }

    private func write(to out: inout [UInt8], pretty: Bool, indent: Int) {
        func newline(_ level: Int) {
            guard pretty else { return }
            out.append(0x0A)
            out.append(contentsOf: repeatElement(UInt8(ascii: " "), count: 2 * level))
        }
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .number(let text): out.append(contentsOf: text.utf8)
        case .string(let s): BSONOrderedJSON.writeString(s, to: &out)
        case .array(let values):
            out.append(UInt8(ascii: "["))
            for (index, value) in values.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                newline(indent + 1)
                value.write(to: &out, pretty: pretty, indent: indent + 1)
            }
            if !values.isEmpty { newline(indent) }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            for (index, member) in members.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                newline(indent + 1)
                BSONOrderedJSON.writeString(member.key, to: &out)
                out.append(UInt8(ascii: ":"))
                if pretty { out.append(UInt8(ascii: " ")) }
                member.value.write(to: &out, pretty: pretty, indent: indent + 1)
            }
            if !members.isEmpty { newline(indent) }
            out.append(UInt8(ascii: "}"))
        }
    }

    private static func writeString(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in s.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: "\\\"".utf8)
            case UInt8(ascii: "\\"): out.append(contentsOf: "\\\\".utf8)
            case 0x0A: out.append(contentsOf: "\\n".utf8)
            case 0x0D: out.append(contentsOf: "\\r".utf8)
            case 0x09: out.append(contentsOf: "\\t".utf8)
            case 0x08: out.append(contentsOf: "\\b".utf8)
            case 0x0C: out.append(contentsOf: "\\f".utf8)
            case 0x00..<0x20:
                out.append(contentsOf: "\\u00".utf8)
                out.append(contentsOf: BSONHex.encode([byte]).utf8)
            default:
                // UTF-8 continuation and lead bytes pass through unchanged.
                out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
