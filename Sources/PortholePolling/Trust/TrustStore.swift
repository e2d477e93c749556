import Foundation
import NIOConcurrencyHelpers

/// Client thumbprints allowed to poll: `[polling] trusted_thumbprints` plus
/// the trust file (one thumbprint per line, `#` comments, colons allowed).
/// The file is re-read by `reloadIfChanged()` (polled) and `reload()`
/// (SIGHUP); connections already open are not touched.
public final class TrustStore: Sendable {
    public struct Snapshot: Sendable {
        public var thumbprints: Set<String>
        public var fileModified: Date?
        public var fileError: String?
    }

    private let configured: Set<String>
    public let filePath: String?
    private let current: NIOLockedValueBox<Snapshot>

    public init(configured: [String], filePath: String?) {
        self.configured = Set(configured.compactMap(TrustStore.normalize))
        self.filePath = filePath
        self.current = NIOLockedValueBox(Snapshot(thumbprints: Set(configured.compactMap(TrustStore.normalize)),
                                                  fileModified: nil, fileError: nil))
        _ = reload()
    }

    /// Compares case-insensitively (halibut.md §1).
    public func isTrusted(_ thumbprint: String?) -> Bool {
        guard let thumbprint, let normalized = TrustStore.normalize(thumbprint) else { return false }
        return current.withLockedValue { $0.thumbprints.contains(normalized) }
    }

    public var snapshot: Snapshot { current.withLockedValue { $0 } }

    /// Re-reads the trust file. On a read error the previous list stays (a
    /// half-written file must not lock every agent out) and the error is
    /// returned for the log.
    @discardableResult
    public func reload() -> Result<Int, TrustFileError> {
        guard let filePath else { return .success(configured.count) }
        let modified = (try? FileManager.default.attributesOfItem(atPath: filePath)[.modificationDate]) as? Date
        guard let data = FileManager.default.contents(atPath: filePath) else {
            let error = TrustFileError(path: filePath, detail: "cannot read it (does it exist, and may the porthole user read it?)")
            current.withLockedValue { $0.fileError = error.description; $0.fileModified = modified }
            return .failure(error)
        }
        var thumbprints = configured
        var bad: [Int] = []
        for (index, line) in String(decoding: data, as: UTF8.self).split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let text = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
            if text.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            if let normalized = TrustStore.normalize(text) { thumbprints.insert(normalized) } else { bad.append(index + 1) }
        }
        let badLines = bad
        current.withLockedValue { $0 = Snapshot(thumbprints: thumbprints, fileModified: modified,
                                                fileError: badLines.isEmpty ? nil : "ignored lines \(badLines) (not 40 hex digits)") }
        return .success(thumbprints.count)
    }

    /// Reloads when the file's modification time changed. Returns the
    /// result when it reloaded.
    public func reloadIfChanged() -> Result<Int, TrustFileError>? {
        guard let filePath else { return nil }
        let modified = (try? FileManager.default.attributesOfItem(atPath: filePath)[.modificationDate]) as? Date
        guard modified != current.withLockedValue({ $0.fileModified }) else { return nil }
        return reload()
    }

    /// 40 upper-case hex digits, or nil.
    public static func normalize(_ text: String) -> String? {
        let hex = text.filter { !$0.isWhitespace && $0 != ":" }.uppercased()
        guard hex.count == 40, hex.allSatisfy({ $0.isHexDigit }) else { return nil }
        return hex
    }
}

public struct TrustFileError: Error, CustomStringConvertible {
    public var path: String
    public var detail: String
    public var description: String { "[polling].trust_file \(path): \(detail); keeping the previous list" }
}
