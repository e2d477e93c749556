import NIOConcurrencyHelpers
import NIOCore
import PortholeWire

/// One call made through the dispatch API, as it waits for an agent.
public struct PollingCall: Sendable {
    public var request: HalibutRequestMessage
    /// Bodies of the DataStreams the request's params announce, by id; their
    /// frames follow the request message in the order the placeholders
    /// appear (halibut.md §6).
    public var outgoingStreams: [HalibutGuid: [UInt8]]

    public init(request: HalibutRequestMessage, outgoingStreams: [HalibutGuid: [UInt8]] = [:]) {
        self.request = request
        self.outgoingStreams = outgoingStreams
    }
}

/// What an agent answered: its response and the bodies of the DataStreams
/// the response carried.
public struct PollingCallResult: Sendable {
    public var response: HalibutResponseMessage
    public var streams: [HalibutGuid: [UInt8]]

    public init(response: HalibutResponseMessage, streams: [HalibutGuid: [UInt8]] = [:]) {
        self.response = response
        self.streams = streams
    }
}

/// Why a call ended without a response.
public enum PollingCallError: Error, Hashable, Sendable, CustomStringConvertible {
    /// No agent connection collected the request in time (halibut.md §7).
    case collectionTimeout(subscription: String, seconds: Int64)
    /// An agent collected the request but did not answer in time.
    case responseTimeout(subscription: String, seconds: Int64)
    /// The agent's connection failed or closed while the request was in
    /// flight; the request was not re-queued because it may have run.
    case agentFailed(subscription: String, reason: String)
    /// The gateway is shutting down.
    case shuttingDown

    public var description: String {
        switch self {
        case let .collectionTimeout(subscription, seconds):
            return "no agent subscribed to \(subscription) collected the request within \(seconds) s; is the agent running, trusted and connected (GET /v1/agents)?"
        case let .responseTimeout(subscription, seconds):
            return "the agent for \(subscription) collected the request but sent no response within \(seconds) s; the request may still be running on the agent"
        case let .agentFailed(subscription, reason):
            return "the agent for \(subscription) failed while the request was in flight (\(reason)); the request was not retried because it may have run"
        case .shuttingDown:
            return "Porthole is shutting down; the request was not delivered"
        }
    }
}

public typealias PollingCallCompletion = @Sendable (Result<PollingCallResult, PollingCallError>) -> Void

/// Identifies one agent connection in the queue and the registry.
public struct PollingConnectionID: Hashable, Sendable, CustomStringConvertible {
    public let value: UInt64
    public init(_ value: UInt64) { self.value = value }
    public var description: String { "#\(value)" }
}

/// A call handed to a connection: what to send. The queue keeps the
/// caller's completion; the connection answers through `complete`/`fail`.
public struct CollectedCall: Sendable {
    public var call: PollingCall
    public var subscription: String

    public init(call: PollingCall, subscription: String) {
        self.call = call
        self.subscription = subscription
    }
}

/// Per-subscription FIFO queues of calls and the connections that wait for
/// them (halibut.md §7). Lock-protected so that API callers and agent
/// connections on any event loop can use it.
///
/// Invariants (each checked by the tests):
/// - every call's completion runs exactly once (response, timeout, failure
///   or shutdown), always outside the lock;
/// - a connection has at most one call in flight;
/// - a collected call is never put back in the queue.
public final class PendingRequestQueue: Sendable {
    public typealias Waiter = @Sendable (CollectedCall) -> Void

    private struct Entry {
        var ticket: UInt64
        var subscription: String
        var call: PollingCall
        var completion: PollingCallCompletion
        var collectionTimer: Scheduled<Void>?
    }

    private struct InFlight {
        var entry: Entry
    }

    private struct State {
        var nextTicket: UInt64 = 1
        var queued: [String: [Entry]] = [:]
        /// Connections waiting for work, in arrival order per subscription.
        var waiters: [String: [(connection: PollingConnectionID, waiter: Waiter)]] = [:]
        var inFlight: [PollingConnectionID: InFlight] = [:]
        var shutDown = false
    }

    private let state = NIOLockedValueBox(State())

    public init() {}

    /// Queues a call for `subscription`. The completion runs exactly once.
    /// If nothing collects it within `collectionTimeout`, it completes with
    /// `.collectionTimeout`.
    public func enqueue(_ call: PollingCall, subscription: String, collectionTimeout: TimeAmount, on eventLoop: EventLoop,
                        completion: @escaping PollingCallCompletion) {
        enum Outcome { case handed(Waiter, CollectedCall), queued(UInt64), refused }
        let outcome: Outcome = state.withLockedValue { state in
            if state.shutDown { return .refused }
            let ticket = state.nextTicket
            state.nextTicket += 1
            let entry = Entry(ticket: ticket, subscription: subscription, call: call, completion: completion, collectionTimer: nil)
            if var waiting = state.waiters[subscription], !waiting.isEmpty {
                let first = waiting.removeFirst()
                state.waiters[subscription] = waiting.isEmpty ? nil : waiting
                state.inFlight[first.connection] = InFlight(entry: entry)
                return .handed(first.waiter, CollectedCall(call: call, subscription: subscription))
            }
            state.queued[subscription, default: []].append(entry)
            return .queued(ticket)
        }
        switch outcome {
        case .refused:
            completion(.failure(.shuttingDown))
        case .handed(let waiter, let collected):
            waiter(collected)
        case .queued(let ticket):
            let timer = eventLoop.scheduleTask(in: collectionTimeout) { [self] in
                self.expire(ticket: ticket, subscription: subscription, after: collectionTimeout)
            }
            // The timer may already have fired (tiny timeouts); then the
            // entry is gone and the handle is simply dropped.
            state.withLockedValue { state in
                if let index = state.queued[subscription]?.firstIndex(where: { $0.ticket == ticket }) {
                    state.queued[subscription]![index].collectionTimer = timer
                }
            }
        }
    }

