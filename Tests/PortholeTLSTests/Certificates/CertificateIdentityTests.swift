import Foundation
import PortholeTestSupport
import PortholeTLS
import Testing

@Suite("Loading certificates, keys and PFX files")
struct CertificateIdentityTests {
    /// root CA → leaf, with `chain.pem` = leaf + root (what a server presents).
    private func makeChain(in directory: TemporaryDirectory) throws {
        try OpenSSLCommand.run(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
                                "-subj", "/CN=Test Root", "-days", "30",
                                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"],
                               in: directory)
        try OpenSSLCommand.run("req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout leaf.key -out leaf.csr -subj /CN=leaf.example",
                               in: directory)
        try OpenSSLCommand.run("x509 -req -in leaf.csr -CA ca.crt -CAkey ca.key -set_serial 1001 -days 20 -out leaf.crt",
                               in: directory)
        directory.write("chain.pem", try directory.read("leaf.crt") + directory.read("ca.crt"))
    }

    @Test func test_pemChainAndSeparateKey_loadLeafFirstWithItsKey() throws {
        let directory = TemporaryDirectory("porthole-certs")
        try makeChain(in: directory)
        let identity = try CertificateIdentity.load(certPath: directory.file("chain.pem"), keyPath: directory.file("leaf.key"))
        #expect(identity.certificateChain.count == 2)
        #expect(identity.leaf.commonName == "leaf.example")
        #expect(identity.leaf.thumbprint == (try OpenSSLCommand.sha1Fingerprint(of: "leaf.crt", in: directory)))
        #expect(identity.intermediates.map(\.subject) == ["CN=Test Root"])
        #expect(identity.privateKey.algorithm == "ECDSA P-256")
        #expect(identity.leaf.serialNumber == "03E9")
        #expect(identity.expiryWarning != nil)  // 20 days left
    }

    @Test func test_keyInTheSamePEMFile_isFoundWithoutKeyPath() throws {
        let directory = TemporaryDirectory("porthole-certs")
        try makeChain(in: directory)
        // Key in the middle, with explanatory text around: both allowed by RFC 7468.
        let combined = "leaf certificate\n" + (try directory.read("leaf.crt")) + (try directory.read("leaf.key"))
            + "issuer\n" + (try directory.read("ca.crt"))
        let path = directory.write("combined.pem", combined)
        let identity = try CertificateIdentity.load(certPath: path)
        #expect(identity.certificateChain.map(\.commonName) == ["leaf.example", "Test Root"])
    }

    @Test func test_traditionalRSAAndECKeys_load() throws {
        let directory = TemporaryDirectory("porthole-certs")
        try OpenSSLTool.makeSelfSigned(in: directory, name: "rsa", commonName: "rsa")
        try OpenSSLCommand.run("rsa -in rsa.key -traditional -out rsa-traditional.key", in: directory)
        #expect(try directory.read("rsa-traditional.key").hasPrefix("-----BEGIN RSA PRIVATE KEY-----"))
        let rsa = try CertificateIdentity.load(certPath: directory.file("rsa.crt"), keyPath: directory.file("rsa-traditional.key"))
        #expect(rsa.privateKey.algorithm == "RSA 2048")

        // `openssl ecparam -genkey` writes an "EC PARAMETERS" block before the key.
        try OpenSSLCommand.run("ecparam -name prime256v1 -genkey -out ec.key", in: directory)
        try OpenSSLCommand.run("req -x509 -key ec.key -out ec.crt -subj /CN=ec -days 30", in: directory)
        #expect(try directory.read("ec.key").hasPrefix("-----BEGIN EC PARAMETERS-----"))
        let ec = try CertificateIdentity.load(certPath: directory.file("ec.crt"), keyPath: directory.file("ec.key"))
        #expect(ec.privateKey.algorithm == "ECDSA P-256")
    }

    @Test func test_pfxWithRightPassword_loadsLeafKeyAndChainInIssuingOrder() throws {
        let directory = TemporaryDirectory("porthole-certs")
        try makeChain(in: directory)
        try OpenSSLCommand.run("pkcs12 -export -in leaf.crt -inkey leaf.key -certfile ca.crt -passout pass:correct-horse -out id.pfx",
                               in: directory)
        let identity = try CertificateIdentity.load(pfxPath: directory.file("id.pfx"), password: "correct-horse")
        #expect(identity.leaf.thumbprint == (try OpenSSLCommand.sha1Fingerprint(of: "leaf.crt", in: directory)))
        #expect(identity.certificateChain.map(\.commonName) == ["leaf.example", "Test Root"])
        #expect(identity.privateKey.algorithm == "ECDSA P-256")
    }

