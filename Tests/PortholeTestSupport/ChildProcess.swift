import Foundation

/// A real peer (openssl, curl, python3…) run as a child process. Tests use
/// these instead of mocks; every process started is stopped by pid.
public final class ChildProcess: @unchecked Sendable {
    public let process = Process()
    private let stdoutPipe = Pipe()
    private let stderrPipe = Pipe()
    private let stdinPipe = Pipe()
    private let lock = NSLock()
    private var stdoutData = Data()
    private var stderrData = Data()

    public var pid: Int32 { process.processIdentifier }

    /// Starts `executable` (looked up in PATH when not absolute).
    public init(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                currentDirectory: String? = nil) throws {
        process.executableURL = URL(fileURLWithPath: executable.hasPrefix("/") ? executable : try Self.which(executable))
        process.arguments = arguments
        if let environment {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        }
        if let currentDirectory { process.currentDirectoryURL = URL(fileURLWithPath: currentDirectory) }
        process.standardOutput = stdoutPipe
        process.standardError = stderrPipe
        process.standardInput = stdinPipe
        stdoutPipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard let self else { return }
            self.lock.lock(); self.stdoutData.append(data); self.lock.unlock()
        }
        stderrPipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard let self else { return }
            self.lock.lock(); self.stderrData.append(data); self.lock.unlock()
        }
        try Self.withTerminationSignalsUnblocked { try process.run() }
    }

    /// A child inherits the spawning thread's signal mask, and test-runner
    /// threads block SIGTERM/SIGINT: without this, `stop()`'s SIGTERM never
    /// reached python3 or openssl, and every stop waited 5 s for SIGKILL.
    private static func withTerminationSignalsUnblocked<T>(_ body: () throws -> T) rethrows -> T {
        var signals = sigset_t()
        var previous = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGTERM)
        sigaddset(&signals, SIGINT)
        pthread_sigmask(SIG_UNBLOCK, &signals, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
        return try body()
    }

    public var stdout: String { lock.lock(); defer { lock.unlock() }; return String(decoding: stdoutData, as: UTF8.self) }
    public var stderr: String { lock.lock(); defer { lock.unlock() }; return String(decoding: stderrData, as: UTF8.self) }
    public var stdoutBytes: Data { lock.lock(); defer { lock.unlock() }; return stdoutData }

    public func write(_ text: String) { write(Data(text.utf8)) }
    public func write(_ data: Data) { try? stdinPipe.fileHandleForWriting.write(contentsOf: data) }
    public func closeStdin() { try? stdinPipe.fileHandleForWriting.close() }

    public var isRunning: Bool { process.isRunning }

    /// Waits for exit up to `timeout`; kills the process (by pid) if it is
    /// still running then. Returns the exit status, or nil after a kill.
    @discardableResult
    public func wait(timeout: TimeInterval = 30) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning {
            stop()
            return nil
        }
        process.waitUntilExit()
        // Let the readability handlers drain what is left in the pipes.
        drainPipes()
        return process.terminationStatus
    }

    /// Waits until `text` appears on stdout or stderr.
    public func waitForOutput(containing text: String, timeout: TimeInterval = 30) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if stdout.contains(text) || stderr.contains(text) { return true }
            if !process.isRunning { drainPipes(); return stdout.contains(text) || stderr.contains(text) }
            usleep(10_000)
        }
        return false
    }

    /// SIGTERM, then SIGKILL if it does not go within 5 s.
    public func stop() {
        guard process.isRunning else {
            // Exited by itself: still collect what it wrote last, which the
            // pipe handlers may not have read yet (a loaded machine).
            if !drained { drainPipes() }
            return
        }
        kill(pid, SIGTERM)
        let deadline = Date().addingTimeInterval(5)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning { kill(pid, SIGKILL) }
        process.waitUntilExit()
        drainPipes()
    }

    public func signal(_ signal: Int32) { kill(pid, signal) }

    private var drained = false

    private func drainPipes() {
        drained = true
        stdoutPipe.fileHandleForReading.readabilityHandler = nil
        stderrPipe.fileHandleForReading.readabilityHandler = nil
        let out = stdoutPipe.fileHandleForReading.readDataToEndOfFile()
        let err = stderrPipe.fileHandleForReading.readDataToEndOfFile()
        lock.lock(); stdoutData.append(out); stderrData.append(err); lock.unlock()
    }

    deinit { stop() }

    public static func which(_ name: String) throws -> String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw TestSupportError("\(name) not found in PATH (run scripts/install-deps.sh)")
    }

    /// Runs to completion and returns (status, stdout, stderr).
    public static func run(_ executable: String, _ arguments: [String], input: String? = nil,
                           timeout: TimeInterval = 60) throws -> (status: Int32?, stdout: String, stderr: String) {
        let child = try ChildProcess(executable, arguments)
        if let input { child.write(input) }
        child.closeStdin()
        let status = child.wait(timeout: timeout)
        return (status, child.stdout, child.stderr)
    }
}

public struct TestSupportError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
