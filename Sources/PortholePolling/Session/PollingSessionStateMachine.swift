import NIOCore
import PortholeWire

/// How an agent reached us.
public enum PollingTransport: String, Sendable, Hashable {
    /// TLS straight to the byte protocol (stage 2 saw `MX`, or a dedicated
    /// polling listener).
    case raw
    /// HTTP/1.1 upgrade on the comms path (halibut.md §8).
    case webSocket = "websocket"
}

/// Timing of one agent connection (halibut.md §10).
public struct PollingSessionTimings: Sendable, Hashable {
    public var keepaliveInterval: TimeAmount
    public var nextTimeout: TimeAmount
    public var responseTimeout: TimeAmount

    public init(keepaliveInterval: TimeAmount = .seconds(30), nextTimeout: TimeAmount = .seconds(60),
                responseTimeout: TimeAmount = .minutes(10)) {
        self.keepaliveInterval = keepaliveInterval
        self.nextTimeout = nextTimeout
        self.responseTimeout = responseTimeout
    }
}

/// The timers a session runs; at most one is armed at a time.
public enum PollingSessionTimer: Sendable, Hashable {
    /// Waiting for work: send a null message when it fires (§7).
    case keepalive
    /// Waiting for `NEXT`/`END` (§7).
    case next
    /// Waiting for the response to the request in flight (§7).
    case response
}

/// What the connection's I/O layer must do, in order.
public enum PollingSessionAction: Sendable {
    /// Write these bytes as one unit and flush (one TLS record or one
    /// WebSocket frame, halibut.md §4 "Write boundaries matter").
    case write([UInt8])
    /// Write this (the friendly page) and close.
    case writeAndClose([UInt8])
    /// Close (after the agent ended, a protocol error or a timeout).
    case close(reason: String)
    /// Close with no reply: the agent was refused (§1). Log it with
    /// thumbprint and address, and count it by kind.
    case reject(PollingRejection)
    /// The agent identified itself and was admitted: register it.
    case subscribed(subscription: String)
    /// Ask the queue for work. `immediate`: take a queued call if there is
    /// one, otherwise report `noWorkAvailable()` at once (after an RPC, §7);
    /// otherwise wait until work arrives or the keep-alive timer fires.
    case collectWork(immediate: Bool)
    case armTimer(PollingSessionTimer, TimeAmount)
    case disarmTimer
    /// The call in flight got its response.
    case completeCall(PollingCallResult)
    /// The call in flight failed (it is not re-queued).
    case failCall(PollingCallError)
    /// A response whose id is not the one in flight: dropped (§7).
    case droppedResponse(id: String, expected: String)
}

/// Why an agent was refused.
public struct PollingRejection: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable {
        case noCertificate = "no_certificate"
        case untrusted
        case bindingMismatch = "binding_mismatch"
        case connectionLimit = "limit"
        case notSubscriber = "not_subscriber"
    }

    public var kind: Kind
    public var reason: String

    public init(_ kind: Kind, _ reason: String) {
        self.kind = kind
        self.reason = reason
    }

    public var description: String { reason }
}

/// Decides whether an agent may subscribe. Both are called once per
/// connection, on its event loop.
public struct PollingGatekeeper: Sendable {
    /// Missing (nil) or untrusted thumbprint → false.
    public var isTrusted: @Sendable (_ thumbprint: String?) -> Bool
    /// nil when admitted (and then counted against the per-subscription
    /// limit), otherwise why not.
    public var admit: @Sendable (_ subscription: String, _ thumbprint: String) -> PollingRejection?

    public init(isTrusted: @escaping @Sendable (String?) -> Bool, admit: @escaping @Sendable (String, String) -> PollingRejection?) {
        self.isTrusted = isTrusted
        self.admit = admit
    }
}

enum PollingSessionError: Error, CustomStringConvertible {
    case streamLengthMismatch(id: HalibutGuid, declared: Int64, actual: Int)
    var description: String {
        switch self {
        case let .streamLengthMismatch(id, declared, actual):
            return "DataStream \(id) declares \(declared) bytes but \(actual) were given"
        }
    }
}

