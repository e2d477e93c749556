import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import PortholePolling
import PortholeWire
import Testing

/// Collects every completion so tests can check "exactly once".
final class CompletionLog: Sendable {
    private let results = NIOLockedValueBox<[String: [Result<PollingCallResult, PollingCallError>]]>([:])

    func completion(for id: String) -> PollingCallCompletion {
        { result in self.results.withLockedValue { $0[id, default: []].append(result) } }
    }

    func results(_ id: String) -> [Result<PollingCallResult, PollingCallError>] { results.withLockedValue { $0[id] ?? [] } }
    var all: [String: [Result<PollingCallResult, PollingCallError>]] { results.withLockedValue { $0 } }

    /// Sleeps without holding a cooperative thread.
    func waitFor(count: Int, timeout: TimeInterval = 10) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while results.withLockedValue({ $0.values.reduce(0) { $0 + $1.count } }) < count && Date() < deadline {
            try await Task.sleep(for: .milliseconds(2))
        }
    }
}

func makeCall(_ id: String) -> PollingCall {
    PollingCall(request: HalibutRequestMessage(id: id, activityID: .zero,
                                               endpoint: HalibutServiceEndPoint(baseURI: "poll://a/", remoteThumbprint: nil),
                                               service: "IEchoService", method: "SayHello", params: [.string(id)]))
}

func response(_ id: String, _ text: String = "ok") -> PollingCallResult {
    PollingCallResult(response: HalibutResponseMessage(id: id, result: .string(text)))
}

let sub = "poll://a/"

@Suite("PendingRequestQueue")
struct PendingRequestQueueTests {
    let group = MultiThreadedEventLoopGroup.singleton

    @Test func queuedCallsAreCollectedInFIFOOrder() {
        let queue = PendingRequestQueue()
        let log = CompletionLog()
        for id in ["1", "2", "3"] {
            queue.enqueue(makeCall(id), subscription: sub, collectionTimeout: .minutes(1), on: group.next(), completion: log.completion(for: id))
        }
        var order: [String] = []
        for n in 0..<3 {
            let connection = PollingConnectionID(UInt64(n))
            let collected = queue.collect(subscription: sub, connection: connection, waitIfEmpty: false) { _ in }
            order.append(collected!.call.request.id)
            #expect(queue.complete(connection: connection, with: response(collected!.call.request.id)))
        }
        #expect(order == ["1", "2", "3"])
        #expect(queue.queuedCount(subscription: sub) == 0)
    }

    @Test func subscriptionsHaveSeparateQueues() {
        let queue = PendingRequestQueue()
        let log = CompletionLog()
        queue.enqueue(makeCall("x"), subscription: "poll://other/", collectionTimeout: .minutes(1), on: group.next(), completion: log.completion(for: "x"))
        #expect(queue.collect(subscription: sub, connection: PollingConnectionID(1), waitIfEmpty: false) { _ in } == nil)
        #expect(queue.collect(subscription: "poll://other/", connection: PollingConnectionID(1), waitIfEmpty: false) { _ in }?.call.request.id == "x")
        queue.shutDown()
    }