    @Test func test_pfxWithEmptyPassword_loadsWithEmptyPassword() throws {
        let directory = TemporaryDirectory("porthole-certs")
        try OpenSSLTool.makeSelfSigned(in: directory, name: "leaf", commonName: "leaf", ecdsa: true)
        try OpenSSLCommand.run(["pkcs12", "-export", "-in", "leaf.crt", "-inkey", "leaf.key", "-passout", "pass:", "-out", "id.pfx"],
                               in: directory)
        let identity = try CertificateIdentity.load(pfxPath: directory.file("id.pfx"), password: "")
        #expect(identity.leaf.commonName == "leaf")
    }

    @Test func test_pfxWithWrongPassword_throwsWrongPasswordNotMalformed() throws {
        let directory = TemporaryDirectory("porthole-certs")
        try OpenSSLTool.makeSelfSigned(in: directory, name: "leaf", commonName: "leaf", ecdsa: true)
        try OpenSSLCommand.run("pkcs12 -export -in leaf.crt -inkey leaf.key -passout pass:right -out id.pfx", in: directory)
        let error = certificateError { _ = try CertificateIdentity.load(pfxPath: directory.file("id.pfx"), password: "wrong") }
        guard case .wrongPassword(let file)? = error else {
            Issue.record("expected wrongPassword, got \(String(describing: error))")
            return
        }
        #expect(file.path == directory.file("id.pfx"))
        #expect(error?.description.contains("wrong password") == true)
        #expect(error?.description.contains("password_file") == true)
    }

    /// `-legacy` is what older Windows exports look like: RC2-40 for the
    /// certificates and 3DES for the key, which OpenSSL 3 only has in its
    /// legacy provider. It must load (the provider is installed with
    /// libssl3) or fail with the error that names the provider.
    @Test func test_legacyRC2And3DESPFX_loadsOrNamesTheLegacyProvider() throws {
        let directory = TemporaryDirectory("porthole-certs")
        try OpenSSLTool.makeSelfSigned(in: directory, name: "leaf", commonName: "leaf")
        try OpenSSLCommand.run("pkcs12 -export -legacy -in leaf.crt -inkey leaf.key -passout pass:old -out legacy.pfx", in: directory)
        let info = try OpenSSLCommand.run("pkcs12 -in legacy.pfx -info -noout -legacy -passin pass:old", in: directory)
        #expect(info.contains("pbeWithSHA1And40BitRC2-CBC"))
        #expect(info.contains("pbeWithSHA1And3-KeyTripleDES-CBC"))

        do {
            let identity = try CertificateIdentity.load(pfxPath: directory.file("legacy.pfx"), password: "old")
            #expect(identity.leaf.thumbprint == (try OpenSSLCommand.sha1Fingerprint(of: "leaf.crt", in: directory)))
            #expect(identity.privateKey.algorithm == "RSA 2048")
            // The key re-created outside the legacy context still signs a certificate openssl accepts.
            try identity.writePEM(certPath: directory.file("out.crt"), keyPath: directory.file("out.key"))
            #expect(try OpenSSLCommand.run("pkey -in out.key -noout -check", in: directory).contains("valid"))
        } catch CertificateError.legacyProviderUnavailable(_, let detail) {
            Issue.record("legacy provider unavailable on this machine: \(detail)")
        }
        // A wrong password is still reported as such for a legacy PFX.
        let error = certificateError { _ = try CertificateIdentity.load(pfxPath: directory.file("legacy.pfx"), password: "new") }
        guard case .wrongPassword? = error else {
            Issue.record("expected wrongPassword, got \(String(describing: error))")
            return
        }
    }

    @Test func test_certificateWithoutKey_throwsNoPrivateKeyNamingTheFile() throws {
        let directory = TemporaryDirectory("porthole-certs")
        let (certificate, _) = try OpenSSLTool.makeSelfSigned(in: directory, name: "leaf", commonName: "leaf", ecdsa: true)
        let error = certificateError { _ = try CertificateIdentity.load(certPath: certificate) }
        guard case .noPrivateKey? = error else {
            Issue.record("expected noPrivateKey, got \(String(describing: error))")
            return
        }
        #expect(error?.description == "certificate file \(certificate): no private key found (expected a PEM \"PRIVATE KEY\" block, or use pfx = … with password_file)")

        // A separate key file that holds only a certificate.
        let keyError = certificateError { _ = try CertificateIdentity.load(certPath: certificate, keyPath: certificate) }
        guard case .noPrivateKey(let file)? = keyError else {
            Issue.record("expected noPrivateKey, got \(String(describing: keyError))")
            return
        }
        #expect(file.role == .privateKey)
    }

