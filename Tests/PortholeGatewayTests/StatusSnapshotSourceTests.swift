import Foundation
import PortholePortal
import Testing

@testable import PortholeGateway

/// The late-bound status snapshot provider behind the portal's status page.
@Suite struct StatusSnapshotSourceTests {
    /// Regression: the provider used to sit bare in a generic lock box, and
    /// every read wrapped it in two more re-abstraction thunks, so the call
    /// stack under the provider grew with each status page request until the
    /// event loop's stack overflowed (a benchmark run crashed the gateway
    /// after ~30,000 requests). The depth must be the same on every call.
    @Test func readingTheProviderDoesNotWrapItAgain() {
        let source = BuiltInHandoff.SnapshotSource()
        let depths = LockedDepths()
        source.set {
            depths.append(Thread.callStackSymbols.count)
            return StatusSnapshot(startedAt: "now", serverThumbprint: "AB", certificates: [], listeners: [], routes: [],
                                  agents: [], counters: [:])
        }
        for _ in 0..<200 {
            #expect(source.snapshot().startedAt == "now")
        }
        let seen = depths.values
        #expect(seen.count == 200)
        #expect(Set(seen).count == 1, "call depth under the provider changed between calls: first \(seen.first ?? 0), last \(seen.last ?? 0)")
    }

    @Test func withoutAProviderTheSnapshotIsEmpty() {
        let snapshot = BuiltInHandoff.SnapshotSource().snapshot()
        #expect(snapshot.startedAt.isEmpty && snapshot.certificates.isEmpty && snapshot.counters.isEmpty)
    }
}

private final class LockedDepths: @unchecked Sendable {
    private let lock = NSLock()
    private var depths: [Int] = []
    func append(_ depth: Int) { lock.withLock { depths.append(depth) } }
    var values: [Int] { lock.withLock { depths } }
}
