import Foundation
import PortholeWire

/// How DataStreams appear in the dispatch API's JSON (documented in README
/// "Dispatch API"): a parameter `{"$dataStream": {"base64": "…"}}` (inline)
/// or `{"$dataStream": {"file": "/path"}}` (read by Porthole when the call
/// is made) becomes a Halibut DataStream placeholder whose bytes follow
/// the request (halibut.md §6); a DataStream in a result comes back as
/// `{"$dataStream": {"length": {"$numberLong": "n"}, "base64": "…"}}`.
enum DataStreamJSON {
    static let key = "$dataStream"

    struct ParamError: Error, CustomStringConvertible {
        var path: String
        var message: String
        var description: String { "\(path): \(message)" }
    }

    /// Extended JSON → BSON, turning `$dataStream` objects into
    /// placeholders and collecting their bodies.
    static func bson(from json: BSONOrderedJSON, path: String, streams: inout [HalibutGuid: [UInt8]]) throws(ParamError) -> BSONValue {
        switch json {
        case .array(let values):
            var converted: [BSONValue] = []
            for (index, value) in values.enumerated() {
                converted.append(try bson(from: value, path: "\(path)[\(index)]", streams: &streams))
            }
            return .array(converted)
        case .object(let members):
            if members.count == 1, members[0].key == key {
                return try placeholder(members[0].value, path: "\(path).\(key)", streams: &streams)
            }
            // Type wrappers ($numberLong, $binary, …) are converted whole.
            if members.contains(where: { $0.key.hasPrefix("$") && $0.key != "$type" }) { return try plain(json, path: path) }
            var document = BSONDocument()
            for member in members {
                document.append(member.key, try bson(from: member.value, path: "\(path).\(member.key)", streams: &streams))
            }
            return .document(document)
        default:
            return try plain(json, path: path)
        }
    }

    private static func plain(_ json: BSONOrderedJSON, path: String) throws(ParamError) -> BSONValue {
        do { return try BSONExtendedJSON.value(from: json) } catch {
            throw ParamError(path: path, message: error.description)
        }
    }

    private static func placeholder(_ spec: BSONOrderedJSON, path: String, streams: inout [HalibutGuid: [UInt8]]) throws(ParamError) -> BSONValue {
        let body: [UInt8]
        if case .string(let text)? = spec["base64"] {
            guard let data = Data(base64Encoded: text) else { throw ParamError(path: "\(path).base64", message: "is not valid base64") }
            body = Array(data)
        } else if case .string(let file)? = spec["file"] {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw ParamError(path: "\(path).file", message: "cannot read \(file) (does it exist, and may the porthole user read it?)")
            }
            body = Array(data)
        } else {
            throw ParamError(path: path, message: "must be {\"base64\": \"…\"} or {\"file\": \"/path\"}")
        }
        let id = HalibutGuid.random()
        streams[id] = body
        return HalibutDataStreamDescriptor(id: id, length: Int64(body.count)).bsonValue
    }

    /// BSON → Extended JSON, with each DataStream placeholder replaced by
    /// its received bytes.
    static func json(from value: BSONValue, streams: [HalibutGuid: [UInt8]]) -> BSONOrderedJSON {
        switch value {
        case .document(let document):
            if let typeName = document["$type"]?.stringValue, typeName.hasPrefix("Halibut.DataStream"),
               let descriptor = try? HalibutDataStreamDescriptor(placeholder: document) {
                let body = streams[descriptor.id] ?? []
                return .object([.init(key, .object([
                    .init("length", BSONExtendedJSON.json(from: BSONValue.int64(descriptor.length))),
                    .init("base64", .string(Data(body).base64EncodedString())),
                ]))])
            }
            return .object(document.elements.map { .init($0.key, json(from: $0.value, streams: streams)) })
        case .array(let values):
            return .array(values.map { json(from: $0, streams: streams) })
        default:
            return BSONExtendedJSON.json(from: value)
        }
    }
}
