// BSON decoding for Halibut messages (spec §5).
//
// The input comes from the network (an inflated message), so nothing in it is
// trusted: every length field is checked against the bytes that are really
// there *and* against the enclosing document before it is used, nesting is
// bounded so a crafted message cannot exhaust the stack, and every failure is
// a typed error rather than a trap.

/// Why a byte sequence is not a BSON document we accept. Offsets are byte
/// positions in the buffer handed to the decoder.
public enum BSONDecodingError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A field needs `needed` bytes at `offset` but the buffer or the
    /// enclosing document ends first.
    case truncated(offset: Int, needed: Int)
    /// A document length is below the minimum of 5 or runs past its container.
    case invalidDocumentLength(offset: Int, declared: Int32)
    /// The end-of-document byte is not where the length field says.
    case documentLengthMismatch(offset: Int)
    /// An element type this decoder does not support (Json.NET never writes it).
    case unsupportedElementType(offset: Int, type: UInt8)
    /// A string length is not positive or runs past its document.
    case invalidStringLength(offset: Int, declared: Int32)
    /// A length-prefixed string is missing its trailing NUL.
    case stringNotTerminated(offset: Int)
    /// A key or regular-expression C string has no NUL before its document ends.
    case cStringNotTerminated(offset: Int)
    /// A string or key is not valid UTF-8.
    case invalidUTF8(offset: Int)
    /// A binary length is negative or runs past its document.
    case invalidBinaryLength(offset: Int, declared: Int32)
    /// A boolean byte other than 0 or 1.
    case invalidBoolean(offset: Int, byte: UInt8)
    /// Documents nest deeper than the decoder's limit.
    case nestingTooDeep(offset: Int, limit: Int)
    /// Bytes follow the top-level document.
    case trailingBytes(offset: Int, count: Int)

    public var description: String {
        switch self {
        case let .truncated(offset, needed):
            return "BSON truncated: \(needed) byte(s) needed at offset \(offset) but the buffer or enclosing document ends first"
        case let .invalidDocumentLength(offset, declared):
            return "BSON document at offset \(offset) declares length \(declared), which is below 5 or runs past its container"
        case let .documentLengthMismatch(offset):
            return "BSON document ends at offset \(offset), not where its length field says (missing or misplaced 0x00 terminator)"
        case let .unsupportedElementType(offset, type):
            return "BSON element type 0x\(BSONHex.encode([type])) at offset \(offset) is not supported (Json.NET does not write it)"
        case let .invalidStringLength(offset, declared):
            return "BSON string at offset \(offset) declares length \(declared), which is not positive or runs past its document"
        case let .stringNotTerminated(offset):
            return "BSON string at offset \(offset) is not NUL-terminated"
        case let .cStringNotTerminated(offset):
            return "BSON key or C string at offset \(offset) has no NUL terminator before its document ends"
        case let .invalidUTF8(offset):
            return "BSON string or key at offset \(offset) is not valid UTF-8"
        case let .invalidBinaryLength(offset, declared):
            return "BSON binary at offset \(offset) declares length \(declared), which is negative or runs past its document"
        case let .invalidBoolean(offset, byte):
            return "BSON boolean at offset \(offset) is 0x\(BSONHex.encode([byte])); only 0x00 and 0x01 are valid"
        case let .nestingTooDeep(offset, limit):
            return "BSON documents nest deeper than \(limit) levels at offset \(offset)"
        case let .trailingBytes(offset, count):
            return "\(count) byte(s) follow the BSON document at offset \(offset)"
        }
    }
}

/// Decodes BSON bytes into `BSONDocument`s.
public struct BSONDecoder: Sendable {
    /// Maximum document/array nesting. Halibut messages nest about six deep;
    /// the bound only exists so hostile input cannot recurse without limit.
    public var maxNestingDepth: Int

    public init(maxNestingDepth: Int = 100) {
        self.maxNestingDepth = maxNestingDepth
    }

    /// Decodes exactly one document that must fill `bytes` completely.
    public func decodeDocument<S: Sequence<UInt8>>(_ bytes: S) throws(BSONDecodingError) -> BSONDocument {
        try withHalibutBytes(bytes) { (raw) throws(BSONDecodingError) in try decodeDocument(raw) }
    }

    /// Decodes exactly one document that must fill `bytes` completely.
    public func decodeDocument(_ bytes: UnsafeRawBufferPointer) throws(BSONDecodingError) -> BSONDocument {
        var cursor = BSONReadCursor(bytes: bytes, maxNestingDepth: maxNestingDepth)
        let document = try cursor.readDocument(limit: bytes.count, depth: 0)
        if cursor.position != bytes.count {
            throw .trailingBytes(offset: cursor.position, count: bytes.count - cursor.position)
        }
        return document
    }
}

extension BSONDocument {
    /// Decodes one document that must fill `bytes` completely.
    public init<S: Sequence<UInt8>>(bsonBytes bytes: S) throws(BSONDecodingError) {
        self = try BSONDecoder().decodeDocument(bytes)
    }
}

/// A bounds-checked reader over the raw bytes. Every read takes the `limit`
/// of the innermost enclosing document, so a child can never read past its
/// parent even if its own length field lies.
private struct BSONReadCursor {
    let bytes: UnsafeRawBufferPointer
    let maxNestingDepth: Int
    var position = 0

    init(bytes: UnsafeRawBufferPointer, maxNestingDepth: Int) {
        self.bytes = bytes
        self.maxNestingDepth = maxNestingDepth
    }

