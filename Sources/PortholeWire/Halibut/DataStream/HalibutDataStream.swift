// DataStreams: large payloads that travel after a message, uncompressed
// (spec §6).
//
// Inside the message a stream is only a placeholder
// `{"$type":"Halibut.DataStream, Halibut","id":Guid,"length":int64}`. Right
// after the message's deflate stream come the stream frames, in the order
// the placeholders appear (depth-first):
//
//     16-byte id (.NET Guid order) | int64 LE length | body | int64 LE length
//
// The repeated length is Halibut's integrity check; a mismatch, or an id the
// message did not announce, is a protocol error. The body is handed out in
// chunks as it arrives so a large upload never has to sit in memory whole.

/// Why DataStream placeholders or frames were rejected.
public enum HalibutDataStreamError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A `Halibut.DataStream` placeholder lacks a valid `id` or `length`.
    case malformedDescriptor(reason: String)
    /// Two placeholders in one message share an id.
    case duplicateStreamID(HalibutGuid)
    /// A frame's id is not one of the streams the message announced (or
    /// was already received).
    case unexpectedStreamID(HalibutGuid)
    /// A frame's length differs from the length in its placeholder.
    case lengthDiffersFromDescriptor(id: HalibutGuid, frame: Int64, descriptor: Int64)
    /// The trailing length differs from the leading one.
    case trailerMismatch(id: HalibutGuid, length: Int64, trailer: Int64)
    /// A negative length.
    case invalidLength(id: HalibutGuid, length: Int64)
    /// A stream longer than the configured limit.
    case streamTooLarge(id: HalibutGuid, length: Int64, limit: Int64)
    /// Input ended inside a stream frame.
    case truncated(id: HalibutGuid?)

    public var description: String {
        switch self {
        case .malformedDescriptor(let reason):
            return "malformed Halibut.DataStream placeholder: \(reason)"
        case .duplicateStreamID(let id):
            return "two DataStream placeholders in one message share the id \(id)"
        case .unexpectedStreamID(let id):
            return "DataStream frame for id \(id), which the message did not announce (or which was already received)"
        case let .lengthDiffersFromDescriptor(id, frame, descriptor):
            return "DataStream \(id): frame announces \(frame) bytes but the message said \(descriptor)"
        case let .trailerMismatch(id, length, trailer):
            return "DataStream \(id): trailing length \(trailer) does not match the leading length \(length)"
        case let .invalidLength(id, length):
            return "DataStream \(id) has negative length \(length)"
        case let .streamTooLarge(id, length, limit):
            return "DataStream \(id) is \(length) bytes, over the configured limit of \(limit); raise the DataStream size limit if such transfers are expected"
        case .truncated(let id):
            return "input ended inside DataStream frame\(id.map { " \($0)" } ?? "")"
        }
    }
}

/// A DataStream placeholder found in a message.
public struct HalibutDataStreamDescriptor: Hashable, Sendable {
    public var id: HalibutGuid
    public var length: Int64

    public init(id: HalibutGuid, length: Int64) {
        self.id = id
        self.length = length
    }

    /// The placeholder as Json.NET writes it: `$type`, `id`, `length` (int64).
    public var bsonValue: BSONValue {
        ["$type": .string(HalibutTypeName.dataStream), "id": id.bsonValue, "length": .int64(length)]
    }

    /// Every placeholder in `value`, depth-first in document order, which
    /// is the order their frames follow the message (§6).
    public static func find(in value: BSONValue) throws(HalibutDataStreamError) -> [HalibutDataStreamDescriptor] {
        var found: [HalibutDataStreamDescriptor] = []
        var seen: Set<HalibutGuid> = []
        try collect(value, into: &found, seen: &seen)
        return found
    }

