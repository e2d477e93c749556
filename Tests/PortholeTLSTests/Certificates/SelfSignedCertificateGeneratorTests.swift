import Foundation
import PortholeTestSupport
import PortholeTLS
import Testing

@Suite("Self-signed certificates as openssl sees them")
struct SelfSignedCertificateGeneratorTests {
    @Test func test_generatedRSACertificate_opensslParsesV3ExtensionsAndSHA256Signature() throws {
        let directory = TemporaryDirectory("porthole-certs")
        let identity = try SelfSignedCertificateGenerator.generate(
            commonName: "porthole.example", dnsNames: ["porthole.example", "*.porthole.example"],
            ipAddresses: ["127.0.0.1", "::1"])
        try identity.writePEM(certPath: directory.file("c.pem"), keyPath: directory.file("k.pem"))

        let text = try OpenSSLCommand.run("x509 -in c.pem -noout -text", in: directory)
        #expect(text.contains("Version: 3 (0x2)"))
        #expect(text.contains("Signature Algorithm: sha256WithRSAEncryption"))
        #expect(text.contains("Public-Key: (2048 bit)"))
        #expect(text.contains("CA:FALSE"))
        #expect(text.contains("Digital Signature, Key Encipherment"))
        #expect(text.contains("TLS Web Server Authentication, TLS Web Client Authentication"))
        #expect(text.contains("DNS:porthole.example, DNS:*.porthole.example, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1"))
        #expect(text.contains("Subject: CN = porthole.example"))

        // openssl's own host check agrees with the SAN we wrote.
        let hostCheck = try OpenSSLCommand.run("x509 -in c.pem -noout -checkhost porthole.example", in: directory)
        #expect(hostCheck.contains("does match"))
        // The key we wrote is a valid, unencrypted key for this certificate.
        #expect(try OpenSSLCommand.run("pkey -in k.pem -noout -check", in: directory).contains("valid"))
        let certificateModulus = try OpenSSLCommand.run("x509 -in c.pem -noout -modulus", in: directory)
        let keyModulus = try OpenSSLCommand.run("rsa -in k.pem -noout -modulus", in: directory)
        #expect(certificateModulus == keyModulus)
    }

    @Test func test_generatedECDSACertificate_usesP256AndECDSAWithSHA256() throws {
        let directory = TemporaryDirectory("porthole-certs")
        let identity = try SelfSignedCertificateGenerator.generate(
            keyType: .ecdsaP256, commonName: "ec.example", dnsNames: ["ec.example"])
        #expect(identity.privateKey.algorithm == "ECDSA P-256")
        try identity.writePEM(certPath: directory.file("c.pem"), keyPath: directory.file("k.pem"))
        let text = try OpenSSLCommand.run("x509 -in c.pem -noout -text", in: directory)
        #expect(text.contains("Signature Algorithm: ecdsa-with-SHA256"))
        #expect(text.contains("NIST CURVE: P-256"))
        #expect(text.contains("Digital Signature\n") || text.contains("Digital Signature\r\n"))
        #expect(!text.contains("Key Encipherment"))
    }

    @Test func test_generatedCertificate_reportsItsFields() throws {
        let before = Date()
        let identity = try SelfSignedCertificateGenerator.generate(
            commonName: "fields.example", dnsNames: ["a.example", "b.example"], ipAddresses: ["10.1.2.3"], validityDays: 10)
        let leaf = identity.leaf
        #expect(leaf.subject == "CN=fields.example")
        #expect(leaf.issuer == "CN=fields.example")
        #expect(leaf.commonName == "fields.example")
        #expect(leaf.dnsNames == ["a.example", "b.example"])
        #expect(leaf.ipAddresses == ["10.1.2.3"])
        #expect(leaf.serialNumber.count == 32)
        #expect(abs(leaf.notAfter.timeIntervalSince(before) - 10 * 86_400) < 120)
        #expect(leaf.notBefore < before)
        #expect(!leaf.isExpired())
        #expect(leaf.isExpired(at: before.addingTimeInterval(11 * 86_400)))
        #expect(identity.privateKey.algorithm == "RSA 2048")
        #expect(identity.expiryWarning != nil)  // 10 days left is within the 30-day warning window
    }

