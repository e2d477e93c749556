// Loads the recorded Halibut wire vectors (copied from
// shared/vectors/halibut into Fixtures/halibut next to these tests, because
// CI clones the repository fresh). Files are read from disk relative to this
// source file, not as SwiftPM resources.
//
// The vectors are parsed with our own order-preserving JSON reader: the
// `json` and `ordered` forms depend on key order.

import Foundation
import PortholeWire

enum HalibutFixtures {
    /// `…/Tests/PortholeWireTests/Halibut/Fixtures/halibut`, found from this
    /// file's own location (works through the scratch package's symlinks).
    static let directory: URL = {
        URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent()  // Support
            .deletingLastPathComponent()  // Halibut
            .appendingPathComponent("Fixtures")
            .appendingPathComponent("halibut")
    }()

    static func data(_ name: String) -> Data {
        let url = directory.appendingPathComponent(name)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            fatalError("missing fixture \(url.path); the vectors belong in Tests/PortholeWireTests/Halibut/Fixtures/halibut")
        }
        return data
    }

    static func json(_ name: String) -> BSONOrderedJSON {
        do {
            return try BSONOrderedJSON(parsingUTF8: Array(data(name)))
        } catch {
            fatalError("fixture \(name) is not JSON: \(error)")
        }
    }

    /// Every vector file named in index.json, in index order.
    static let fileNames: [String] = {
        guard case .array(let files)? = json("index.json")["files"] else { fatalError("index.json has no files") }
        return files.compactMap { $0["file"]?.string }
    }()

    static let clientFileNames = fileNames.filter { $0.hasPrefix("client-") }
    static let serverFileNames = fileNames.filter { $0.hasPrefix("server-") }

    private static let cacheLock = NSLock()
    nonisolated(unsafe) private static var cache: [String: HalibutVectorFile] = [:]

    /// Parsed once per process; tests run in parallel, hence the lock.
    static func file(_ name: String) -> HalibutVectorFile {
        cacheLock.lock()
        defer { cacheLock.unlock() }
        if let cached = cache[name] { return cached }
        let parsed = HalibutVectorFile(name: name, json: json(name))
        cache[name] = parsed
        return parsed
    }
}

extension BSONOrderedJSON {
    var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    var array: [BSONOrderedJSON]? {
        if case .array(let a) = self { return a }
        return nil
    }

    var int: Int? {
        if case .number(let n) = self { return Int(n) }
        return nil
    }

    var bool: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }
}

func halibutHexBytes(_ hex: String) -> [UInt8] {
    var out: [UInt8] = []
    var iterator = hex.utf8.makeIterator()
    func nibble(_ c: UInt8) -> UInt8 {
        switch c {
        case 0x30...0x39: return c - 0x30
        case 0x61...0x66: return c - 0x61 + 10
        case 0x41...0x46: return c - 0x41 + 10
        default: fatalError("bad hex digit in fixture")
        }
    }
    while let high = iterator.next(), let low = iterator.next() {
        out.append(nibble(high) << 4 | nibble(low))
    }
    return out
}

/// A recorded message: the deflate bytes and what they inflate to.
struct HalibutVectorMessage {
    var deflated: [UInt8]
    var bson: [UInt8]
    var json: BSONOrderedJSON
    var ordered: BSONOrderedJSON
    var reproducedBy: String?
    var from: String
    var where_: String
}

struct HalibutVectorUnit {
    var seq: Int
    var conn: Int
    var dir: String
    var from: String
    var kind: String
    var bytes: [UInt8]
    var text: String?
    var raw: BSONOrderedJSON
}

struct HalibutVectorFile {
    var name: String
    var version: String
    var units: [HalibutVectorUnit]
    var json: BSONOrderedJSON

    init(name: String, json: BSONOrderedJSON) {
        self.name = name
        self.json = json
        self.version = json["halibut_version"]?.string ?? "?"
        self.units = (json["units"]?.array ?? []).map { unit in
            HalibutVectorUnit(
                seq: unit["seq"]?.int ?? -1,
                conn: unit["conn"]?.int ?? -1,
                dir: unit["dir"]?.string ?? "",
                from: unit["from"]?.string ?? "",
                kind: unit["kind"]?.string ?? "",
                bytes: unit["hex"]?.string.map(halibutHexBytes) ?? [],
                text: unit["text"]?.string,
                raw: unit
            )
        }
    }