    private static func collect(
        _ value: BSONValue, into found: inout [HalibutDataStreamDescriptor], seen: inout Set<HalibutGuid>
    ) throws(HalibutDataStreamError) {
        switch value {
        case .document(let document):
            if let typeName = document["$type"]?.stringValue, HalibutTypeName.matches(typeName, HalibutTypeName.dataStream) {
                let descriptor = try HalibutDataStreamDescriptor(placeholder: document)
                guard seen.insert(descriptor.id).inserted else { throw .duplicateStreamID(descriptor.id) }
                found.append(descriptor)
            } else {
                for element in document.elements { try collect(element.value, into: &found, seen: &seen) }
            }
        case .array(let values):
            for element in values { try collect(element, into: &found, seen: &seen) }
        default:
            break
        }
    }

    /// Reads a placeholder document.
    public init(placeholder document: BSONDocument) throws(HalibutDataStreamError) {
        guard let idValue = document["id"], let id = HalibutGuid(bsonValue: idValue) else {
            throw .malformedDescriptor(reason: "\"id\" must be a Guid (binary subtype 0x04, 16 bytes)")
        }
        guard let length = document["length"]?.integerValue else {
            throw .malformedDescriptor(reason: "\"length\" must be an int64")
        }
        guard length >= 0 else { throw .invalidLength(id: id, length: length) }
        self.init(id: id, length: length)
    }
}

/// Encodes stream frames. The parts are separate so the writer can give
/// each its own TLS record, as real Halibut does (§4, README finding 1).
public enum HalibutDataStreamFrame {
    /// The 16-byte id in .NET Guid order.
    public static func idBytes(_ id: HalibutGuid) -> [UInt8] { id.dotNetBytes }

    /// An int64 little-endian length (used before and after the body).
    public static func lengthBytes(_ length: Int64) -> [UInt8] {
        let bits = UInt64(bitPattern: length)
        return (0..<8).map { UInt8(truncatingIfNeeded: bits >> (8 * UInt64($0))) }
    }

    /// id, length, body, length: one element per write.
    public static func parts(id: HalibutGuid, body: [UInt8]) -> [[UInt8]] {
        let length = lengthBytes(Int64(body.count))
        return [idBytes(id), length, body, length]
    }

    /// The whole frame as one byte array.
    public static func encode(id: HalibutGuid, body: [UInt8]) -> [UInt8] {
        parts(id: id, body: body).flatMap { $0 }
    }
}

/// One step of reading stream frames.
public enum HalibutDataStreamEvent: Hashable, Sendable {
    /// A frame header was read.
    case started(id: HalibutGuid, length: Int64)
    /// The next piece of the body, in order (never empty).
    case body(id: HalibutGuid, bytes: [UInt8])
    /// The trailer matched; `remainingStreams` frames are still expected.
    case finished(id: HalibutGuid, remainingStreams: Int)
}

/// What one `feed` call achieved.
public enum HalibutDataStreamProgress: Hashable, Sendable {
    /// All input was consumed (and buffered where needed).
    case needMoreInput
    /// An event, after `consumed` bytes of this input.
    case event(HalibutDataStreamEvent, consumed: Int)
}

/// Reads the frames of the streams a message announced.
public struct HalibutDataStreamReader: Sendable {
    /// Default per-stream bound (1 GiB). Streams carry packages and files,
    /// so this is generous; it exists so a bogus length cannot commit us to
    /// reading without end.
    public static let defaultMaxStreamBytes: Int64 = 1 << 30

    private enum State: Sendable {
        /// Collecting the 24-byte header (id + length).
        case header(pending: [UInt8])
        case body(id: HalibutGuid, length: Int64, remaining: Int64)
        /// Collecting the 8-byte trailing length.
        case trailer(id: HalibutGuid, length: Int64, pending: [UInt8])
        /// Every announced stream has been read.
        case done
    }

    public let maxStreamBytes: Int64
    private var expected: [HalibutDataStreamDescriptor]
    private var state: State