/// One agent connection's protocol state, without I/O (halibut.md §2–§8).
/// Feed it decrypted bytes and events; it answers with actions. All the
/// buffering happens here, so units coalesced into one record or split
/// over many decode the same (§4 "When reading, be an ordinary buffered
/// parser").
public final class PollingSessionStateMachine {
    public enum State: Sendable, Equatable {
        case awaitingPreamble
        case awaitingIdentity
        /// The queue has been asked for work.
        case waitingForWork(afterRPC: Bool)
        case awaitingResponse(requestID: String)
        case readingResponseStreams(requestID: String)
        case awaitingNext(afterRPC: Bool)
        case closed
    }

    public private(set) var state: State
    public private(set) var subscription: String?
    public let thumbprint: String?
    private let transport: PollingTransport
    private let timings: PollingSessionTimings
    private let gatekeeper: PollingGatekeeper
    private let friendlyPage: FriendlyPage
    private let decoder: HalibutUnitDecoder
    private let compressor = HalibutMessageCompressor()
    private var pending: [UInt8] = []
    private let maxPendingBytes: Int
    private var response: HalibutResponseMessage?
    private var responseStreams: [HalibutGuid: [UInt8]] = [:]

    public init(transport: PollingTransport, thumbprint: String?, timings: PollingSessionTimings, gatekeeper: PollingGatekeeper,
                friendlyPage: FriendlyPage = .halibutDefault, limits: HalibutDecoderLimits = HalibutDecoderLimits()) {
        self.transport = transport
        self.thumbprint = thumbprint
        self.timings = timings
        self.gatekeeper = gatekeeper
        self.friendlyPage = friendlyPage
        self.decoder = HalibutUnitDecoder(limits: limits)
        self.maxPendingBytes = max(limits.maxLineBytes, 64 * 1024)
        self.state = transport == .raw ? .awaitingPreamble : .awaitingIdentity
    }

    /// Call once when the connection is ready. The WebSocket transport has
    /// already seen its `MX` text message, so the certificate is checked now.
    public func start() -> [PollingSessionAction] {
        switch transport {
        case .raw:
            return expect(.preamble)
        case .webSocket:
            if let rejection = checkCertificate() { return rejection }
            return expect(.identity)
        }
    }

    // MARK: Input

    /// Decrypted bytes from the agent.
    public func receive(_ bytes: [UInt8]) -> [PollingSessionAction] {
        guard state != .closed else { return [] }
        pending.append(contentsOf: bytes)
        var actions: [PollingSessionAction] = []
        while state != .closed && !pending.isEmpty && decoder.isExpectingUnit {
            let step: HalibutDecodeStep
            do {
                step = try pending.withUnsafeBytes { raw throws(HalibutUnitDecoderError) in try decoder.decode(raw) }
            } catch {
                actions += fail(reason: "protocol error: \(error)")
                return actions
            }
            pending.removeFirst(step.consumed)
            guard let unit = step.unit else { break }
            actions += handle(unit)
        }
        if state != .closed && !decoder.isExpectingUnit && pending.count > maxPendingBytes {
            actions += fail(reason: "the agent sent \(pending.count) bytes out of turn")
        }
        return actions
    }

    /// The agent closed its side (or the transport ended).
    public func endOfInput() -> [PollingSessionAction] {
        guard state != .closed else { return [] }
        var actions: [PollingSessionAction] = []
        do {
            if let unit = try decoder.decodeAtEndOfInput() {
                actions += handle(unit)
                if state == .closed { return actions }
            }
        } catch {
            return actions + fail(reason: "connection closed: \(error)")
        }
        switch state {
        case .awaitingNext: return actions + close("the agent closed the connection (EOF means END, §7)")
        default: return actions + fail(reason: "the agent closed the connection")
        }
    }