    @Test func test_twoGeneratedCertificates_haveDifferentSerialsAndThumbprints() throws {
        let first = try SelfSignedCertificateGenerator.generate(keyType: .ecdsaP256, commonName: "x", dnsNames: ["x"])
        let second = try SelfSignedCertificateGenerator.generate(keyType: .ecdsaP256, commonName: "x", dnsNames: ["x"])
        #expect(first.leaf.serialNumber != second.leaf.serialNumber)
        #expect(first.leaf.thumbprint != second.leaf.thumbprint)
    }

    @Test func test_pemAndDERRoundTrip_giveTheSameCertificate() throws {
        let identity = try SelfSignedCertificateGenerator.generate(keyType: .ecdsaP256, commonName: "rt", dnsNames: ["rt"])
        let fromPEM = try X509Certificate.loadPEMChain(pem: identity.leaf.pem)
        #expect(fromPEM == [identity.leaf])
        #expect(try X509Certificate(der: identity.leaf.der) == identity.leaf)
        let key = try PrivateKey(pem: try identity.privateKey.pem)
        #expect(try CertificateIdentity(certificateChain: [identity.leaf], privateKey: key).leaf == identity.leaf)
    }

    @Test func test_commonName_isFreeText() throws {
        let identity = try SelfSignedCertificateGenerator.generate(
            keyType: .ecdsaP256, commonName: "Porthole on build-01, Zürich", dnsNames: ["ok.example"])
        #expect(identity.leaf.commonName == "Porthole on build-01, Zürich")
        #expect(identity.leaf.subject == "CN=Porthole on build-01\\, Zürich")
    }

    @Test(arguments: [("", ["ok.example"]), ("ok", ["has space.example"]),
                      ("ok", ["a,DNS:evil.example"]), (String(repeating: "c", count: 65), [])])
    func test_unusableNames_areRejectedWithInvalidName(commonName: String, dnsNames: [String]) {
        let error = certificateError {
            _ = try SelfSignedCertificateGenerator.generate(keyType: .ecdsaP256, commonName: commonName, dnsNames: dnsNames)
        }
        guard case .invalidName? = error else {
            Issue.record("expected invalidName, got \(String(describing: error))")
            return
        }
    }

    @Test func test_writePEM_writesKeyWithMode0600AndCertificateWithMode0644() throws {
        let directory = TemporaryDirectory("porthole-certs")
        let identity = try SelfSignedCertificateGenerator.generate(keyType: .ecdsaP256, commonName: "m", dnsNames: ["m"])
        try identity.writePEM(certPath: directory.file("c.pem"), keyPath: directory.file("k.pem"))
        #expect(try permissions(directory.file("k.pem")) == 0o600)
        #expect(try permissions(directory.file("c.pem")) == 0o644)
        #expect(try directory.read("k.pem").hasPrefix("-----BEGIN PRIVATE KEY-----\n"))
        // Nothing but the two files: the temporary files were renamed away.
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted() == ["c.pem", "k.pem"])

        // Overwriting keeps the mode and replaces the content.
        let replacement = try SelfSignedCertificateGenerator.generate(keyType: .ecdsaP256, commonName: "m", dnsNames: ["m"])
        try replacement.writePEM(certPath: directory.file("c.pem"), keyPath: directory.file("k.pem"))
        #expect(try permissions(directory.file("k.pem")) == 0o600)
        let reloaded = try CertificateIdentity.load(certPath: directory.file("c.pem"), keyPath: directory.file("k.pem"))
        #expect(reloaded.leaf.thumbprint == replacement.leaf.thumbprint)
    }
}
