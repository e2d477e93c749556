import Testing
@testable import PortholeConfig

/// Loads `toml` expecting it to fail, and returns the errors.
func loadErrors(_ toml: String, sourceLocation: SourceLocation = #_sourceLocation) -> ConfigurationError? {
    do {
        _ = try ConfigurationLoader.load(text: toml, fileName: "porthole.toml")
        Issue.record("expected the configuration to be rejected", sourceLocation: sourceLocation)
        return nil
    } catch {
        return error
    }
}

/// Loads `toml` expecting it to succeed.
func loadValid(_ toml: String, sourceLocation: SourceLocation = #_sourceLocation) -> LoadedConfiguration? {
    do {
        return try ConfigurationLoader.load(text: toml, fileName: "porthole.toml")
    } catch {
        Issue.record("expected the configuration to load:\n\(error)", sourceLocation: sourceLocation)
        return nil
    }
}

/// Asserts that loading `toml` fails with exactly one error of `kind`, at
/// `keyPath` and `line`, whose fix mentions each of `fix`; returns it.
@discardableResult
func expectError(
    _ toml: String,
    _ kind: ConfigurationDiagnostic.Kind,
    keyPath: String,
    line: Int?,
    fix: String...,
    sourceLocation: SourceLocation = #_sourceLocation
) -> ConfigurationDiagnostic? {
    guard let failure = loadErrors(toml, sourceLocation: sourceLocation) else { return nil }
    let matching = failure.errors.filter { $0.kind == kind }
    guard matching.count == 1, let diagnostic = matching.first else {
        Issue.record("expected one \(kind) error, got:\n\(failure)", sourceLocation: sourceLocation)
        return nil
    }
    checkDiagnostic(diagnostic, keyPath: keyPath, line: line, fix: fix, sourceLocation: sourceLocation)
    return diagnostic
}

/// Asserts that `toml` loads with exactly one warning of `kind`.
@discardableResult
func expectWarning(
    _ toml: String,
    _ kind: ConfigurationDiagnostic.Kind,
    keyPath: String,
    line: Int?,
    fix: String...,
    sourceLocation: SourceLocation = #_sourceLocation
) -> ConfigurationDiagnostic? {
    guard let loaded = loadValid(toml, sourceLocation: sourceLocation) else { return nil }
    let matching = loaded.warnings.filter { $0.kind == kind }
    guard matching.count == 1, let diagnostic = matching.first else {
        Issue.record("expected one \(kind) warning, got: \(loaded.warnings)", sourceLocation: sourceLocation)
        return nil
    }
    checkDiagnostic(diagnostic, keyPath: keyPath, line: line, fix: fix, sourceLocation: sourceLocation)
    #expect(diagnostic.description.contains("warning: "), sourceLocation: sourceLocation)
    return diagnostic
}

private func checkDiagnostic(_ diagnostic: ConfigurationDiagnostic, keyPath: String, line: Int?, fix: [String],
                             sourceLocation: SourceLocation) {
    #expect(diagnostic.keyPath == keyPath, sourceLocation: sourceLocation)
    #expect(diagnostic.line == line, sourceLocation: sourceLocation)
    let location = line.map { "porthole.toml:\($0): " } ?? "porthole.toml: "
    #expect(diagnostic.description.hasPrefix(location), "\(diagnostic)", sourceLocation: sourceLocation)
    if !keyPath.isEmpty {
        #expect(diagnostic.description.contains(": \(keyPath): "), sourceLocation: sourceLocation)
    }
    for expected in fix {
        #expect(diagnostic.fix?.contains(expected) == true, "fix \(diagnostic.fix ?? "nil") lacks \(expected)",
                sourceLocation: sourceLocation)
    }
}
