import Foundation

/// Runs blocking test work (waiting for a child process, polling with
/// sleeps) on its own thread, so that async tests do not hold one of the
/// few threads of Swift's cooperative pool (2 on a 2-core CI machine) and
/// starve the tests running next to them.
public func offloaded<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
        }
        thread.stackSize = 1 << 20
        thread.start()
    }
}
