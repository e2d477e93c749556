import Foundation

/// Runs blocking work (waiting for a child process such as curl, h2load or
/// Chromium) on a dispatch thread, so Swift concurrency's few cooperative
/// threads stay free for the in-process gateway and agents of other tests.
func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try body() }) }
    }
}
