/// Finds the line a key (or an array element) was written on.
///
/// TOMLKit reports positions only for syntax errors, so for semantic errors
/// the source is scanned once: table headers, `key =` lines and the lines
/// where array elements start. It runs only after the document parsed, so
/// it can assume valid TOML and stay small; when it cannot tell, callers
/// fall back to the enclosing table's header line.
struct SourceLocator {
    private struct Entry {
        var line: Int
        var elementLines: [Int] = []
    }

    private var entries: [String: Entry] = [:]

    init(text: String) {
        var arrayCounts: [String: Int] = [:]
        var currentTable = ""
        var scanner = ValueScanner()
        var openAddress: String?

        var lineNumber = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let line = Array(rawLine.utf8)
            if scanner.isInsideValue, let address = openAddress {
                entries[address, default: Entry(line: lineNumber)].elementLines += scanner.scan(line, from: 0, lineNumber: lineNumber)
                if !scanner.isInsideValue { openAddress = nil }
                continue
            }

            var start = 0
            while start < line.count, line[start] == UInt8(ascii: " ") || line[start] == UInt8(ascii: "\t") { start += 1 }
            guard start < line.count, line[start] != UInt8(ascii: "#"), line[start] != UInt8(ascii: "\r") else { continue }

            if line[start] == UInt8(ascii: "[") {
                let isArray = start + 1 < line.count && line[start + 1] == UInt8(ascii: "[")
                var position = start + (isArray ? 2 : 1)
                guard let parts = Self.parseKey(line, at: &position) else { continue }
                currentTable = Self.resolve(parts, isArray: isArray, arrayCounts: &arrayCounts)
                if entries[currentTable] == nil { entries[currentTable] = Entry(line: lineNumber) }
                // The array as a whole (e.g. an unknown "[[routes]]") is
                // located at its first table.
                if isArray, let hash = currentTable.lastIndex(of: "#") {
                    let whole = String(currentTable[..<hash])
                    if entries[whole] == nil { entries[whole] = Entry(line: lineNumber) }
                }
                continue
            }

            var position = start
            guard let parts = Self.parseKey(line, at: &position),
                  position < line.count, line[position] == UInt8(ascii: "=") else { continue }
            let address = ([currentTable].filter { !$0.isEmpty } + parts).joined(separator: ".")
            if entries[address] == nil { entries[address] = Entry(line: lineNumber) }
            scanner = ValueScanner()
            let elements = scanner.scan(line, from: position + 1, lineNumber: lineNumber)
            entries[address]?.elementLines += elements
            if scanner.isInsideValue { openAddress = address }
        }
    }

    /// The line of `path`'s key — or of its element, when the path ends in
    /// one and the array spans several lines — else of the nearest enclosing
    /// key or table that is in the file.
    func line(for path: ConfigKeyPath) -> Int? {
        let address = path.locatorAddress
        var candidate = Substring(address)
        while true {
            if let entry = entries[String(candidate)] {
                if candidate.count == address.count, let index = path.elementIndex, index < entry.elementLines.count {
                    return entry.elementLines[index]
                }
                return entry.line
            }
            guard let dot = candidate.lastIndex(of: ".") else { return nil }
            candidate = candidate[..<dot]
        }
    }

    /// Whether the key itself (not only its table) is written in the file.
    func contains(_ path: ConfigKeyPath) -> Bool {
        entries[path.locatorAddress] != nil
    }

    /// `[[route]]` → "route#N" (the next occurrence); `[route.match]` →
    /// "route#N.match", attaching to the latest route as TOML does.
    private static func resolve(_ parts: [String], isArray: Bool, arrayCounts: inout [String: Int]) -> String {
        var address = ""
        for (offset, part) in parts.enumerated() {
            let plain = address.isEmpty ? part : "\(address).\(part)"
            if isArray && offset == parts.count - 1 {
                let index = (arrayCounts[plain] ?? -1) + 1
                arrayCounts[plain] = index
                return "\(plain)#\(index)"
            }
            address = arrayCounts[plain].map { "\(plain)#\($0)" } ?? plain
        }
        return address
    }

    /// A dotted key of bare and quoted parts, stopping at "=" or "]".
    private static func parseKey(_ line: [UInt8], at position: inout Int) -> [String]? {
        var parts: [String] = []
        func skipSpaces() {
            while position < line.count, line[position] == UInt8(ascii: " ") || line[position] == UInt8(ascii: "\t") {
                position += 1
            }
        }
        while true {
            skipSpaces()
            guard position < line.count else { return nil }
            let first = line[position]
            if first == UInt8(ascii: "\"") || first == UInt8(ascii: "'") {
                var end = position + 1
                while end < line.count, line[end] != first {
                    if first == UInt8(ascii: "\"") && line[end] == UInt8(ascii: "\\") { end += 1 }
                    end += 1
                }
                guard end < line.count else { return nil }
                parts.append(String(decoding: line[(position + 1)..<end], as: UTF8.self))
                position = end + 1
            } else {
                let begin = position
                while position < line.count, isBareKeyByte(line[position]) { position += 1 }
                guard position > begin else { return nil }
                parts.append(String(decoding: line[begin..<position], as: UTF8.self))
            }
            skipSpaces()
            guard position < line.count, line[position] == UInt8(ascii: ".") else { return parts }
            position += 1
        }
    }

    private static func isBareKeyByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"):
            return true
        default:
            return false
        }
    }
}

