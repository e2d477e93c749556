import NIOCore
import PortholeWire

/// The page Halibut serves to anything that is not an agent (halibut.md §3).
public struct FriendlyPage: Sendable {
    public var html: String
    public var headers: [(String, String)]

    public init(html: String, headers: [(String, String)]) {
        self.html = html
        self.headers = headers
    }

    public static let halibutDefault = FriendlyPage(html: "<html><body><p>Hello!</p></body></html>", headers: [])

    /// HTTP/1.0, no keep-alive, the real byte count (Halibut counted UTF-16
    /// units, wrong for non-ASCII).
    public func response() -> [UInt8] {
        let body = Array(html.utf8)
        var head = "HTTP/1.0 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: \(body.count)\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        head += "\r\n"
        return Array(head.utf8) + body
    }
}

/// The `[polling]` section in the form the endpoint uses.
public struct PollingSettings: Sendable {
    public struct Binding: Sendable, Hashable {
        /// Normalised `poll://<id>/`.
        public var subscription: String
        /// 40 upper-case hex digits.
        public var thumbprint: String

        public init(subscription: String, thumbprint: String) {
            self.subscription = subscription
            self.thumbprint = thumbprint.uppercased()
        }
    }

    public var commsPath: String
    public var trustedThumbprints: [String]
    public var trustFile: String?
    public var timings: PollingSessionTimings
    public var collectionTimeout: TimeAmount
    public var maxMessageBytes: Int
    public var maxConnectionsPerSubscription: Int
    public var friendlyPage: FriendlyPage
    public var bindings: [Binding]
    /// How often the trust file's modification time is checked.
    public var trustFilePollInterval: TimeAmount

    public init(commsPath: String = "/OctopusComms", trustedThumbprints: [String] = [], trustFile: String? = nil,
                timings: PollingSessionTimings = PollingSessionTimings(), collectionTimeout: TimeAmount = .minutes(2),
                maxMessageBytes: Int = 64 << 20, maxConnectionsPerSubscription: Int = 16,
                friendlyPage: FriendlyPage = .halibutDefault, bindings: [Binding] = [],
                trustFilePollInterval: TimeAmount = .seconds(3)) {
        self.commsPath = commsPath
        self.trustedThumbprints = trustedThumbprints
        self.trustFile = trustFile
        self.timings = timings
        self.collectionTimeout = collectionTimeout
        self.maxMessageBytes = maxMessageBytes
        self.maxConnectionsPerSubscription = maxConnectionsPerSubscription
        self.friendlyPage = friendlyPage
        self.bindings = bindings
        self.trustFilePollInterval = trustFilePollInterval
    }

    var decoderLimits: HalibutDecoderLimits {
        HalibutDecoderLimits(maxMessageBytes: maxMessageBytes)
    }
}