    @Test func aWaitingConnectionReceivesTheNextCall() {
        let queue = PendingRequestQueue()
        let log = CompletionLog()
        let handed = NIOLockedValueBox<[String]>([])
        let connection = PollingConnectionID(7)
        #expect(queue.collect(subscription: sub, connection: connection, waitIfEmpty: true) { collected in
            handed.withLockedValue { $0.append(collected.call.request.id) }
        } == nil)
        queue.enqueue(makeCall("w"), subscription: sub, collectionTimeout: .minutes(1), on: group.next(), completion: log.completion(for: "w"))
        #expect(handed.withLockedValue { $0 } == ["w"])
        #expect(queue.inFlightID(connection: connection) == "w")
        // The keep-alive timer fires after the hand-over: the connection must send the call.
        #expect(queue.stopWaiting(connection: connection, subscription: sub) == false)
        #expect(queue.complete(connection: connection, with: response("w")))
        #expect(log.results("w").count == 1)
    }

    @Test func stopWaitingRemovesTheWaiterSoCallsQueue() {
        let queue = PendingRequestQueue()
        let log = CompletionLog()
        let connection = PollingConnectionID(1)
        _ = queue.collect(subscription: sub, connection: connection, waitIfEmpty: true) { _ in Issue.record("must not be handed a call") }
        #expect(queue.stopWaiting(connection: connection, subscription: sub))
        queue.enqueue(makeCall("q"), subscription: sub, collectionTimeout: .minutes(1), on: group.next(), completion: log.completion(for: "q"))
        #expect(queue.queuedCount(subscription: sub) == 1)
        queue.shutDown()
        #expect(log.results("q").count == 1)
    }

    @Test func uncollectedCallTimesOutWithAClearErrorExactlyOnce() async throws {
        let queue = PendingRequestQueue()
        let log = CompletionLog()
        queue.enqueue(makeCall("t"), subscription: sub, collectionTimeout: .milliseconds(30), on: group.next(), completion: log.completion(for: "t"))
        try await log.waitFor(count: 1)
        try await Task.sleep(for: .milliseconds(50))
        let results = log.results("t")
        #expect(results.count == 1)
        guard case .failure(.collectionTimeout(let subscription, _))? = results.first else {
            Issue.record("expected a collection timeout, got \(results)")
            return
        }
        #expect(subscription == sub)
        #expect(queue.queuedCount(subscription: sub) == 0)
        #expect(String(describing: PollingCallError.collectionTimeout(subscription: sub, seconds: 120)).contains("collected"))
    }

    @Test func collectedCallDoesNotTimeOutAndIsNotRequeuedOnFailure() async throws {
        let queue = PendingRequestQueue()
        let log = CompletionLog()
        queue.enqueue(makeCall("f"), subscription: sub, collectionTimeout: .milliseconds(40), on: group.next(), completion: log.completion(for: "f"))
        let connection = PollingConnectionID(3)
        #expect(queue.collect(subscription: sub, connection: connection, waitIfEmpty: false) { _ in } != nil)
        try await Task.sleep(for: .milliseconds(100))  // past the collection timeout: must not fire
        #expect(log.results("f").isEmpty)
        #expect(queue.fail(connection: connection, with: .agentFailed(subscription: sub, reason: "killed")))
        #expect(queue.fail(connection: connection, with: .agentFailed(subscription: sub, reason: "again")) == false)
        #expect(queue.collect(subscription: sub, connection: PollingConnectionID(4), waitIfEmpty: false) { _ in } == nil)
        let results = log.results("f")
        #expect(results.count == 1)
        if case .failure(.agentFailed(_, let reason))? = results.first { #expect(reason == "killed") } else { Issue.record("\(results)") }
    }

    @Test func responseWithUnknownIDIsRejectedAndTheCallKeepsWaiting() {
        let queue = PendingRequestQueue()
        let log = CompletionLog()
        queue.enqueue(makeCall("r"), subscription: sub, collectionTimeout: .minutes(1), on: group.next(), completion: log.completion(for: "r"))
        let connection = PollingConnectionID(5)
        _ = queue.collect(subscription: sub, connection: connection, waitIfEmpty: false) { _ in }
        #expect(queue.complete(connection: connection, with: response("other")) == false)
        #expect(log.results("r").isEmpty)
        #expect(queue.complete(connection: connection, with: response("r", "yes")))
        if case .success(let result)? = log.results("r").first { #expect(result.response.result == .string("yes")) } else { Issue.record("no result") }
    }

    @Test func closingAConnectionFailsItsCallInFlight() {
        let queue = PendingRequestQueue()
        let log = CompletionLog()
        queue.enqueue(makeCall("c"), subscription: sub, collectionTimeout: .minutes(1), on: group.next(), completion: log.completion(for: "c"))
        let connection = PollingConnectionID(9)
        _ = queue.collect(subscription: sub, connection: connection, waitIfEmpty: false) { _ in }
        queue.connectionClosed(connection, subscription: sub, reason: "EOF")
        queue.connectionClosed(connection, subscription: sub, reason: "EOF again")
        #expect(log.results("c").count == 1)
        #expect(queue.complete(connection: connection, with: response("c")) == false)
    }

    @Test func shutDownFailsQueuedAndInFlightCallsAndRefusesNewOnes() {
        let queue = PendingRequestQueue()
        let log = CompletionLog()
        queue.enqueue(makeCall("a"), subscription: sub, collectionTimeout: .minutes(1), on: group.next(), completion: log.completion(for: "a"))
        queue.enqueue(makeCall("b"), subscription: sub, collectionTimeout: .minutes(1), on: group.next(), completion: log.completion(for: "b"))
        _ = queue.collect(subscription: sub, connection: PollingConnectionID(1), waitIfEmpty: false) { _ in }
        queue.shutDown()
        queue.enqueue(makeCall("c"), subscription: sub, collectionTimeout: .minutes(1), on: group.next(), completion: log.completion(for: "c"))
        for id in ["a", "b", "c"] {
            let results = log.results(id)
            #expect(results.count == 1)
            if case .failure(.shuttingDown)? = results.first {} else { Issue.record("\(id): \(results)") }
        }
    }

    /// Many callers and many connections at once, some failing, some calls
    /// timing out: every call ends exactly once, with its own answer.
    @Test func concurrentCallersAndConnectionsCompleteEveryCallExactlyOnce() async throws {
        let queue = PendingRequestQueue()
        let log = CompletionLog()
        let calls = 2_000
        let connections = 8
        let stop = NIOLockedValueBox(false)
        let running = NIOLockedValueBox(connections)
        // Plain threads (not the cooperative pool or GCD, which other tests need).
        for n in 0..<connections {
            Thread {
                defer { running.withLockedValue { $0 -= 1 } }
                let connection = PollingConnectionID(UInt64(100 + n))
                var handled = 0
                while !stop.withLockedValue({ $0 }) {
                    let handed = NIOLockedValueBox<CollectedCall?>(nil)
                    var collected = queue.collect(subscription: sub, connection: connection, waitIfEmpty: true) { call in
                        handed.withLockedValue { $0 = call }
                    }
                    if collected == nil {
                        usleep(200)
                        if queue.stopWaiting(connection: connection, subscription: sub) { continue }
                        while collected == nil { usleep(50); collected = handed.withLockedValue { $0 } }
                    }
                    let id = collected!.call.request.id
                    handled += 1
                    if handled % 17 == 0 {
                        queue.connectionClosed(connection, subscription: sub, reason: "simulated failure")
                    } else {
                        #expect(queue.complete(connection: connection, with: response(id, "echo " + id)))
                    }
                }
            }.start()
        }
        let callers = 4
        let group = self.group
        await withTaskGroup(of: Void.self) { tasks in
            for caller in 0..<callers {
                tasks.addTask {
                    for index in stride(from: caller, to: calls, by: callers) {
                        let id = "call-\(index)"
                        // A few calls with a tiny collection timeout race the collectors.
                        let timeout: TimeAmount = index % 50 == 0 ? .microseconds(1) : .seconds(30)
                        queue.enqueue(makeCall(id), subscription: sub, collectionTimeout: timeout, on: group.next(),
                                      completion: log.completion(for: id))
                    }
                }
            }
        }
        try await log.waitFor(count: calls, timeout: 30)
        stop.withLockedValue { $0 = true }
        while running.withLockedValue({ $0 }) > 0 { try await Task.sleep(for: .milliseconds(5)) }
        let all = log.all
        #expect(all.count == calls)
        var failures = 0
        for (id, results) in all {
            #expect(results.count == 1, "\(id) completed \(results.count) times")
            switch results.first {
            case .success(let result)?: #expect(result.response.result == .string("echo " + id))
            case .failure?: failures += 1
            case nil: break
            }
        }
        #expect(failures < calls / 4)
    }
}