/// Follows one value across lines: strings (so brackets and "#" inside them
/// are ignored), nesting, comments, and where each element of a top-level
/// array begins.
private struct ValueScanner {
    private enum StringMode {
        case none, basic, literal, multilineBasic, multilineLiteral
    }

    private var mode = StringMode.none
    private var nesting: [UInt8] = []
    private var outerIsArray = false
    private var expectingElement = false

    var isInsideValue: Bool {
        !nesting.isEmpty || mode == .multilineBasic || mode == .multilineLiteral
    }

    /// Returns the line number once for each array element that starts here.
    mutating func scan(_ line: [UInt8], from start: Int, lineNumber: Int) -> [Int] {
        var elementStarts: [Int] = []
        var index = start
        func triple(_ quote: UInt8) -> Bool {
            index + 2 < line.count && line[index] == quote && line[index + 1] == quote && line[index + 2] == quote
        }
        scanning: while index < line.count {
            let byte = line[index]
            switch mode {
            case .multilineBasic:
                if byte == UInt8(ascii: "\\") { index += 2; continue }
                if triple(UInt8(ascii: "\"")) { mode = .none; index += 3; continue }
            case .multilineLiteral:
                if triple(UInt8(ascii: "'")) { mode = .none; index += 3; continue }
            case .basic:
                if byte == UInt8(ascii: "\\") { index += 2; continue }
                if byte == UInt8(ascii: "\"") { mode = .none }
            case .literal:
                if byte == UInt8(ascii: "'") { mode = .none }
            case .none:
                if byte == UInt8(ascii: "#") { break scanning }
                if byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r") {
                    index += 1
                    continue
                }
                if nesting.count == 1 && outerIsArray && expectingElement
                    && byte != UInt8(ascii: "]") && byte != UInt8(ascii: ",") {
                    elementStarts.append(lineNumber)
                    expectingElement = false
                }
                switch byte {
                case UInt8(ascii: "\""):
                    if triple(byte) { mode = .multilineBasic; index += 3; continue }
                    mode = .basic
                case UInt8(ascii: "'"):
                    if triple(byte) { mode = .multilineLiteral; index += 3; continue }
                    mode = .literal
                case UInt8(ascii: "["), UInt8(ascii: "{"):
                    if nesting.isEmpty {
                        outerIsArray = byte == UInt8(ascii: "[")
                        expectingElement = outerIsArray
                    }
                    nesting.append(byte)
                case UInt8(ascii: "]"), UInt8(ascii: "}"):
                    if !nesting.isEmpty { nesting.removeLast() }
                case UInt8(ascii: ","):
                    if nesting.count == 1 { expectingElement = true }
                default:
                    break
                }
            }
            index += 1
        }
        // Single-line strings cannot continue on the next line.
        if mode == .basic || mode == .literal { mode = .none }
        return elementStarts
    }
}