    /// Frames may arrive in any order among the announced streams; Halibut's
    /// reader looks each id up the same way.
    public init(expecting descriptors: [HalibutDataStreamDescriptor], maxStreamBytes: Int64 = defaultMaxStreamBytes) {
        self.expected = descriptors
        self.maxStreamBytes = maxStreamBytes
        self.state = descriptors.isEmpty ? .done : .header(pending: [])
    }

    /// True once every announced stream has been read.
    public var isComplete: Bool {
        if case .done = state { return true }
        return false
    }

    /// True when part of a frame has been consumed.
    public var isInsideFrame: Bool {
        switch state {
        case .header(let pending): return !pending.isEmpty
        case .body, .trailer: return true
        case .done: return false
        }
    }

    /// Reads until the next event or the end of `input`. Once complete it
    /// consumes nothing and reports `.needMoreInput`.
    public mutating func feed(_ input: UnsafeRawBufferPointer) throws(HalibutDataStreamError) -> HalibutDataStreamProgress {
        var offset = 0
        while true {
            switch state {
            case .done:
                return .needMoreInput
            case .header(var pending):
                let take = min(24 - pending.count, input.count - offset)
                pending.append(contentsOf: input[offset..<(offset + take)])
                offset += take
                guard pending.count == 24 else {
                    state = .header(pending: pending)
                    return .needMoreInput
                }
                let id = HalibutGuid(dotNetBytes: Array(pending[0..<16]))!
                let length = HalibutDataStreamReader.int64(pending[16..<24])
                guard let index = expected.firstIndex(where: { $0.id == id }) else { throw .unexpectedStreamID(id) }
                guard length >= 0 else { throw .invalidLength(id: id, length: length) }
                guard length == expected[index].length else {
                    throw .lengthDiffersFromDescriptor(id: id, frame: length, descriptor: expected[index].length)
                }
                guard length <= maxStreamBytes else { throw .streamTooLarge(id: id, length: length, limit: maxStreamBytes) }
                expected.remove(at: index)
                state = length == 0 ? .trailer(id: id, length: 0, pending: []) : .body(id: id, length: length, remaining: length)
                return .event(.started(id: id, length: length), consumed: offset)
            case let .body(id, length, remaining):
                let available = input.count - offset
                guard available > 0 else { return .needMoreInput }
                let take = Int(min(Int64(available), remaining))
                let bytes = Array(input[offset..<(offset + take)])
                offset += take
                let left = remaining - Int64(take)
                state = left == 0 ? .trailer(id: id, length: length, pending: []) : .body(id: id, length: length, remaining: left)
                return .event(.body(id: id, bytes: bytes), consumed: offset)
            case .trailer(let id, let length, var pending):
                let take = min(8 - pending.count, input.count - offset)
                pending.append(contentsOf: input[offset..<(offset + take)])
                offset += take
                guard pending.count == 8 else {
                    state = .trailer(id: id, length: length, pending: pending)
                    return .needMoreInput
                }
                let trailer = HalibutDataStreamReader.int64(pending[0..<8])
                guard trailer == length else { throw .trailerMismatch(id: id, length: length, trailer: trailer) }
                state = expected.isEmpty ? .done : .header(pending: [])
                return .event(.finished(id: id, remainingStreams: expected.count), consumed: offset)
            }
        }
    }

    public mutating func feed<S: Sequence<UInt8>>(_ input: S) throws(HalibutDataStreamError) -> HalibutDataStreamProgress {
        try withHalibutBytes(input) { (raw) throws(HalibutDataStreamError) in try feed(raw) }
    }

    /// The id of the frame being read, for error reports at end of input.
    public var currentStreamID: HalibutGuid? {
        switch state {
        case .body(let id, _, _), .trailer(let id, _, _): return id
        case .header, .done: return nil
        }
    }

    private static func int64(_ bytes: ArraySlice<UInt8>) -> Int64 {
        var bits: UInt64 = 0
        for (i, byte) in bytes.enumerated() { bits |= UInt64(byte) << (8 * UInt64(i)) }
        return Int64(bitPattern: bits)
    }
}
