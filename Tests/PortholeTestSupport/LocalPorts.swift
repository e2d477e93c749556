import Foundation

/// An ephemeral port that was free a moment ago (for peers that cannot
/// listen on port 0 and report it, like tinyproxy).
public func freeLocalPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Int32 in
            guard bind(fd, pointer, length) == 0 else { return -1 }
            return getsockname(fd, pointer, &length)
        }
    }
    guard bound == 0 else { throw TestSupportError("cannot find a free port") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Waits until something accepts connections on 127.0.0.1:`port`.
public func waitForListener(port: Int, timeout: TimeInterval = 30) async throws {
    // Checked once more after the deadline: a sleep may last far longer
    // than asked when other tests hold the cooperative threads.
    let deadline = Date().addingTimeInterval(timeout)
    while true {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        close(fd)
        if connected == 0 { return }
        if Date() > deadline { break }
        try await Task.sleep(nanoseconds: 50_000_000)
    }
    throw TestSupportError("nothing listens on 127.0.0.1:\(port) after \(timeout) s")
}

/// A real HTTP CONNECT proxy (Debian's tinyproxy) on 127.0.0.1 with a
/// temporary configuration, stopped by pid.
public final class Tinyproxy: @unchecked Sendable {
    public let port: Int
    private let directory = TemporaryDirectory("porthole-tinyproxy")
    private let process: ChildProcess

    public init() async throws {
        // tinyproxy cannot bind port 0 and report it: take a port that was
        // free a moment ago. No ConnectPort lines: CONNECT to any port.
        port = try freeLocalPort()
        let config = directory.write("tinyproxy.conf", """
            Port \(port)
            Listen 127.0.0.1
            Timeout 60
            MaxClients 100
            Allow 127.0.0.1
            LogLevel Info
            LogFile "\(directory.file("tinyproxy.log"))"
            PidFile "\(directory.file("tinyproxy.pid"))"
            """)
        process = try ChildProcess("tinyproxy", ["-d", "-c", config])
        do { try await waitForListener(port: port) } catch {
            process.stop()
            throw TestSupportError("tinyproxy did not start: \(process.stderr)")
        }
    }

    /// tinyproxy's log (it names every CONNECT it served).
    public var log: String { (try? String(contentsOfFile: directory.file("tinyproxy.log"), encoding: .utf8)) ?? "" }

    public func stop() { process.stop() }
}