    mutating func require(_ count: Int, limit: Int) throws(BSONDecodingError) {
        if count < 0 || limit - position < count {
            throw .truncated(offset: position, needed: count)
        }
    }

    mutating func readByte(limit: Int) throws(BSONDecodingError) -> UInt8 {
        try require(1, limit: limit)
        defer { position += 1 }
        return bytes[position]
    }

    mutating func readUInt32(limit: Int) throws(BSONDecodingError) -> UInt32 {
        try require(4, limit: limit)
        var value: UInt32 = 0
        for i in 0..<4 { value |= UInt32(bytes[position + i]) << (8 * UInt32(i)) }
        position += 4
        return value
    }

    mutating func readInt32(limit: Int) throws(BSONDecodingError) -> Int32 {
        Int32(bitPattern: try readUInt32(limit: limit))
    }

    mutating func readUInt64(limit: Int) throws(BSONDecodingError) -> UInt64 {
        try require(8, limit: limit)
        var value: UInt64 = 0
        for i in 0..<8 { value |= UInt64(bytes[position + i]) << (8 * UInt64(i)) }
        position += 8
        return value
    }

    mutating func readBytes(_ count: Int, limit: Int) throws(BSONDecodingError) -> [UInt8] {
        try require(count, limit: limit)
        defer { position += count }
        return Array(bytes[position..<(position + count)])
    }

    mutating func readCString(limit: Int) throws(BSONDecodingError) -> String {
        let start = position
        var end = start
        while end < limit && bytes[end] != 0 { end += 1 }
        guard end < limit else { throw .cStringNotTerminated(offset: start) }
        guard let text = String(validating: bytes[start..<end], as: UTF8.self) else {
            throw .invalidUTF8(offset: start)
        }
        position = end + 1
        return text
    }

    mutating func readString(limit: Int) throws(BSONDecodingError) -> String {
        let start = position
        let declared = try readInt32(limit: limit)
        guard declared >= 1, Int(declared) <= limit - position else {
            throw .invalidStringLength(offset: start, declared: declared)
        }
        let contentEnd = position + Int(declared) - 1
        guard bytes[contentEnd] == 0 else { throw .stringNotTerminated(offset: start) }
        guard let text = String(validating: bytes[position..<contentEnd], as: UTF8.self) else {
            throw .invalidUTF8(offset: position)
        }
        position = contentEnd + 1
        return text
    }

    /// Reads the elements of a document or array; returns them in order.
    mutating func readElements(limit: Int, depth: Int) throws(BSONDecodingError) -> [BSONElement] {
        let start = position
        guard depth < maxNestingDepth else { throw .nestingTooDeep(offset: start, limit: maxNestingDepth) }
        let declared = try readInt32(limit: limit)
        guard declared >= 5, Int(declared) <= limit - start else {
            throw .invalidDocumentLength(offset: start, declared: declared)
        }
        let end = start + Int(declared)
        var elements: [BSONElement] = []
        while true {
            let typeOffset = position
            let type = try readByte(limit: end)
            if type == 0 {
                guard position == end else { throw .documentLengthMismatch(offset: position) }
                return elements
            }
            // The terminator must be the document's last byte, so every
            // element (type, key and value) has to end before it.
            let key = try readCString(limit: end - 1)
            let value = try readValue(type: type, typeOffset: typeOffset, limit: end - 1, depth: depth)
            elements.append(BSONElement(key: key, value: value))
        }
    }

    mutating func readDocument(limit: Int, depth: Int) throws(BSONDecodingError) -> BSONDocument {
        BSONDocument(try readElements(limit: limit, depth: depth))
    }

    mutating func readValue(type: UInt8, typeOffset: Int, limit: Int, depth: Int) throws(BSONDecodingError) -> BSONValue {
        switch type {
        case 0x01:
            return .double(Double(bitPattern: try readUInt64(limit: limit)))
        case 0x02:
            return .string(try readString(limit: limit))
        case 0x03:
            return .document(try readDocument(limit: limit, depth: depth + 1))
        case 0x04:
            // Json.NET ignores array keys when reading; so do we (they are
            // regenerated as "0", "1", … on encode).
            return .array(try readElements(limit: limit, depth: depth + 1).map(\.value))
        case 0x05:
            let start = position
            let length = try readInt32(limit: limit)
            guard length >= 0, Int(length) < limit - position else {
                throw .invalidBinaryLength(offset: start, declared: length)
            }
            let subtype = try readByte(limit: limit)
            return .binary(subtype: subtype, bytes: try readBytes(Int(length), limit: limit))
        case 0x07:
            let raw = try readBytes(12, limit: limit)
            return .objectID(BSONObjectID(bytes: raw)!)
        case 0x08:
            let offset = position
            let byte = try readByte(limit: limit)
            switch byte {
            case 0: return .bool(false)
            case 1: return .bool(true)
            default: throw .invalidBoolean(offset: offset, byte: byte)
            }
        case 0x09:
            return .utcDateTime(Int64(bitPattern: try readUInt64(limit: limit)))
        case 0x0A:
            return .null
        case 0x0B:
            let pattern = try readCString(limit: limit)
            let options = try readCString(limit: limit)
            return .regularExpression(pattern: pattern, options: options)
        case 0x10:
            return .int32(try readInt32(limit: limit))
        case 0x12:
            return .int64(Int64(bitPattern: try readUInt64(limit: limit)))
        default:
            throw .unsupportedElementType(offset: typeOffset, type: type)
        }
    }
}