    @Test func test_certificateAWithKeyB_throwsKeyMismatch() throws {
        let directory = TemporaryDirectory("porthole-certs")
        let a = try OpenSSLTool.makeSelfSigned(in: directory, name: "a", commonName: "a")
        let b = try OpenSSLTool.makeSelfSigned(in: directory, name: "b", commonName: "b")
        let error = certificateError { _ = try CertificateIdentity.load(certPath: a.cert, keyPath: b.key) }
        guard case .keyMismatch(let certificate, let key)? = error else {
            Issue.record("expected keyMismatch, got \(String(describing: error))")
            return
        }
        #expect(certificate.path == a.cert)
        #expect(key.path == b.key)
        #expect(error?.description.contains("does not match") == true)
    }

    @Test func test_unreadablePaths_throwUnreadableFileWithErrnoText() throws {
        let directory = TemporaryDirectory("porthole-certs")
        let missing = directory.file("missing.pem")
        let error = certificateError { _ = try CertificateIdentity.load(certPath: missing) }
        guard case .unreadableFile(let file, let reason)? = error else {
            Issue.record("expected unreadableFile, got \(String(describing: error))")
            return
        }
        #expect(file.path == missing)
        #expect(reason == "No such file or directory")
        #expect(error?.description.hasPrefix("certificate file \(missing): cannot read it (No such file or directory)") == true)

        let directoryError = certificateError { _ = try CertificateIdentity.load(pfxPath: directory.path, password: "x") }
        guard case .unreadableFile(_, let directoryReason)? = directoryError else {
            Issue.record("expected unreadableFile, got \(String(describing: directoryError))")
            return
        }
        #expect(directoryReason == "Is a directory")
    }

    @Test(arguments: [["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-aes256", "-pass", "pass:x", "-out", "enc.key"],
                      ["genrsa", "-aes128", "-traditional", "-passout", "pass:x", "-out", "enc.key", "2048"]])
    func test_encryptedPEMKey_throwsEncryptedPrivateKey(generate: [String]) throws {
        let directory = TemporaryDirectory("porthole-certs")
        try OpenSSLCommand.run(generate, in: directory)
        try OpenSSLCommand.run("req -x509 -key enc.key -passin pass:x -out c.crt -subj /CN=enc -days 30", in: directory)
        let error = certificateError {
            _ = try CertificateIdentity.load(certPath: directory.file("c.crt"), keyPath: directory.file("enc.key"))
        }
        guard case .encryptedPrivateKey? = error else {
            Issue.record("expected encryptedPrivateKey, got \(String(describing: error))")
            return
        }
        #expect(error?.description.contains("encrypted") == true)
        #expect(error?.description.contains("password_file") == true)
    }

    @Test func test_expiredAndExpiringCertificates_giveWarningsNotErrors() throws {
        let directory = TemporaryDirectory("porthole-certs")
        try OpenSSLCommand.run("req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout k.pem -out r.csr -subj /CN=old",
                               in: directory)
        // -days -1: notAfter a day before notBefore (now), i.e. already expired.
        try OpenSSLCommand.run("x509 -req -in r.csr -signkey k.pem -days -1 -out expired.crt", in: directory)
        try OpenSSLCommand.run("x509 -req -in r.csr -signkey k.pem -days 10 -out soon.crt", in: directory)
        try OpenSSLCommand.run("x509 -req -in r.csr -signkey k.pem -days 365 -out fine.crt", in: directory)

        let expired = try CertificateIdentity.load(certPath: directory.file("expired.crt"), keyPath: directory.file("k.pem"))
        #expect(expired.leaf.isExpired())
        let expiredWarning = try #require(expired.expiryWarning)
        #expect(expiredWarning.contains("CN=old"))
        #expect(expiredWarning.contains(expired.leaf.thumbprint))
        #expect(expiredWarning.contains("expired on"))

        let soon = try CertificateIdentity.load(certPath: directory.file("soon.crt"), keyPath: directory.file("k.pem"))
        let soonWarning = try #require(soon.expiryWarning)
        #expect(soonWarning.contains("expires in 9 days") || soonWarning.contains("expires in 10 days"))

        let fine = try CertificateIdentity.load(certPath: directory.file("fine.crt"), keyPath: directory.file("k.pem"))
        #expect(fine.expiryWarning == nil)
        #expect(fine.expiryWarning(at: fine.leaf.notAfter.addingTimeInterval(-86_400 * 3)) != nil)
    }

