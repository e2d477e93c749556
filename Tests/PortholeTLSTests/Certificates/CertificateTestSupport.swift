import Foundation
import PortholeTestSupport
import PortholeTLS
import Testing

/// Runs the `openssl` command-line tool, the independent implementation our
/// results are checked against, in a test's temporary directory so commands
/// can name their files relatively, as one would type them.
enum OpenSSLCommand {
    @discardableResult
    static func run(_ arguments: [String], in directory: TemporaryDirectory) throws -> String {
        let child = try ChildProcess("openssl", arguments, currentDirectory: directory.path)
        child.closeStdin()
        let status = child.wait(timeout: 60)
        guard status == 0 else {
            throw TestSupportError("openssl \(arguments.joined(separator: " ")) exited \(status.map(String.init) ?? "by timeout"): \(child.stderr)")
        }
        return child.stdout + child.stderr
    }

    @discardableResult
    static func run(_ commandLine: String, in directory: TemporaryDirectory) throws -> String {
        try run(commandLine.split(separator: " ").map(String.init), in: directory)
    }

    /// `openssl x509 -noout -fingerprint -sha1` without the colons.
    static func sha1Fingerprint(of certificate: String, in directory: TemporaryDirectory, der: Bool = false) throws -> String {
        if !der { return try OpenSSLTool.thumbprint(ofPEM: directory.file(certificate)) }
        let line = try run(["x509", "-noout", "-fingerprint", "-sha1", "-inform", "DER", "-in", certificate], in: directory)
        let value = try #require(line.split(separator: "=", maxSplits: 1).last)
        return value.replacingOccurrences(of: ":", with: "").trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

extension TemporaryDirectory {
    func read(_ name: String) throws -> String {
        try String(contentsOfFile: file(name), encoding: .utf8)
    }
}

/// The halibut vector certificates, copied from shared/vectors/halibut/certs.
enum Fixtures {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures").path

    static func path(_ name: String) -> String { "\(directory)/\(name)" }
}

/// Runs `body`, expecting it to throw a `CertificateError`, and returns it.
func certificateError(sourceLocation: SourceLocation = #_sourceLocation,
                      _ body: () throws -> Void) -> CertificateError? {
    do {
        try body()
        Issue.record("expected a CertificateError, but nothing was thrown", sourceLocation: sourceLocation)
    } catch let error as CertificateError {
        return error
    } catch {
        Issue.record("expected a CertificateError, got \(error)", sourceLocation: sourceLocation)
    }
    return nil
}

/// POSIX permission bits of a file.
func permissions(_ path: String) throws -> Int {
    let attributes = try FileManager.default.attributesOfItem(atPath: path)
    return (attributes[.posixPermissions] as? NSNumber)?.intValue ?? -1
}
