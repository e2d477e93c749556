/// What one probe says about the bytes seen so far, as in sslh's probe table:
/// the bytes are this protocol, are not, or are too few to tell.
public enum SniffProbeVerdict: Sendable, Hashable {
    case match
    case noMatch
    case needMoreData

    /// The verdict of the commonest probe, "starts with one of these
    /// literals": match once a literal is complete, wait while the bytes are
    /// still a prefix of one, no match otherwise.
    public static func startsWithAny(of literals: [[UInt8]], _ bytes: ArraySlice<UInt8>) -> SniffProbeVerdict {
        var couldStillMatch = false
        for literal in literals {
            switch SniffASCII.compare(bytes, toLiteral: literal) {
            case .complete: return .match
            case .prefix: couldStillMatch = true
            case .differs: continue
            }
        }
        return couldStillMatch ? .needMoreData : .noMatch
    }
}

/// One row of a sniff table: a named test and the outcome it stands for.
/// Adding a protocol to a classifier is adding one of these.
public struct SniffProbe<Input, Outcome: Sendable>: Sendable {
    /// For logs and tests ("tls-handshake-record", "halibut-mx-preamble").
    public let name: String
    public let outcome: Outcome
    public let test: @Sendable (Input) -> SniffProbeVerdict

    public init(name: String, outcome: Outcome, test: @escaping @Sendable (Input) -> SniffProbeVerdict) {
        self.name = name
        self.outcome = outcome
        self.test = test
    }
}

/// The decision of a whole table for one input.
public enum SniffTableDecision<Outcome: Sendable>: Sendable {
    case matched(Outcome, probe: String)
    case needMoreData
    case noMatch
}

extension SniffTableDecision: Equatable where Outcome: Equatable {}

/// An ordered probe table.
///
/// Rows are asked in order and the first row that does not say `noMatch`
/// decides: `match` wins, `needMoreData` waits. So an earlier row keeps its
/// priority until it has seen enough bytes to rule itself out, and a later,
/// looser row (plain HTTP/1.x) cannot take a connection that an earlier,
/// stricter row (WebSocket upgrade on the comms path) would have claimed with
/// a few more bytes. (sslh lets any later match win over an earlier "again";
/// with overlapping rows that depends on how the bytes were segmented, which
/// is what this rule avoids.) Only when every row says `noMatch` is the
/// input unknown.
public struct SniffProbeTable<Input, Outcome: Sendable>: Sendable {
    public let probes: [SniffProbe<Input, Outcome>]

    public init(_ probes: [SniffProbe<Input, Outcome>]) {
        self.probes = probes
    }

    public func decide(_ input: Input) -> SniffTableDecision<Outcome> {
        for probe in probes {
            switch probe.test(input) {
            case .match: return .matched(probe.outcome, probe: probe.name)
            case .needMoreData: return .needMoreData
            case .noMatch: continue
            }
        }
        return .noMatch
    }
}
