import Foundation
import PortholePolling
import Testing

@Suite struct TrustStoreTests {
    let a = "0123456789ABCDEF0123456789ABCDEF01234567"
    let b = "89ABCDEF0123456789ABCDEF0123456789ABCDEF"

    func temporaryFile(_ text: String) -> String {
        let path = NSTemporaryDirectory() + "porthole-trust-\(UUID().uuidString).txt"
        FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        return path
    }

    @Test func configuredThumbprintsAreComparedCaseInsensitively() {
        let store = TrustStore(configured: [a.lowercased()], filePath: nil)
        #expect(store.isTrusted(a))
        #expect(store.isTrusted(a.lowercased()))
        #expect(!store.isTrusted(b))
        #expect(!store.isTrusted(nil))
    }

    @Test func trustFileAllowsCommentsColonsAndReportsBadLines() {
        let colons = stride(from: 0, to: 40, by: 2).map { i -> String in
            let start = b.index(b.startIndex, offsetBy: i)
            return String(b[start..<b.index(start, offsetBy: 2)])
        }.joined(separator: ":")
        let path = temporaryFile("# agents\n\(a.lowercased())  # web-01\n\n\(colons)\nnot-a-thumbprint\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let store = TrustStore(configured: [], filePath: path)
        #expect(store.isTrusted(a))
        #expect(store.isTrusted(b))
        #expect(store.snapshot.fileError?.contains("[5]") == true)
    }

    @Test func reloadIfChangedPicksUpANewFileAndKeepsTheListWhenTheFileVanishes() throws {
        let path = temporaryFile("\(a)\n")
        let store = TrustStore(configured: [], filePath: path)
        #expect(store.reloadIfChanged() == nil)  // unchanged
        try Data("\(b)\n".utf8).write(to: URL(fileURLWithPath: path))
        try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(5)], ofItemAtPath: path)
        guard case .success(1)? = store.reloadIfChanged() else { Issue.record("expected a reload"); return }
        #expect(store.isTrusted(b))
        #expect(!store.isTrusted(a))
        try FileManager.default.removeItem(atPath: path)
        guard case .failure = store.reload() else { Issue.record("a missing file must be reported"); return }
        #expect(store.isTrusted(b))  // the previous list stays
    }
}
