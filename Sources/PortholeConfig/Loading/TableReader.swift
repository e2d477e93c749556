import TOMLKit

/// Collects diagnostics for one load, locating each one in the source.
/// Lives only for the duration of one `ConfigurationLoader` call.
final class DiagnosticSink {
    let fileName: String
    let locator: SourceLocator
    private(set) var diagnostics: [ConfigurationDiagnostic] = []

    init(fileName: String, locator: SourceLocator) {
        self.fileName = fileName
        self.locator = locator
    }

    func error(_ kind: ConfigurationDiagnostic.Kind, _ path: ConfigKeyPath, _ problem: String, fix: String?) {
        add(.error, kind, path, problem, fix)
    }

    func warning(_ kind: ConfigurationDiagnostic.Kind, _ path: ConfigKeyPath, _ problem: String, fix: String?) {
        add(.warning, kind, path, problem, fix)
    }

    func add(_ severity: ConfigurationDiagnostic.Severity, _ kind: ConfigurationDiagnostic.Kind,
             _ path: ConfigKeyPath, _ problem: String, _ fix: String?) {
        diagnostics.append(ConfigurationDiagnostic(
            severity: severity, kind: kind, file: fileName, line: locator.line(for: path),
            keyPath: path.description, problem: problem, fix: fix))
    }

    var errorCount: Int { diagnostics.filter { $0.severity == .error }.count }
}

/// Typed, validating access to one TOML table. Every accessor reports a
/// wrong type itself and returns nil, so section readers only decide what
/// the values mean; absent keys return nil silently (callers apply
/// defaults or report `missingKey`).
struct TableReader {
    let table: TOMLTable
    let path: ConfigKeyPath
    let sink: DiagnosticSink

    var section: ConfigurationSchema.Section? { ConfigurationSchema.sections[path.section] }

    func has(_ key: String) -> Bool { table[key] != nil }

    /// The item's `name` if it is a non-empty string, else the default the
    /// loader gives unnamed items ("route-2"); errors are reported elsewhere.
    func itemName(default fallback: String) -> String {
        guard let name = table["name"]?.string, !name.isEmpty else { return fallback }
        return name
    }

    func raw(_ key: String) -> TOMLValueConvertible? { table[key] }

    /// Unknown keys, with the closest known key or the table the key belongs in.
    func reportUnknownKeys(in schema: ConfigurationSchema.Section? = nil) {
        guard let schema = schema ?? section else { return }
        let known = schema.keyNames
        for key in table.keys where !known.contains(key) {
            var fix: String
            if let suggestion = closestMatch(to: key, in: known) {
                fix = "did you mean \"\(suggestion)\"?"
            } else {
                fix = "known keys in \(schema.display): \(known.joined(separator: ", "))"
            }
            let elsewhere = ConfigurationSchema.sectionsContaining(key, except: path.section)
            if !elsewhere.isEmpty {
                fix += " (\"\(key)\" belongs in \(elsewhere.joined(separator: " or ")))"
            }
            sink.error(.unknownKey, path.key(key), "unknown key \"\(key)\" in \(schema.display)", fix: fix)
        }
    }

    // MARK: scalars

    func string(_ key: String) -> String? {
        guard let value = table[key] else { return nil }
        guard let string = value.string else {
            wrongType(key, value, expected: "a string")
            return nil
        }
        return string
    }

    func bool(_ key: String) -> Bool? {
        guard let value = table[key] else { return nil }
        guard let bool = value.bool else {
            wrongType(key, value, expected: "true or false")
            return nil
        }
        return bool
    }

    func integer(_ key: String, in range: ClosedRange<Int>) -> Int? {
        guard let value = table[key] else { return nil }
        guard let integer = value.int else {
            wrongType(key, value, expected: "an integer")
            return nil
        }
        return checkRange(key, integer, range, unit: "")
    }

    func duration(_ key: String, minimum: Duration = .milliseconds(1)) -> Duration? {
        guard let value = table[key] else { return nil }
        guard let text = value.string else {
            wrongType(key, value, expected: "a duration string such as \"5s\"")
            return nil
        }
        let duration: Duration
        do {
            duration = try DurationSyntax.parse(text)
        } catch {
            sink.error(.badDuration, path.key(key), "\(error)",
                       fix: "write a whole number with a unit ms, s, m or h, e.g. \(key) = \(example(key) ?? "\"5s\"")")
            return nil
        }
        guard duration >= minimum else {
            sink.error(.valueOutOfRange, path.key(key), "\"\(text)\" is too short",
                       fix: "use at least \(DurationSyntax.format(minimum))")
            return nil
        }
        return duration
    }

    /// Integers are bytes; strings may carry a unit ("16KB", "100MB").
    func size(_ key: String, in range: ClosedRange<Int>) -> Int? {
        guard let value = table[key] else { return nil }
        let bytes: Int
        if let integer = value.int {
            bytes = integer
        } else if let text = value.string {
            do {
                bytes = try ByteSizeSyntax.parse(text)
            } catch {
                sink.error(.badSize, path.key(key), "\(error)",
                           fix: "write bytes as an integer or a number with a unit B, KB, MB or GB (1KB = 1024 bytes), e.g. \(key) = \(example(key) ?? "\"16KB\"")")
                return nil
            }
        } else {
            wrongType(key, value, expected: "a size (an integer or a string such as \"16KB\")")
            return nil
        }
        return checkRange(key, bytes, range, unit: " bytes")
    }

