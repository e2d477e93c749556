import Foundation
import NIOCore
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

final class LockedDepths: @unchecked Sendable {
    private let lock = NSLock()
    private var depths: [Int] = []
    func append(_ depth: Int) { lock.withLock { depths.append(depth) } }
    var values: [Int] { lock.withLock { depths } }
}

/// The public status page is rendered at most once per period.
@Suite struct StatusPageCacheTests {
    static func cache(counting renders: LockedDepths) -> StatusPageCache {
        StatusPageCache(maxAge: .seconds(1)) {
            renders.append(1)
            return StatusSnapshot(startedAt: "now", serverThumbprint: "AB\(renders.values.count)", certificates: [], listeners: [],
                                  routes: [], agents: [], counters: [:])
        }
    }

    @Test func withinThePeriod_theSamePageIsServed() {
        let renders = LockedDepths()
        let cache = Self.cache(counting: renders)
        let start = NIODeadline.now()
        let first = cache.page(.html, now: start)
        #expect(first.contains("AB1"))
        for step in 1...9 {
            #expect(cache.page(.html, now: start + .milliseconds(Int64(step) * 100)) == first)
        }
        #expect(renders.values.count == 1)
    }

    @Test func afterThePeriod_thePageIsRenderedAgain_andEachFormatHasItsOwnAge() {
        let renders = LockedDepths()
        let cache = Self.cache(counting: renders)
        let start = NIODeadline.now()
        #expect(cache.page(.html, now: start).contains("AB1"))
        #expect(cache.page(.json, now: start + .milliseconds(500)).contains("AB2"))
        #expect(cache.page(.html, now: start + .seconds(1)).contains("AB3"))
        #expect(cache.page(.json, now: start + .milliseconds(1_400)).contains("AB2"))
        #expect(renders.values.count == 3)
    }
}
