import Foundation
import Logging
import PortholeConfig
import PortholeGateway
import PortholeWire

enum PortholeVersionText {
    static var version: String { PortholeVersion.version }
}

/// A failure the CLI reports as one clear message and exit code 1 (no
/// stack trace, no Swift error dump).
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// A configuration and the warnings its file produced.
struct LoadedSettings {
    var configuration: PortholeConfiguration
    var warnings: [ConfigurationDiagnostic]
}

/// Reads the configuration file, or the embedded default when there is none.
func loadConfiguration(path: String?) throws -> LoadedSettings {
    guard let path else {
        return LoadedSettings(configuration: .embeddedDefault, warnings: [])
    }
    do {
        let loaded = try ConfigurationLoader.load(path: path)
        return LoadedSettings(configuration: loaded.configuration, warnings: loaded.warnings)
    } catch {  // typed throws: always a ConfigurationError
        throw CLIError(error.description)
    }
}

func makeLogger(_ log: PortholeConfiguration.Log, label: String = "porthole") -> Logger {
    let level = Logger.Level(rawValue: log.level.rawValue) ?? .info
    let format = PortholeLogHandler.Format(rawValue: log.format.rawValue) ?? .text
    LoggingSystem.bootstrap { label in PortholeLogHandler(label: label, format: format, level: level) }
    return Logger(label: label)
}
