import Foundation
import PortholeTestSupport
import PortholeTLS
import Testing

@Suite("Porthole's own self-signed certificate in the state directory")
struct DefaultIdentityStoreTests {
    @Test func test_firstCallCreates_secondCallReusesTheSameCertificate() throws {
        let directory = TemporaryDirectory("porthole-certs")
        let state = directory.file("state/nested")
        let first = try DefaultIdentityStore.loadOrCreate(stateDirectory: state, keyType: .ecdsaP256)
        #expect(first.created)
        #expect(try permissions(state) == 0o700)
        #expect(try permissions("\(state)/porthole-selfsigned.key") == 0o600)
        #expect(try permissions("\(state)/porthole-selfsigned.pem") == 0o644)

        let second = try DefaultIdentityStore.loadOrCreate(stateDirectory: state, keyType: .ecdsaP256)
        #expect(!second.created)
        #expect(second.identity.leaf.thumbprint == first.identity.leaf.thumbprint)
        #expect(try Thumbprint.ofFile(path: "\(state)/porthole-selfsigned.pem") == first.identity.leaf.thumbprint)
        #expect(second.identity.leaf.thumbprint
            == (try OpenSSLCommand.sha1Fingerprint(of: "state/nested/porthole-selfsigned.pem", in: directory)))
    }

    @Test func test_defaultKeyType_isRSA2048() throws {
        let directory = TemporaryDirectory("porthole-certs")
        let result = try DefaultIdentityStore.loadOrCreate(stateDirectory: directory.path)
        #expect(result.identity.privateKey.algorithm == "RSA 2048")
        #expect(!result.identity.leaf.dnsNames.isEmpty)
    }

    @Test func test_orphanKeyFromInterruptedFirstRun_isReplaced() throws {
        let directory = TemporaryDirectory("porthole-certs")
        _ = directory.write("porthole-selfsigned.key", "left over\n")
        let result = try DefaultIdentityStore.loadOrCreate(stateDirectory: directory.path, keyType: .ecdsaP256)
        #expect(result.created)
    }

    @Test func test_certificateWithoutItsKey_isAnErrorNotReplaced() throws {
        let directory = TemporaryDirectory("porthole-certs")
        let first = try DefaultIdentityStore.loadOrCreate(stateDirectory: directory.path, keyType: .ecdsaP256)
        try FileManager.default.removeItem(atPath: directory.file("porthole-selfsigned.key"))
        let error = certificateError { _ = try DefaultIdentityStore.loadOrCreate(stateDirectory: directory.path, keyType: .ecdsaP256) }
        guard case .unreadableFile(let file, _)? = error else {
            Issue.record("expected unreadableFile, got \(String(describing: error))")
            return
        }
        #expect(file.path == directory.file("porthole-selfsigned.key"))
        #expect(try Thumbprint.ofFile(path: directory.file("porthole-selfsigned.pem")) == first.identity.leaf.thumbprint)
    }

    /// Tests run as root in CI, where permission bits do not stop writes; a
    /// regular file where a parent directory should be stops everyone.
    @Test func test_stateDirectoryThatCannotBeCreated_throwsErrorSuggestingStateDir() throws {
        let directory = TemporaryDirectory("porthole-certs")
        _ = directory.write("not-a-directory", "")
        let state = directory.file("not-a-directory/state")
        let error = certificateError { _ = try DefaultIdentityStore.loadOrCreate(stateDirectory: state, keyType: .ecdsaP256) }
        guard case .stateDirectoryUnusable(let path, _)? = error else {
            Issue.record("expected stateDirectoryUnusable, got \(String(describing: error))")
            return
        }
        #expect(path == state)
        #expect(error?.description.contains(state) == true)
        #expect(error?.description.contains("--state-dir") == true)

        let fileAsState = directory.file("not-a-directory")
        let fileError = certificateError { _ = try DefaultIdentityStore.loadOrCreate(stateDirectory: fileAsState, keyType: .ecdsaP256) }
        guard case .stateDirectoryUnusable? = fileError else {
            Issue.record("expected stateDirectoryUnusable, got \(String(describing: fileError))")
            return
        }
    }

    @Test func test_unwritableStateDirectory_throwsErrorSuggestingStateDir() throws {
        // /proc refuses new files even to root.
        let error = certificateError { _ = try DefaultIdentityStore.loadOrCreate(stateDirectory: "/proc", keyType: .ecdsaP256) }
        guard case .stateDirectoryUnusable(let path, _)? = error else {
            Issue.record("expected stateDirectoryUnusable, got \(String(describing: error))")
            return
        }
        #expect(path == "/proc")
        #expect(error?.description.contains("--state-dir") == true)
    }
}