    /// The queue handed this connection a call.
    public func send(_ collected: CollectedCall) -> [PollingSessionAction] {
        guard case .waitingForWork = state else {
            // Cannot happen with a correct I/O layer; the call must not be lost.
            return [.failCall(.agentFailed(subscription: collected.subscription, reason: "the connection was not ready for a request"))]
        }
        let request = collected.call.request
        var actions: [PollingSessionAction] = [.disarmTimer]
        do {
            actions.append(.write(try HalibutMessage.request(request).deflatedUnit(compressor: compressor)))
            for descriptor in try request.dataStreams() {
                let body = collected.call.outgoingStreams[descriptor.id] ?? []
                guard body.count == descriptor.length else {
                    throw PollingSessionError.streamLengthMismatch(id: descriptor.id, declared: descriptor.length, actual: body.count)
                }
                // id, length, body, trailer: separate writes, as real
                // Halibut does (§4 write boundaries).
                for part in HalibutDataStreamFrame.parts(id: descriptor.id, body: body) where !part.isEmpty {
                    actions.append(.write(part))
                }
            }
        } catch {
            state = .closed
            return [.failCall(.agentFailed(subscription: collected.subscription, reason: "cannot encode the request: \(error)")),
                    .close(reason: "cannot encode a request: \(error)")]
        }
        state = .awaitingResponse(requestID: request.id)
        response = nil
        responseStreams = [:]
        actions += expect(.message)
        actions.append(.armTimer(.response, timings.responseTimeout))
        // An agent may already have sent bytes (buffered out of turn).
        return actions + receive([])
    }

    /// No work was queued (after `collectWork(immediate: true)`), or the
    /// keep-alive interval passed while waiting: send a null message.
    public func sendKeepalive() -> [PollingSessionAction] {
        guard case .waitingForWork = state else { return [] }
        state = .awaitingNext(afterRPC: false)
        return [.disarmTimer, .write(HalibutMessage.nullMessageDeflated)] + expect(.controlLine) + [.armTimer(.next, timings.nextTimeout)]
            + receive([])
    }

    public func timerFired(_ timer: PollingSessionTimer) -> [PollingSessionAction] {
        switch (timer, state) {
        case (.keepalive, .waitingForWork):
            return sendKeepalive()
        case (.next, .awaitingNext):
            return close("no NEXT from the agent within \(timings.nextTimeout.nanoseconds / 1_000_000_000) s")
        case (.response, .awaitingResponse), (.response, .readingResponseStreams):
            let seconds = timings.responseTimeout.nanoseconds / 1_000_000_000
            state = .closed
            return [.failCall(.responseTimeout(subscription: subscription ?? "?", seconds: seconds)),
                    .close(reason: "no response from the agent within \(seconds) s")]
        default:
            return []
        }
    }

    /// Graceful shutdown: an idle connection may go at once; one with a
    /// call in flight finishes it first.
    public var isIdle: Bool {
        switch state {
        case .waitingForWork, .awaitingNext, .awaitingPreamble, .awaitingIdentity, .closed: return true
        case .awaitingResponse, .readingResponseStreams: return false
        }
    }

    // MARK: Units

    private func handle(_ unit: HalibutUnit) -> [PollingSessionAction] {
        switch (state, unit) {
        case (.awaitingPreamble, .preamble(let preamble)):
            guard preamble.isHalibut else {
                // A browser or probe (§3).
                state = .closed
                return [.writeAndClose(friendlyPage.response())]
            }
            if let rejection = checkCertificate() { return rejection }
            state = .awaitingIdentity
            return expect(.identity)
        case (.awaitingIdentity, .identity(let identity)):
            return identify(identity)
        case (.awaitingResponse(let requestID), .message(let bson)):
            return handleResponse(bson: bson, requestID: requestID)
        case (.readingResponseStreams(let requestID), .dataStream(let event)):
            switch event {
            case .started(let id, _):
                responseStreams[id] = []
                return []
            case .body(let id, let bytes):
                responseStreams[id, default: []].append(contentsOf: bytes)
                return []
            case .finished(_, let remaining):
                return remaining == 0 ? finishResponse(requestID: requestID) : []
            }
        case (.awaitingNext(let afterRPC), .control(let line)):
            switch line {
            case .next:
                state = .waitingForWork(afterRPC: afterRPC)
                return [.disarmTimer, .write(HalibutControlLine.proceed.encoded), .collectWork(immediate: afterRPC)]
            case .end:
                return close("the agent sent END")
            case .proceed:
                return fail(reason: "protocol error: the agent sent PROCEED")
            }
        default:
            return fail(reason: "protocol error: unexpected \(Self.describe(unit)) while \(state)")
        }
    }

