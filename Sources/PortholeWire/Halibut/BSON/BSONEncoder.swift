// BSON encoding, byte for byte as Json.NET's BsonWriter writes it (spec §5):
// little-endian, elements in model order, arrays keyed "0", "1", …, nulls
// written out. The model already carries the exact types (int32 vs int64,
// binary subtype), so encoding is a straight walk.

/// Why a value cannot be written as BSON.
public enum BSONEncodingError: Error, Hashable, Sendable, CustomStringConvertible {
    /// BSON keys are C strings; a NUL inside one cannot be represented.
    case keyContainsNUL(key: String)
    /// Regular-expression pattern and options are C strings too.
    case regularExpressionContainsNUL(pattern: String)
    /// A document, string or binary would exceed BSON's int32 length field.
    case tooLarge(byteCount: Int)

    public var description: String {
        switch self {
        case let .keyContainsNUL(key):
            return "BSON key \(String(reflecting: key)) contains a NUL character, which BSON keys cannot hold"
        case let .regularExpressionContainsNUL(pattern):
            return "BSON regular expression \(String(reflecting: pattern)) contains a NUL character"
        case let .tooLarge(byteCount):
            return "BSON value of \(byteCount) bytes exceeds the 2 GiB limit of BSON length fields"
        }
    }
}

extension BSONDocument {
    /// The document's BSON bytes.
    public func bsonBytes() throws(BSONEncodingError) -> [UInt8] {
        var writer = BSONByteWriter()
        try writer.writeDocument(elements.lazy.map { ($0.key, $0.value) })
        return writer.bytes
    }
}

private struct BSONByteWriter {
    var bytes: [UInt8] = []

    mutating func writeInt32(_ value: Int32) {
        let bits = UInt32(bitPattern: value)
        for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8(truncatingIfNeeded: bits >> UInt32(shift))) }
    }

    mutating func writeUInt64(_ bits: UInt64) {
        for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: bits >> UInt64(shift))) }
    }

    mutating func patchInt32(at offset: Int, _ value: Int) throws(BSONEncodingError) {
        guard value <= Int(Int32.max) else { throw .tooLarge(byteCount: value) }
        let bits = UInt32(value)
        for i in 0..<4 { bytes[offset + i] = UInt8(truncatingIfNeeded: bits >> UInt32(8 * i)) }
    }

    mutating func writeCString(_ text: String, onNUL error: BSONEncodingError) throws(BSONEncodingError) {
        let utf8 = text.utf8
        if utf8.contains(0) { throw error }
        bytes.append(contentsOf: utf8)
        bytes.append(0)
    }

    mutating func writeDocument<S: Sequence<(String, BSONValue)>>(_ elements: S) throws(BSONEncodingError) {
        let start = bytes.count
        writeInt32(0)  // patched once the size is known
        for (key, value) in elements {
            bytes.append(value.typeByte)
            try writeCString(key, onNUL: .keyContainsNUL(key: key))
            try writeValue(value)
        }
        bytes.append(0)
        try patchInt32(at: start, bytes.count - start)
    }

    mutating func writeValue(_ value: BSONValue) throws(BSONEncodingError) {
        switch value {
        case .double(let d):
            writeUInt64(d.bitPattern)
        case .string(let s):
            let utf8 = s.utf8
            guard utf8.count < Int(Int32.max) else { throw .tooLarge(byteCount: utf8.count) }
            writeInt32(Int32(utf8.count + 1))
            bytes.append(contentsOf: utf8)
            bytes.append(0)
        case .document(let d):
            try writeDocument(d.elements.lazy.map { ($0.key, $0.value) })
        case .array(let values):
            try writeDocument(values.enumerated().lazy.map { (String($0.offset), $0.element) })
        case .binary(let subtype, let data):
            guard data.count <= Int(Int32.max) else { throw .tooLarge(byteCount: data.count) }
            writeInt32(Int32(data.count))
            bytes.append(subtype)
            bytes.append(contentsOf: data)
        case .objectID(let id):
            bytes.append(contentsOf: id.bytes)
        case .bool(let b):
            bytes.append(b ? 1 : 0)
        case .utcDateTime(let ms):
            writeUInt64(UInt64(bitPattern: ms))
        case .null:
            break
        case .regularExpression(let pattern, let options):
            try writeCString(pattern, onNUL: .regularExpressionContainsNUL(pattern: pattern))
            try writeCString(options, onNUL: .regularExpressionContainsNUL(pattern: pattern))
        case .int32(let i):
            writeInt32(i)
        case .int64(let i):
            writeUInt64(UInt64(bitPattern: i))
        }
    }
}
