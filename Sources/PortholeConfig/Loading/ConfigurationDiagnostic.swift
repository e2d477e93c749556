/// One problem found in a configuration file, with where it is and what to
/// do about it. Rendered as
/// `porthole.toml:14: [[route]] #2 ("agents").upstream: "localhost" has no port; expected "host:port", e.g. "127.0.0.1:10943"`.
///
/// Key paths: `[server].listen[1]` indexes array values from 0, as TOML
/// tools do; `[[route]] #2` counts tables from 1, as a reader counts the
/// `[[route]]` headers in the file.
public struct ConfigurationDiagnostic: Sendable, Hashable, CustomStringConvertible {
    public enum Severity: String, Sendable, Hashable {
        case error
        case warning
    }

    /// Every kind of mistake the loader recognises; tools and tests match on
    /// these rather than on message text.
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        // Errors
        case fileUnreadable
        case syntax
        case unknownKey
        case wrongType
        case missingKey
        case badAddress
        case badDuration
        case badSize
        case unknownValue
        case valueOutOfRange
        case badCIDR
        case badThumbprint
        case badServerName
        case badALPN
        case badPath
        case badURL
        case badSubscription
        case badHeader
        case emptyList
        case emptyValue
        case certificateWithoutKey
        case keyWithoutCertificate
        case conflictingCertificateSources
        case missingCertificateSource
        case pfxWithoutPasswordFile
        case passwordFileWithoutPFX
        case duplicateName
        case duplicateAddress
        case unknownReference
        case passthroughWithoutUpstream
        case keyNotForAction
        case legacyTLSVersion
        case proxyRequiredWithoutTrustedSources
        // Warnings
        case adminWithoutToken
        case hostBitsSet
        case proxyOptionalWithoutTrustedSources
        case shadowedRoute
        case routeOnPollingListener
    }

    public let severity: Severity
    public let kind: Kind
    public let file: String
    /// 1-based; nil when the key is absent from the file (e.g. a default).
    public let line: Int?
    public let keyPath: String
    public let problem: String
    /// What to change, phrased as an instruction or an example.
    public let fix: String?

    public init(severity: Severity, kind: Kind, file: String, line: Int?, keyPath: String,
                problem: String, fix: String?) {
        self.severity = severity
        self.kind = kind
        self.file = file
        self.line = line
        self.keyPath = keyPath
        self.problem = problem
        self.fix = fix
    }

    public var description: String {
        let location = line.map { "\(file):\($0)" } ?? file
        let prefix = severity == .warning ? "warning: " : ""
        let subject = keyPath.isEmpty ? "" : "\(keyPath): "
        let advice = fix.map { "; \($0)" } ?? ""
        return "\(location): \(prefix)\(subject)\(problem)\(advice)"
    }
}

/// A configuration that loaded, with anything worth a second look.
public struct LoadedConfiguration: Sendable {
    public let configuration: PortholeConfiguration
    public let warnings: [ConfigurationDiagnostic]
}

/// A configuration that did not load: every error found (not only the
/// first), in file order, and the warnings found along the way.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public let errors: [ConfigurationDiagnostic]
    public let warnings: [ConfigurationDiagnostic]

    public var description: String {
        let count = errors.count == 1 ? "1 error" : "\(errors.count) errors"
        return ((errors + warnings).map(\.description) + ["\(count) in configuration"]).joined(separator: "\n")
    }
}