    /// A connection asks for work. When a call is queued it is handed over
    /// at once (returned); otherwise, unless `waitIfEmpty` is false, the
    /// connection waits and `waiter` receives the next call enqueued.
    /// Precondition: the connection has no call in flight and is not waiting.
    public func collect(subscription: String, connection: PollingConnectionID, waitIfEmpty: Bool,
                        waiter: @escaping Waiter) -> CollectedCall? {
        let taken: Entry? = state.withLockedValue { state in
            precondition(state.inFlight[connection] == nil, "connection \(connection) already has a call in flight")
            if var queue = state.queued[subscription], !queue.isEmpty {
                let entry = queue.removeFirst()
                state.queued[subscription] = queue.isEmpty ? nil : queue
                state.inFlight[connection] = InFlight(entry: entry)
                return entry
            }
            if waitIfEmpty && !state.shutDown {
                state.waiters[subscription, default: []].append((connection, waiter))
            }
            return nil
        }
        guard let taken else { return nil }
        taken.collectionTimer?.cancel()
        return CollectedCall(call: taken.call, subscription: subscription)
    }

    /// Stops waiting (the keep-alive interval passed). Returns false when a
    /// call was already handed to the waiter: the connection must then send
    /// that call instead of a keep-alive.
    public func stopWaiting(connection: PollingConnectionID, subscription: String) -> Bool {
        state.withLockedValue { state in
            guard var waiting = state.waiters[subscription],
                  let index = waiting.firstIndex(where: { $0.connection == connection }) else { return false }
            waiting.remove(at: index)
            state.waiters[subscription] = waiting.isEmpty ? nil : waiting
            return true
        }
    }

    /// The connection's in-flight call got a response. Returns false when
    /// the id does not match the call in flight (or none is): the response
    /// is then dropped (halibut.md §7) and the caller still waits.
    public func complete(connection: PollingConnectionID, with result: PollingCallResult) -> Bool {
        let entry: Entry? = state.withLockedValue { state in
            guard let inFlight = state.inFlight[connection], inFlight.entry.call.request.id == result.response.id else { return nil }
            state.inFlight[connection] = nil
            return inFlight.entry
        }
        guard let entry else { return false }
        entry.completion(.success(result))
        return true
    }

    /// The connection's in-flight call failed (I/O, protocol error, response
    /// timeout). Idempotent: returns false when nothing was in flight.
    @discardableResult
    public func fail(connection: PollingConnectionID, with error: PollingCallError) -> Bool {
        let entry: Entry? = state.withLockedValue { state in
            state.inFlight.removeValue(forKey: connection)?.entry
        }
        guard let entry else { return false }
        entry.completion(.failure(error))
        return true
    }

    /// The connection is gone: it stops waiting and its in-flight call (if
    /// any) fails. Safe to call more than once.
    public func connectionClosed(_ connection: PollingConnectionID, subscription: String?, reason: String) {
        if let subscription { _ = stopWaiting(connection: connection, subscription: subscription) }
        fail(connection: connection, with: .agentFailed(subscription: subscription ?? "?", reason: reason))
    }

    /// The id of the call the connection has in flight.
    public func inFlightID(connection: PollingConnectionID) -> String? {
        state.withLockedValue { $0.inFlight[connection]?.entry.call.request.id }
    }

    /// Calls queued (not collected) for a subscription.
    public func queuedCount(subscription: String) -> Int {
        state.withLockedValue { $0.queued[subscription]?.count ?? 0 }
    }

    /// Fails every queued and in-flight call; later enqueues fail at once.
    public func shutDown() {
        let entries: [Entry] = state.withLockedValue { state in
            state.shutDown = true
            let all = state.queued.values.flatMap { $0 } + state.inFlight.values.map(\.entry)
            state.queued = [:]
            state.inFlight = [:]
            state.waiters = [:]
            return all
        }
        for entry in entries {
            entry.collectionTimer?.cancel()
            entry.completion(.failure(.shuttingDown))
        }
    }

    private func expire(ticket: UInt64, subscription: String, after timeout: TimeAmount) {
        let entry: Entry? = state.withLockedValue { state in
            guard var queue = state.queued[subscription], let index = queue.firstIndex(where: { $0.ticket == ticket }) else { return nil }
            let entry = queue.remove(at: index)
            state.queued[subscription] = queue.isEmpty ? nil : queue
            return entry
        }
        entry?.completion(.failure(.collectionTimeout(subscription: subscription, seconds: timeout.nanoseconds / 1_000_000_000)))
    }
}