    private func checkCertificate() -> [PollingSessionAction]? {
        guard gatekeeper.isTrusted(thumbprint) else {
            state = .closed
            // §1: close with no reply.
            return [.reject(thumbprint.map { PollingRejection(.untrusted, "untrusted client certificate \($0)") }
                    ?? PollingRejection(.noCertificate, "no client certificate"))]
        }
        return nil
    }

    private func identify(_ identity: HalibutIdentity) -> [PollingSessionAction] {
        guard identity.role == .subscriber, let uri = identity.subscriptionURI else {
            state = .closed
            return [.reject(PollingRejection(.notSubscriber, "\(identity.role.rawValue) is not a polling subscriber (§2.3)"))]
        }
        if let rejection = gatekeeper.admit(uri, thumbprint ?? "") {
            state = .closed
            return [.reject(rejection)]
        }
        subscription = uri
        state = .waitingForWork(afterRPC: false)
        return [.subscribed(subscription: uri), .write(HalibutIdentity.serverIdentityBytes), .collectWork(immediate: false)]
    }

    private func handleResponse(bson: [UInt8], requestID: String) -> [PollingSessionAction] {
        let message: HalibutMessage
        do { message = try HalibutMessage(bson: bson) } catch {
            return fail(reason: "unreadable response: \(error)")
        }
        guard case .response(let received) = message else {
            return fail(reason: "protocol error: expected a response to \(requestID), got \(message == .null ? "a null message" : "a request")")
        }
        let streams: [HalibutDataStreamDescriptor]
        do { streams = try received.dataStreams() } catch {
            return fail(reason: "bad DataStream in the response: \(error)")
        }
        response = received
        guard !streams.isEmpty else { return finishResponse(requestID: requestID) }
        state = .readingResponseStreams(requestID: requestID)
        return expect(.dataStreams(streams))
    }

    private func finishResponse(requestID: String) -> [PollingSessionAction] {
        guard let received = response else { return fail(reason: "internal: response missing") }
        response = nil
        var actions: [PollingSessionAction] = [.disarmTimer]
        if received.id == requestID {
            actions.append(.completeCall(PollingCallResult(response: received, streams: responseStreams)))
        } else {
            // §7: drop unknown ids. The call in flight can no longer be
            // answered on this connection, so it fails now (not re-queued).
            actions.append(.droppedResponse(id: received.id, expected: requestID))
            actions.append(.failCall(.agentFailed(subscription: subscription ?? "?",
                                                  reason: "it answered with id \(String(reflecting: received.id)) instead of \(String(reflecting: requestID))")))
        }
        responseStreams = [:]
        state = .awaitingNext(afterRPC: true)
        return actions + expect(.controlLine) + [.armTimer(.next, timings.nextTimeout)]
    }

    // MARK: Helpers

    private func expect(_ unit: HalibutExpectedUnit) -> [PollingSessionAction] {
        do { try decoder.expect(unit) } catch { return fail(reason: "protocol error: \(error)") }
        return []
    }

    private func close(_ reason: String) -> [PollingSessionAction] {
        state = .closed
        return [.disarmTimer, .close(reason: reason)]
    }

    /// Closes; a call in flight fails (§7: any failure while a request is in
    /// flight completes the caller with an error, no re-queue).
    private func fail(reason: String) -> [PollingSessionAction] {
        var actions: [PollingSessionAction] = [.disarmTimer]
        switch state {
        case .awaitingResponse, .readingResponseStreams:
            actions.append(.failCall(.agentFailed(subscription: subscription ?? "?", reason: reason)))
        default:
            break
        }
        state = .closed
        actions.append(.close(reason: reason))
        return actions
    }

    private static func describe(_ unit: HalibutUnit) -> String {
        switch unit {
        case .preamble: return "preamble"
        case .identity(let identity): return "identity \(identity.role.rawValue)"
        case .control(let line): return "control line \(line.rawValue)"
        case .message: return "message"
        case .dataStream: return "data stream frame"
        }
    }
}
