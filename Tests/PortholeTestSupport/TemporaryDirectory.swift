import Foundation

/// A directory under /tmp removed when the value goes away.
public final class TemporaryDirectory: @unchecked Sendable {
    public let path: String

    public init(_ prefix: String = "porthole-test") {
        let template = NSTemporaryDirectory() + "\(prefix)-XXXXXX"
        var bytes = Array(template.utf8CString)
        guard let result = mkdtemp(&bytes) else { fatalError("mkdtemp failed") }
        path = String(cString: result)
    }

    public func file(_ name: String) -> String { path + "/" + name }

    @discardableResult
    public func write(_ name: String, _ contents: String) -> String {
        let target = file(name)
        FileManager.default.createFile(atPath: target, contents: Data(contents.utf8))
        return target
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// Certificates made by the real `openssl` CLI, the independent reference.
public enum OpenSSLTool {
    /// Self-signed cert + key (PEM). Returns (certPath, keyPath).
    @discardableResult
    public static func makeSelfSigned(in directory: TemporaryDirectory, name: String, commonName: String,
                                      dnsNames: [String] = [], ecdsa: Bool = false) throws -> (cert: String, key: String) {
        let cert = directory.file("\(name).crt")
        let key = directory.file("\(name).key")
        var arguments = ["req", "-x509", "-nodes", "-days", "30", "-subj", "/CN=\(commonName)", "-keyout", key, "-out", cert]
        arguments += ecdsa ? ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"] : ["-newkey", "rsa:2048"]
        if !dnsNames.isEmpty { arguments += ["-addext", "subjectAltName=" + dnsNames.map { "DNS:\($0)" }.joined(separator: ",")] }
        let result = try ChildProcess.run("openssl", arguments)
        guard result.status == 0 else { throw TestSupportError("openssl req failed: \(result.stderr)") }
        return (cert, key)
    }

    /// SHA-1 fingerprint as openssl prints it, without colons.
    public static func thumbprint(ofPEM path: String) throws -> String {
        let result = try ChildProcess.run("openssl", ["x509", "-in", path, "-noout", "-fingerprint", "-sha1"])
        guard result.status == 0, let value = result.stdout.split(separator: "=").last else {
            throw TestSupportError("openssl x509 failed: \(result.stderr)")
        }
        return value.replacingOccurrences(of: ":", with: "").trimmingCharacters(in: .whitespacesAndNewlines).uppercased()
    }
}
