#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TOMLKit

/// Reads `porthole.toml` into a validated `PortholeConfiguration`.
///
/// Every problem is reported at once — a config file is usually fixed in
/// one sitting, and one-error-per-restart makes that painful. Files the
/// configuration merely names (certificates, password, token and trust
/// files) are not opened here: their loaders report on them with the
/// context of what they expected to find.
public enum ConfigurationLoader {
    public static func load(path: String) throws(ConfigurationError) -> LoadedConfiguration {
        let text: String
        do {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            guard let decoded = String(validating: data, as: UTF8.self) else {
                throw ConfigurationError(errors: [ConfigurationDiagnostic(
                    severity: .error, kind: .fileUnreadable, file: path, line: nil, keyPath: "",
                    problem: "the file is not valid UTF-8", fix: "save it as UTF-8 (TOML files must be UTF-8)")],
                    warnings: [])
            }
            text = decoded
        } catch let error as ConfigurationError {
            throw error
        } catch {
            throw ConfigurationError(errors: [ConfigurationDiagnostic(
                severity: .error, kind: .fileUnreadable, file: path, line: nil, keyPath: "",
                problem: "cannot read the configuration file (\(error))",
                fix: "check the path and that the porthole user may read it, or run without --config to use the built-in defaults")],
                warnings: [])
        }
        return try load(text: text, fileName: path)
    }

    /// `fileName` is used only in messages.
    public static func load(text: String, fileName: String) throws(ConfigurationError) -> LoadedConfiguration {
        let document: TOMLTable
        do {
            document = try TOMLTable(string: text)
        } catch {
            throw ConfigurationError(errors: [syntaxDiagnostic(error, text: text, fileName: fileName)], warnings: [])
        }

        let sink = DiagnosticSink(fileName: fileName, locator: SourceLocator(text: text))
        var configuration = ConfigurationReader(document: document, sink: sink).read()
        configuration.sourceFile = fileName

        // File order reads best; diagnostics without a line (defaults) last.
        let ordered = sink.diagnostics.enumerated().sorted { lhs, rhs in
            switch (lhs.element.line, rhs.element.line) {
            case let (left?, right?) where left != right: return left < right
            case (.some, nil): return true
            case (nil, .some): return false
            default: return lhs.offset < rhs.offset
            }
        }.map(\.element)
        let errors = ordered.filter { $0.severity == .error }
        let warnings = ordered.filter { $0.severity == .warning }
        if !errors.isEmpty { throw ConfigurationError(errors: errors, warnings: warnings) }
        return LoadedConfiguration(configuration: configuration, warnings: warnings)
    }

    private static func syntaxDiagnostic(_ error: any Error, text: String, fileName: String) -> ConfigurationDiagnostic {
        guard let parseError = error as? TOMLParseError else {
            return ConfigurationDiagnostic(severity: .error, kind: .syntax, file: fileName, line: nil, keyPath: "",
                                           problem: "TOML syntax error: \(error)", fix: nil)
        }
        let line = parseError.source.begin.line
        let column = parseError.source.begin.column
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        let sourceLine = line >= 1 && line <= lines.count ? String(lines[line - 1]) : ""
        return ConfigurationDiagnostic(
            severity: .error, kind: .syntax, file: fileName, line: line, keyPath: "",
            problem: "TOML syntax error at column \(column): \(parseError.description)",
            fix: syntaxFix(for: sourceLine, message: parseError.description))
    }

    /// The common ways people break TOML, recognised from the offending line.
    static func syntaxFix(for line: String, message: String) -> String {
        let trimmed = line.trimmingASCIISpaces
        if let equals = trimmed.firstIndex(of: "=") {
            let key = trimmed[..<equals].trimmingASCIISpaces
            var value = trimmed[trimmed.index(after: equals)...].trimmingASCIISpaces
            if let hash = value.firstIndex(of: "#") { value = value[..<hash].trimmingASCIISpaces }
            let isBareWord = !value.isEmpty && value.allSatisfy { !"\"'[{".contains($0) }
                && Int(value) == nil && Double(value) == nil && value != "true" && value != "false"
            if isBareWord {
                return "strings need quotes: \(key) = \"\(value)\""
            }
        }
        if message.lowercased().contains("redefin") || message.lowercased().contains("already") {
            return "each key and [table] may appear only once; repeated tables such as routes are written [[route]]"
        }
        if trimmed.hasPrefix("[") && !trimmed.contains("]") {
            return "close the table header with \"]\" (or \"]]\" for [[arrays of tables]])"
        }
        return "check the quotes, brackets and commas on this line (strings need double quotes, tables are [name], repeated tables [[name]])"
    }
}
