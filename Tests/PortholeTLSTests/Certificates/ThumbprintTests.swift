import Foundation
import PortholeTestSupport
import PortholeTLS
import Testing

@Suite("Thumbprints agree with openssl")
struct ThumbprintTests {
    @Test(arguments: [["-newkey", "rsa:2048"], ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]])
    func test_opensslMadeCertificate_thumbprintEqualsOpenSSLFingerprint(newKey: [String]) throws {
        let directory = TemporaryDirectory("porthole-certs")
        try OpenSSLCommand.run(["req", "-x509"] + newKey + ["-nodes", "-keyout", "k.pem", "-out", "c.pem",
                                "-subj", "/CN=thumbprint test", "-days", "2"], in: directory)
        let expected = try OpenSSLCommand.sha1Fingerprint(of: "c.pem", in: directory)

        let chain = try X509Certificate.loadPEMChain(path: directory.file("c.pem"))
        #expect(chain.count == 1)
        #expect(chain[0].thumbprint == expected)
        #expect(try Thumbprint.ofFile(path: directory.file("c.pem")) == expected)
    }

    @Test(arguments: CertificateKeyType.allCases)
    func test_generatedCertificate_thumbprintEqualsOpenSSLFingerprint(keyType: CertificateKeyType) throws {
        let directory = TemporaryDirectory("porthole-certs")
        let identity = try SelfSignedCertificateGenerator.generate(
            keyType: keyType, commonName: "porthole.test", dnsNames: ["porthole.test"])
        try identity.writePEM(certPath: directory.file("c.pem"), keyPath: directory.file("k.pem"))
        #expect(identity.leaf.thumbprint == (try OpenSSLCommand.sha1Fingerprint(of: "c.pem", in: directory)))
    }

    /// Thumbprints recorded in shared/vectors/halibut/*.json ("certificates"
    /// → "sha1_thumbprint"), i.e. what real Halibut computed for these files.
    @Test(arguments: [
        ("octopus-server", "8F1F6DABF82A2721CC58B7C5FB3F387BAE54A320"),
        ("tentacle-client", "034A2C20FE98BFCEFADB2D8479E21CD7BC0E7045"),
        ("untrusted-client", "A1BCDFD8734615A36A0846B5CFDB59B8259363B9"),
    ])
    func test_halibutVectorCertificate_thumbprintEqualsRecordedHalibutThumbprint(name: String, recorded: String) throws {
        let identity = try CertificateIdentity.load(certPath: Fixtures.path("\(name).crt"),
                                                    keyPath: Fixtures.path("\(name).key"))
        #expect(identity.leaf.thumbprint == recorded)
        #expect(try Thumbprint.ofFile(path: Fixtures.path("\(name).crt")) == recorded)
        #expect(identity.privateKey.algorithm == "RSA 2048")
    }

    @Test func test_derCertificateAndPFX_ofFileGivesLeafThumbprint() throws {
        let directory = TemporaryDirectory("porthole-certs")
        try OpenSSLTool.makeSelfSigned(in: directory, name: "leaf", commonName: "leaf")
        let expected = try OpenSSLCommand.sha1Fingerprint(of: "leaf.crt", in: directory)
        try OpenSSLCommand.run("x509 -in leaf.crt -outform DER -out leaf.der", in: directory)
        try OpenSSLCommand.run("pkcs12 -export -in leaf.crt -inkey leaf.key -passout pass:secret -out leaf.pfx", in: directory)

        #expect(try Thumbprint.ofFile(path: directory.file("leaf.der")) == expected)
        #expect(try Thumbprint.ofFile(path: directory.file("leaf.pfx"), password: "secret") == expected)
        let error = certificateError { _ = try Thumbprint.ofFile(path: directory.file("leaf.pfx"), password: "nope") }
        guard case .wrongPassword? = error else {
            Issue.record("expected wrongPassword, got \(String(describing: error))")
            return
        }
    }

    @Test func test_normalize_acceptsOpenSSLAndWindowsSpellings() throws {
        let canonical = "8F1F6DABF82A2721CC58B7C5FB3F387BAE54A320"
        #expect(try Thumbprint.normalize("8F:1F:6D:AB:F8:2A:27:21:CC:58:B7:C5:FB:3F:38:7B:AE:54:A3:20") == canonical)
        #expect(try Thumbprint.normalize("8f 1f 6d ab f8 2a 27 21 cc 58 b7 c5 fb 3f 38 7b ae 54 a3 20") == canonical)
        #expect(try Thumbprint.normalize("\u{200E}8f1f6dabf82a2721cc58b7c5fb3f387bae54a320") == canonical)
        #expect(Thumbprint.matches("8f1f6dabf82a2721cc58b7c5fb3f387bae54a320", canonical))
        #expect(!Thumbprint.matches("034A2C20FE98BFCEFADB2D8479E21CD7BC0E7045", canonical))
    }

    @Test(arguments: ["", "8F1F", "8F1F6DABF82A2721CC58B7C5FB3F387BAE54A32G", "8F1F6DABF82A2721CC58B7C5FB3F387BAE54A3200"])
    func test_normalize_rejectsAnythingButFortyHexDigits(text: String) {
        let error = certificateError { _ = try Thumbprint.normalize(text) }
        guard case .invalidThumbprint? = error else {
            Issue.record("expected invalidThumbprint, got \(String(describing: error))")
            return
        }
        #expect(!Thumbprint.matches(text, text))
    }
}
