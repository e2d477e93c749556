import Foundation
import PortholeTestSupport
import Testing

/// 100 MB each way through the in-process gateway, with its resident memory
/// sampled from /proc/self/statm: bodies must stream, not be buffered whole.
/// Serialized so the two big transfers do not share the measurement.
@Suite(.serialized) struct PortalStreamingTests {
    static let size = 100 << 20
    /// Far below the 100 MB that buffering a body would cost.
    static let allowedGrowth = 40 << 20

    /// Peak RSS growth while `body` runs.
    static func peakGrowth<T>(_ body: () throws -> T) rethrows -> (growth: Int, result: T) {
        let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        @Sendable func rss() -> Int {
            let text = (try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8)) ?? ""
            return (Int(text.split(separator: " ").dropFirst().first ?? "0") ?? 0) * pageSize
        }
        let baseline = rss()
        let peak = ManagedAtomicBox(baseline)
        let done = ManagedAtomicBox(0)
        let sampler = Thread {
            while done.value == 0 {
                peak.value = max(peak.value, rss())
                usleep(10_000)
            }
        }
        sampler.start()
        defer { done.value = 1 }
        let result = try body()
        peak.value = max(peak.value, rss())
        return (peak.value - baseline, result)
    }

    @Test(arguments: ["--http1.1", "--http2"])
    func upload100MB_streamsWithBoundedMemory(version: String) async throws {
        let upstream = try PortalUpstream()
        defer { upstream.stop() }
        let harness = try await PortalProxyTests.harness(upstream, "max_body = \"200MB\"")
        let file = harness.directory.file("upload.bin")
        _ = try await offloaded { try ChildProcess.run("sh", ["-c", "head -c \(Self.size) /dev/urandom > \(file)"]) }
        let expected = try await offloaded { try ChildProcess.run("sha256sum", [file]).stdout }.split(separator: " ").first.map(String.init)
        let (growth, output) = try await offloaded {
            try Self.peakGrowth { try Peers.curl(["-k", version, "-T", file, "https://127.0.0.1:\(harness.port)/echo"], timeout: 60).stdout }
        }
        let echo = PortalProxyTests.json(output)
        #expect(echo?["body_length"] as? Int == Self.size)
        #expect(echo?["body_sha256"] as? String == expected)
        #expect(growth < Self.allowedGrowth, "RSS grew by \(growth >> 20) MiB")
        try await harness.stop()
    }

    @Test(arguments: ["--http1.1", "--http2"])
    func download100MB_streamsWithBoundedMemory(version: String) async throws {
        let upstream = try PortalUpstream()
        defer { upstream.stop() }
        let harness = try await PortalProxyTests.harness(upstream)
        let url = "https://127.0.0.1:\(harness.port)/download?size=\(Self.size)"
        let (growth, result) = try await offloaded {
            try Self.peakGrowth {
                try Peers.curl(["-k", version, "-o", "/dev/null", "-w", "%{size_download} %{http_code}", url], timeout: 60).stdout
            }
        }
        #expect(result == "\(Self.size) 200")
        #expect(growth < Self.allowedGrowth, "RSS grew by \(growth >> 20) MiB")
        try await harness.stop()
    }
}

/// A value two threads share in these tests (sampler and test body).
final class ManagedAtomicBox: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Int
    init(_ value: Int) { stored = value }
    var value: Int {
        get { lock.lock(); defer { lock.unlock() }; return stored }
        set { lock.lock(); stored = newValue; lock.unlock() }
    }
}
