// One incremental decoder for everything a Halibut peer sends (spec §2–§7).
//
// The stream has no self-describing framing: a control line starting with
// `E` is also a valid start of a deflate stream, so the reader cannot guess
// what comes next. The connection's state machine knows (after a request it
// expects a response, then data streams, then NEXT/END) and says so with
// `expect(_:)`; this decoder then consumes exactly that unit's bytes and
// leaves the rest. Reads are fully buffered on our side, so units that a
// newer agent coalesces into one TLS record decode the same as separate ones
// (§4 "When reading, be an ordinary buffered parser").

/// The unit the connection expects next.
public enum HalibutExpectedUnit: Hashable, Sendable {
    /// `MX` + empty line, or a browser's request (§2.2).
    case preamble
    /// `MX-SUBSCRIBER 1.0 poll://…/` + empty line (§2.3), or MX-SERVER.
    case identity
    /// `NEXT`, `PROCEED` or `END` (§7).
    case controlLine
    /// One deflated BSON message (§4).
    case message
    /// The frames of the streams the last message announced (§6).
    case dataStreams([HalibutDataStreamDescriptor])
}

/// A decoded unit (or, for data streams, one step of one).
public enum HalibutUnit: Hashable, Sendable {
    case preamble(HalibutPreamble)
    case identity(HalibutIdentity)
    case control(HalibutControlLine)
    /// The inflated BSON; decode it with `HalibutMessage(bson:)`.
    case message(bson: [UInt8])
    case dataStream(HalibutDataStreamEvent)
}

/// Bounds for everything a peer can make us buffer.
public struct HalibutDecoderLimits: Hashable, Sendable {
    public var maxPreambleCharacters: Int
    public var maxLineBytes: Int
    public var maxMessageBytes: Int
    public var maxDataStreamBytes: Int64

    public init(
        maxPreambleCharacters: Int = HalibutPreambleReader.defaultMaxCharacters,
        maxLineBytes: Int = 20_000,
        maxMessageBytes: Int = HalibutMessageInflater.defaultMaxMessageBytes,
        maxDataStreamBytes: Int64 = HalibutDataStreamReader.defaultMaxStreamBytes
    ) {
        self.maxPreambleCharacters = maxPreambleCharacters
        self.maxLineBytes = maxLineBytes
        self.maxMessageBytes = maxMessageBytes
        self.maxDataStreamBytes = maxDataStreamBytes
    }
}

/// Why the decoder stopped. After any error the decoder stays failed: the
/// stream position is unknown, so the connection must be closed (§7).
public enum HalibutUnitDecoderError: Error, Hashable, Sendable, CustomStringConvertible {
    case line(HalibutLineError)
    case message(HalibutInflateError)
    case dataStream(HalibutDataStreamError)
    /// `expect(_:)` was called while a unit was half read.
    case expectationChangedMidUnit
    /// The input ended inside a unit.
    case truncated(expecting: String)
    /// A previous error left the stream position unknown.
    case failedEarlier

    public var description: String {
        switch self {
        case .line(let error): return error.description
        case .message(let error): return error.description
        case .dataStream(let error): return error.description
        case .expectationChangedMidUnit: return "the expected Halibut unit was changed while one was half read (a bug in the caller)"
        case .truncated(let expecting): return "the connection ended inside a Halibut \(expecting)"
        case .failedEarlier: return "the Halibut decoder already failed; close the connection"
        }
    }
}

/// One step of `decode`: how much input was used and what came of it.
public struct HalibutDecodeStep: Hashable, Sendable {
    public var consumed: Int
    /// nil when more input is needed (then all input was consumed) or when
    /// no unit is expected (then nothing was consumed).
    public var unit: HalibutUnit?

    public init(consumed: Int, unit: HalibutUnit?) {
        self.consumed = consumed
        self.unit = unit
    }
}

/// Decodes Halibut units from bytes fed as they arrive. A final class
/// because it owns the zlib state of its `HalibutMessageInflater`.
public final class HalibutUnitDecoder {
    private enum State {
        case nothingExpected
        case preamble(HalibutPreambleReader)
        case identity(HalibutIdentityReader)
        case controlLine(HalibutControlLineReader)
        case message
        case dataStreams(HalibutDataStreamReader)
        case failed
    }

    public let limits: HalibutDecoderLimits
    private var state: State = .nothingExpected
    private let inflater: HalibutMessageInflater

    public init(limits: HalibutDecoderLimits = HalibutDecoderLimits()) {
        self.limits = limits
        self.inflater = HalibutMessageInflater(maxMessageBytes: limits.maxMessageBytes)
    }

    /// Whether a unit is expected (otherwise `decode` consumes nothing).
    public var isExpectingUnit: Bool {
        switch state {
        case .nothingExpected, .failed: return false
        default: return true
        }
    }

    /// Whether part of a unit has been consumed but not its end.
    public var isInsideUnit: Bool {
        switch state {
        case .nothingExpected, .failed: return false
        case .preamble(let reader): return reader.hasStarted
        case .identity(let reader): return reader.hasStarted
        case .controlLine(let reader): return reader.hasStarted
        case .message: return inflater.isInsideMessage
        case .dataStreams(let reader): return reader.isInsideFrame
        }
    }