    /// A string that must be one of `E`'s raw values.
    func enumeration<E: RawRepresentable & CaseIterable>(_ key: String, _ type: E.Type) -> E? where E.RawValue == String {
        guard let text = string(key) else { return nil }
        return enumValue(text, E.self, at: path.key(key))
    }

    func enumValue<E: RawRepresentable & CaseIterable>(_ text: String, _ type: E.Type, at keyPath: ConfigKeyPath) -> E? where E.RawValue == String {
        if let value = E(rawValue: text) { return value }
        let allowed = E.allCases.map(\.rawValue)
        // Accept nothing case-insensitively, but say when case was the only problem.
        if let value = E(rawValue: text.lowercased()) {
            sink.error(.unknownValue, keyPath, "\"\(text)\" is not an allowed value",
                       fix: "values are lowercase: use \"\(value.rawValue)\"")
            return nil
        }
        sink.error(.unknownValue, keyPath, "\"\(text)\" is not an allowed value",
                   fix: Self.allowedValuesFix(text, allowed))
        return nil
    }

    static func allowedValuesFix(_ text: String, _ allowed: [String], label: String = "allowed values") -> String {
        let list = "\(label): " + allowed.map { "\"\($0)\"" }.joined(separator: ", ")
        if let suggestion = closestMatch(to: text, in: allowed) { return "did you mean \"\(suggestion)\"? \(list)" }
        return list
    }

    // MARK: arrays and tables

    /// An array of strings, each with its own path for element errors.
    /// Returns nil (after reporting) when the key is not an array of strings.
    func stringList(_ key: String, allowEmpty: Bool = true, emptyFix: String? = nil) -> [(value: String, path: ConfigKeyPath)]? {
        guard let value = table[key] else { return nil }
        guard let array = value.array else {
            if let single = value.string {
                sink.error(.wrongType, path.key(key), "expected an array of strings, found the string \"\(single)\"",
                           fix: "wrap it in brackets: \(key) = [\"\(single)\"]")
            } else {
                wrongType(key, value, expected: "an array of strings")
            }
            return nil
        }
        if array.isEmpty && !allowEmpty {
            sink.error(.emptyList, path.key(key), "the list is empty",
                       fix: emptyFix ?? "add at least one value, e.g. \(key) = \(example(key) ?? "[\"…\"]"), or remove the key")
            return nil
        }
        var result: [(value: String, path: ConfigKeyPath)] = []
        var allStrings = true
        for index in 0..<array.count {
            let element = array[index]
            guard let string = element.string else {
                sink.error(.wrongType, path.key(key).element(index),
                           "expected a string, found \(Self.describe(element))",
                           fix: "quote each value, e.g. \(key) = \(example(key) ?? "[\"…\"]")")
                allStrings = false
                continue
            }
            result.append((string, path.key(key).element(index)))
        }
        return allStrings ? result : nil
    }

    /// A sub-table, inline (`match = { … }`) or not (`[route.match]`).
    func table(_ key: String) -> TableReader? {
        guard let value = table[key] else { return nil }
        guard let subtable = value.table else {
            wrongType(key, value, expected: "a table")
            return nil
        }
        return TableReader(table: subtable, path: path.key(key), sink: sink)
    }

    private func checkRange(_ key: String, _ value: Int, _ range: ClosedRange<Int>, unit: String) -> Int? {
        guard range.contains(value) else {
            sink.error(.valueOutOfRange, path.key(key), "\(value)\(unit) is out of range",
                       fix: "use a value from \(range.lowerBound) to \(range.upperBound)\(unit)")
            return nil
        }
        return value
    }

    func example(_ key: String) -> String? { section?.example(for: key) }

    /// Wrong-type errors come with the likeliest repair: quotes added or
    /// removed, or an example of the expected form.
    func wrongType(_ key: String, _ value: TOMLValueConvertible, expected: String) {
        let wantsDuration = expected.hasPrefix("a duration")
        let wantsText = expected.hasPrefix("a string") || wantsDuration
        let wantsLiteral = expected == "an integer" || expected == "true or false"
        let fix: String
        if wantsText, [TOMLType.int, .double, .bool].contains(value.type) {
            let text = Self.literal(value)
            fix = wantsDuration
                ? "give it a unit and quotes, e.g. \(key) = \"\(text)s\""
                : "quote it: \(key) = \"\(text)\""
        } else if wantsLiteral, let text = value.string, Int(text) != nil || text == "true" || text == "false" {
            fix = "remove the quotes: \(key) = \(text)"
        } else {
            fix = "e.g. \(key) = \(example(key) ?? "…")"
        }
        sink.error(.wrongType, path.key(key), "expected \(expected), found \(Self.describe(value))", fix: fix)
    }

    static func describe(_ value: TOMLValueConvertible) -> String {
        switch value.type {
        case .string: return "the string \"\(value.string ?? "")\""
        case .int, .double: return "the number \(literal(value))"
        case .bool: return "the boolean \(literal(value))"
        case .array: return "an array"
        case .table: return "a table"
        case .date, .time, .dateTime: return "a date/time"
        }
    }

    static func literal(_ value: TOMLValueConvertible) -> String {
        if let int = value.int { return String(int) }
        if let double = value.double { return String(double) }
        if let bool = value.bool { return String(bool) }
        return value.string ?? ""
    }
}