    @Test func test_generatorWithPastValidity_givesExpiredWarning() throws {
        let now = Date()
        let identity = try SelfSignedCertificateGenerator.generate(
            keyType: .ecdsaP256, commonName: "past", dnsNames: ["past"],
            notBefore: now.addingTimeInterval(-10 * 86_400), notAfter: now.addingTimeInterval(-86_400))
        #expect(identity.leaf.isExpired(at: now))
        #expect(identity.expiryWarning(at: now)?.contains("expired on") == true)
        #expect(identity.expiryWarning(at: now.addingTimeInterval(-5 * 86_400))?.contains("expires in 3 days") == true)
        #expect(identity.expiryWarning(at: now.addingTimeInterval(-20 * 86_400))?.contains("not valid until") == true)
    }

    @Test func test_garbageAndWrongKindsOfFile_throwMalformedOrNoCertificate() throws {
        let directory = TemporaryDirectory("porthole-certs")
        let garbage = directory.write("garbage.pem", "this is not a certificate\n\u{01}\u{02}\u{03}")
        let garbageError = certificateError { _ = try CertificateIdentity.load(certPath: garbage) }
        guard case .malformed(let file, _)? = garbageError else {
            Issue.record("expected malformed, got \(String(describing: garbageError))")
            return
        }
        #expect(file.path == garbage)

        let pfxError = certificateError { _ = try CertificateIdentity.load(pfxPath: garbage, password: "") }
        guard case .malformed? = pfxError else {
            Issue.record("expected malformed, got \(String(describing: pfxError))")
            return
        }

        // A PEM file holding only a key has no certificate.
        let (_, key) = try OpenSSLTool.makeSelfSigned(in: directory, name: "leaf", commonName: "leaf", ecdsa: true)
        let keyOnlyError = certificateError { _ = try CertificateIdentity.load(certPath: key) }
        guard case .noCertificate? = keyOnlyError else {
            Issue.record("expected noCertificate, got \(String(describing: keyOnlyError))")
            return
        }

        // A certificate block that was cut off.
        let text = try directory.read("leaf.crt")
        let truncated = directory.write("cut.pem", String(text.prefix(text.count / 2)))
        guard case .malformed? = certificateError({ _ = try CertificateIdentity.load(certPath: truncated, keyPath: key) }) else {
            Issue.record("expected malformed for a truncated PEM block")
            return
        }
        // Base64 damage inside a complete block.
        let damaged = directory.write("damaged.pem", text.replacingOccurrences(of: "\n", with: "\n!", options: [], range: text.range(of: "\n")))
        guard case .malformed? = certificateError({ _ = try CertificateIdentity.load(certPath: damaged, keyPath: key) }) else {
            Issue.record("expected malformed for a damaged PEM block")
            return
        }

        // A PFX configured as a PEM certificate: malformed, with a hint.
        try OpenSSLCommand.run("pkcs12 -export -in leaf.crt -inkey leaf.key -passout pass:p -out id.pfx", in: directory)
        let mixUp = certificateError { _ = try CertificateIdentity.load(certPath: directory.file("id.pfx")) }
        guard case .malformed(_, let detail)? = mixUp else {
            Issue.record("expected malformed, got \(String(describing: mixUp))")
            return
        }
        #expect(detail.contains("pfx = "))
    }

    @Test func test_derCertificateWithSeparateKey_loads() throws {
        let directory = TemporaryDirectory("porthole-certs")
        let (_, key) = try OpenSSLTool.makeSelfSigned(in: directory, name: "leaf", commonName: "leaf", ecdsa: true)
        try OpenSSLCommand.run("x509 -in leaf.crt -outform DER -out leaf.der", in: directory)
        let identity = try CertificateIdentity.load(certPath: directory.file("leaf.der"), keyPath: key)
        #expect(identity.leaf.thumbprint == (try OpenSSLCommand.sha1Fingerprint(of: "leaf.der", in: directory, der: true)))
    }

    @Test func test_crlfPEMFromWindows_loads() throws {
        let directory = TemporaryDirectory("porthole-certs")
        let (certificate, key) = try OpenSSLTool.makeSelfSigned(in: directory, name: "leaf", commonName: "leaf", ecdsa: true)
        let crlf = directory.write("crlf.pem", (try String(contentsOfFile: certificate, encoding: .utf8)
            + String(contentsOfFile: key, encoding: .utf8)).replacingOccurrences(of: "\n", with: "\r\n"))
        let identity = try CertificateIdentity.load(certPath: crlf)
        #expect(identity.leaf.commonName == "leaf")
    }
}