    /// Says what comes next. An empty `.dataStreams` list expects nothing.
    public func expect(_ unit: HalibutExpectedUnit) throws(HalibutUnitDecoderError) {
        if case .failed = state { throw .failedEarlier }
        guard !isInsideUnit else { throw fail(.expectationChangedMidUnit) }
        switch unit {
        case .preamble: state = .preamble(HalibutPreambleReader(maxCharacters: limits.maxPreambleCharacters))
        case .identity: state = .identity(HalibutIdentityReader(maxLineBytes: limits.maxLineBytes))
        case .controlLine: state = .controlLine(HalibutControlLineReader(maxLineBytes: limits.maxLineBytes))
        case .message: state = .message
        case .dataStreams(let descriptors):
            let reader = HalibutDataStreamReader(expecting: descriptors, maxStreamBytes: limits.maxDataStreamBytes)
            state = reader.isComplete ? .nothingExpected : .dataStreams(reader)
        }
    }

    public func decode<S: Sequence<UInt8>>(_ input: S) throws(HalibutUnitDecoderError) -> HalibutDecodeStep {
        try withHalibutBytes(input) { (raw) throws(HalibutUnitDecoderError) in try decode(raw) }
    }

    /// Decodes at most one unit (or data-stream event) from `input`. Call
    /// again with the unconsumed rest until it returns no unit.
    public func decode(_ input: UnsafeRawBufferPointer) throws(HalibutUnitDecoderError) -> HalibutDecodeStep {
        switch state {
        case .failed:
            throw .failedEarlier
        case .nothingExpected:
            return HalibutDecodeStep(consumed: 0, unit: nil)
        case .preamble(var reader):
            state = .nothingExpected  // keeps the reader's buffers uniquely referenced (no copy per feed)
            let progress: HalibutTextProgress<HalibutPreamble>
            do { progress = try reader.feed(input) } catch { throw fail(.line(error)) }
            return finishText(progress, wrap: HalibutUnit.preamble, otherwise: .preamble(reader), inputCount: input.count)
        case .identity(var reader):
            state = .nothingExpected  // keeps the reader's buffers uniquely referenced (no copy per feed)
            let progress: HalibutTextProgress<HalibutIdentity>
            do { progress = try reader.feed(input) } catch { throw fail(.line(error)) }
            return finishText(progress, wrap: HalibutUnit.identity, otherwise: .identity(reader), inputCount: input.count)
        case .controlLine(var reader):
            state = .nothingExpected  // keeps the reader's buffers uniquely referenced (no copy per feed)
            let progress: HalibutTextProgress<HalibutControlLine>
            do { progress = try reader.feed(input) } catch { throw fail(.line(error)) }
            return finishText(progress, wrap: HalibutUnit.control, otherwise: .controlLine(reader), inputCount: input.count)
        case .message:
            let progress: HalibutInflateProgress
            do { progress = try inflater.feed(input) } catch { throw fail(.message(error)) }
            switch progress {
            case .needMoreInput:
                return HalibutDecodeStep(consumed: input.count, unit: nil)
            case .complete(let bson, let consumed):
                state = .nothingExpected
                return HalibutDecodeStep(consumed: consumed, unit: .message(bson: bson))
            }
        case .dataStreams(var reader):
            state = .nothingExpected  // keeps the reader's buffers uniquely referenced (no copy per feed)
            let progress: HalibutDataStreamProgress
            do { progress = try reader.feed(input) } catch { throw fail(.dataStream(error)) }
            state = reader.isComplete ? .nothingExpected : .dataStreams(reader)
            switch progress {
            case .needMoreInput:
                return HalibutDecodeStep(consumed: input.count, unit: nil)
            case .event(let event, let consumed):
                return HalibutDecodeStep(consumed: consumed, unit: .dataStream(event))
            }
        }
    }

    /// The peer closed the connection. Returns the unit that EOF completes
    /// (a preamble is judged on what was read, §2.2), nil when EOF fell
    /// between units (for a control line that means END, §7), and throws
    /// when it cut a unit in half.
    public func decodeAtEndOfInput() throws(HalibutUnitDecoderError) -> HalibutUnit? {
        switch state {
        case .failed:
            throw .failedEarlier
        case .preamble(var reader):
            state = .nothingExpected
            return .preamble(reader.finishAtEndOfInput())
        case .nothingExpected:
            return nil
        case .identity(let reader):
            if reader.hasStarted { throw fail(.truncated(expecting: "identity line")) }
        case .controlLine(let reader):
            if reader.hasStarted { throw fail(.truncated(expecting: "control line")) }
        case .message:
            if inflater.isInsideMessage { throw fail(.truncated(expecting: "message")) }
        case .dataStreams(let reader):
            throw fail(.dataStream(.truncated(id: reader.currentStreamID)))
        }
        state = .nothingExpected
        return nil
    }

    private func finishText<Unit>(
        _ progress: HalibutTextProgress<Unit>, wrap: (Unit) -> HalibutUnit, otherwise: State, inputCount: Int
    ) -> HalibutDecodeStep {
        switch progress {
        case .needMoreInput:
            state = otherwise
            return HalibutDecodeStep(consumed: inputCount, unit: nil)
        case .complete(let unit, let consumed):
            state = .nothingExpected
            return HalibutDecodeStep(consumed: consumed, unit: wrap(unit))
        }
    }

    private func fail(_ error: HalibutUnitDecoderError) -> HalibutUnitDecoderError {
        state = .failed
        inflater.reset()
        return error
    }
}