    /// Every complete message: `message` units and message segments of
    /// `mixed` units (a message's own bytes only). Partial messages are
    /// left out; see `partialMessages`.
    var messages: [HalibutVectorMessage] {
        var out: [HalibutVectorMessage] = []
        for unit in units {
            if unit.kind == "message", unit.raw["partial_message"]?.bool != true {
                let deflated = unit.raw["message_hex"]?.string.map(halibutHexBytes) ?? unit.bytes
                out.append(HalibutVectorMessage(
                    deflated: deflated, bson: halibutHexBytes(unit.raw["bson_hex"]!.string!),
                    json: unit.raw["json"]!, ordered: unit.raw["ordered"]!,
                    reproducedBy: unit.raw["deflate_reproduced_by"]?.string, from: unit.from,
                    where_: "\(name) seq \(unit.seq)"))
            }
            if unit.kind == "mixed" {
                for segment in unit.raw["segments"]?.array ?? [] where segment["kind"]?.string == "message" {
                    let offset = segment["offset"]!.int!, length = segment["length"]!.int!
                    out.append(HalibutVectorMessage(
                        deflated: Array(unit.bytes[offset..<(offset + length)]),
                        bson: halibutHexBytes(segment["bson_hex"]!.string!), json: segment["json"]!,
                        ordered: segment["ordered"]!, reproducedBy: segment["deflate_reproduced_by"]?.string,
                        from: unit.from, where_: "\(name) seq \(unit.seq) (mixed)"))
                }
            }
        }
        return out
    }

    /// Messages cut in half on purpose (server-close), with what they would have been.
    var partialMessages: [(deflatedPrefix: [UInt8], intendedBSON: [UInt8], where_: String)] {
        units.filter { $0.kind == "message" && $0.raw["partial_message"]?.bool == true }.map {
            ($0.bytes, halibutHexBytes($0.raw["intended_bson_hex"]!.string!), "\(name) seq \($0.seq)")
        }
    }
}

/// Converts the vectors' `ordered` form into a document. Test-only: it is
/// the independent statement of what the BSON holds.
enum HalibutOrderedForm {
    struct Mismatch: Error, CustomStringConvertible {
        var description: String
    }

    static func document(_ json: BSONOrderedJSON) throws -> BSONDocument {
        guard case .array(let triples) = json else { throw Mismatch(description: "ordered document is not a list") }
        var document = BSONDocument()
        for triple in triples {
            guard case .array(let parts) = triple, parts.count == 3, let key = parts[0].string, let type = parts[1].string else {
                throw Mismatch(description: "ordered element is not [name, type, value]")
            }
            document.append(key, try value(type: type, parts[2]))
        }
        return document
    }

    static func value(type: String, _ json: BSONOrderedJSON) throws -> BSONValue {
        switch (type, json) {
        case ("string", .string(let s)): return .string(s)
        case ("int32", .number(let n)): return .int32(Int32(n)!)
        case ("int64", .string(let s)): return .int64(Int64(s)!)
        case ("double", _):
            let bytes = halibutHexBytes(json["hex"]!.string!)
            var bits: UInt64 = 0
            for (i, b) in bytes.enumerated() { bits |= UInt64(b) << (8 * UInt64(i)) }
            let d = Double(bitPattern: bits)
            if let repr = json["repr"]?.string, let parsed = Double(repr), parsed.bitPattern != bits {
                throw Mismatch(description: "double repr \(repr) disagrees with its hex")
            }
            return .double(d)
        case ("bool", .bool(let b)): return .bool(b)
        case ("null", .null): return .null
        case ("binary", _):
            let subtype = halibutHexBytes(json["subType"]!.string!)[0]
            let bytes = halibutHexBytes(json["hex"]!.string!)
            if let guid = json["guid"]?.string {
                guard HalibutGuid(dotNetBytes: bytes)?.description == guid else {
                    throw Mismatch(description: "guid \(guid) is not the .NET reading of \(json["hex"]!.string!)")
                }
            }
            return .binary(subtype: subtype, bytes: bytes)
        case ("datetime", _): return .utcDateTime(Int64(json["ms"]!.string!)!)
        case ("document", _): return .document(try document(json))
        case ("array", _): return .array(try document(json).elements.map(\.value))
        default: throw Mismatch(description: "unknown ordered type \(type)")
        }
    }
}
