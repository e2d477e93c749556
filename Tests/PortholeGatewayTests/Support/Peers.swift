import Foundation
import PortholeTestSupport

/// The real clients tests talk to Porthole with.
enum Peers {
    /// `openssl s_client` against 127.0.0.1:port; returns its whole output
    /// (handshake summary on stdout, `-msg` trace included when asked).
    /// - Parameter untilServerCloses: keep reading after stdin ends until
    ///   the server closes (`-ign_eof`), to see its whole answer.
    static func sClient(port: Int, arguments: [String] = [], input: String = "", untilServerCloses: Bool = false,
                        timeout: TimeInterval = 20) throws -> (status: Int32?, output: String) {
        // -no_ign_eof: exit when stdin ends (s_client -quiet implies -ign_eof).
        let eof = untilServerCloses ? "-ign_eof" : "-no_ign_eof"
        let result = try ChildProcess.run("openssl", ["s_client", "-connect", "127.0.0.1:\(port)", eof] + arguments,
                                          input: input, timeout: timeout)
        return (result.status, result.stdout + result.stderr)
    }

    static func curl(_ arguments: [String], timeout: TimeInterval = 20) throws -> (status: Int32?, stdout: String, stderr: String) {
        try ChildProcess.run("curl", ["--silent", "--show-error", "--max-time", "15"] + arguments, timeout: timeout)
    }

    /// Runs a Python 3 script (stdlib only) with arguments.
    static func python(_ script: String, _ arguments: [String] = [], timeout: TimeInterval = 60) throws -> (status: Int32?, stdout: String, stderr: String) {
        let directory = TemporaryDirectory("porthole-py")
        let path = directory.write("script.py", script)
        return try ChildProcess.run("python3", [path] + arguments, timeout: timeout)
    }

    /// "subject=CN = portal.example" → "portal.example"
    static func serverSubjectCN(in output: String) -> String? {
        for line in output.split(separator: "\n") where line.hasPrefix("subject=") {
            if let range = line.range(of: "CN = ") ?? line.range(of: "CN=") {
                return String(line[range.upperBound...]).split(separator: ",").first.map { $0.trimmingCharacters(in: .whitespaces) }
            }
        }
        return nil
    }

    static func field(_ name: String, in output: String) -> String? {
        for line in output.split(separator: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix(name + ":") {
                return trimmed.dropFirst(name.count + 1).trimmingCharacters(in: .whitespaces)
            }
        }
        return nil
    }

    /// Starts a Python 3 script in the background (stopped by the caller,
    /// by pid, or when the returned value goes away).
    static func startPython(_ script: String, _ arguments: [String], in directory: TemporaryDirectory) throws -> ChildProcess {
        let path = directory.write("script-\(UUID().uuidString).py", script)
        return try ChildProcess("python3", ["-u", path] + arguments)
    }

    /// The port a background peer announces on a line `<prefix><port>`
    /// (`PORT 4711`, `ACCEPT 127.0.0.1:4711`).
    static func announcedPort(of child: ChildProcess, prefix: String, timeout: TimeInterval = 10) throws -> Int {
        let deadline = Date().addingTimeInterval(timeout)
        repeat {
            // Whole lines only: an unbuffered writer may send "PORT " and the number apart.
            let output = child.stdout
            let lines = output.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
            for line in lines where line.hasPrefix(prefix) {
                if let port = Int(line.split(whereSeparator: { $0 == " " || $0 == ":" }).last ?? "") { return port }
            }
            if !child.isRunning { break }
            usleep(10_000)
        } while Date() < deadline
        throw TestSupportError("peer did not announce its port: \(child.stdout) \(child.stderr)")
    }

    /// The `openssl s_server` backend of passthrough tests: its own
    /// certificate, mutual TLS (`-Verify 1`) against `clientCA`, answering
    /// one `GET` with its `-www` status page. Returns the process and port.
    static func sServer(certificate: (cert: String, key: String), clientCA: String) throws -> (ChildProcess, Int) {
        let server = try ChildProcess("openssl", ["s_server", "-4", "-accept", "127.0.0.1:0", "-cert", certificate.cert,
                                                  "-key", certificate.key, "-Verify", "1", "-CAfile", clientCA, "-www"])
        return (server, try announcedPort(of: server, prefix: "ACCEPT "))
    }
}
