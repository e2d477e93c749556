import NIOConcurrencyHelpers
import NIOCore

/// The set of open client connections, for graceful shutdown: stop
/// accepting, let these finish within the grace period, then close the rest.
final class ConnectionTracker: Sendable {
    private struct State {
        var channels: [ObjectIdentifier: Channel] = [:]
        var drainWaiters: [EventLoopPromise<Void>] = []
        var churn: UInt64 = 0
    }
    private let state = NIOLockedValueBox(State())

    var count: Int { state.withLockedValue { $0.channels.count } }

    /// Connections added plus removed so far.
    var churn: UInt64 { state.withLockedValue { $0.churn } }

    func add(_ channel: Channel) {
        state.withLockedValue {
            $0.channels[ObjectIdentifier(channel)] = channel
            $0.churn &+= 1
        }
        channel.closeFuture.whenComplete { [weak self] _ in self?.remove(channel) }
    }

    private func remove(_ channel: Channel) {
        let waiters: [EventLoopPromise<Void>] = state.withLockedValue { state in
            state.channels[ObjectIdentifier(channel)] = nil
            state.churn &+= 1
            guard state.channels.isEmpty else { return [] }
            defer { state.drainWaiters = [] }
            return state.drainWaiters
        }
        waiters.forEach { $0.succeed() }
    }

    /// Completes when no connection is left.
    func drained(on eventLoop: EventLoop) -> EventLoopFuture<Void> {
        let promise = eventLoop.makePromise(of: Void.self)
        let empty = state.withLockedValue { state -> Bool in
            if state.channels.isEmpty { return true }
            state.drainWaiters.append(promise)
            return false
        }
        if empty { promise.succeed() }
        return promise.futureResult
    }

    /// Asks every connection to finish: handlers see
    /// `ChannelShouldQuiesceEvent` and stop after their current exchange.
    func requestGracefulClose() {
        for channel in state.withLockedValue({ Array($0.channels.values) }) {
            channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        }
    }

    func closeAll() {
        for channel in state.withLockedValue({ Array($0.channels.values) }) {
            channel.close(promise: nil)
        }
    }
}
