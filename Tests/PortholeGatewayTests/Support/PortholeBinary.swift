import Foundation
import PortholeTestSupport

/// The built `porthole` executable, run as a user would run it.
enum PortholeBinary {
    static var path: String {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/porthole").path
    }

    static func run(_ arguments: [String], timeout: TimeInterval = 60) throws -> (status: Int32?, stdout: String, stderr: String) {
        try ChildProcess.run(path, arguments, timeout: timeout)
    }

    /// `porthole run …` in the background; returns the process and the
    /// port it bound (read from its "listening" log line).
    static func start(_ arguments: [String]) throws -> (process: ChildProcess, port: Int) {
        let process = try ChildProcess(path, ["run"] + arguments)
        guard process.waitForOutput(containing: "ready", timeout: 30) else {
            process.stop()
            throw TestSupportError("porthole did not start: \(process.stderr)")
        }
        guard let line = process.stderr.split(separator: "\n").first(where: { $0.contains(" listening ") }),
              let address = line.split(separator: " ").first(where: { $0.hasPrefix("address=") }),
              let port = Int(address.split(separator: ":").last ?? "") else {
            process.stop()
            throw TestSupportError("no listening line in: \(process.stderr)")
        }
        return (process, port)
    }
}
