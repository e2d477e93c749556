import Testing
@testable import PortholeConfig

@Suite struct ValueSyntaxTests {
    @Test func test_durations() throws {
        #expect(try DurationSyntax.parse("500ms") == .milliseconds(500))
        #expect(try DurationSyntax.parse("5s") == .seconds(5))
        #expect(try DurationSyntax.parse("2m") == .seconds(120))
        #expect(try DurationSyntax.parse("1h") == .seconds(3600))
        #expect(try DurationSyntax.parse("1m30s") == .seconds(90))
        #expect(throws: DurationSyntax.ParseError.missingUnit("30")) { try DurationSyntax.parse("30") }
        #expect(throws: DurationSyntax.ParseError.unknownUnit("sec")) { try DurationSyntax.parse("5sec") }
        #expect(throws: DurationSyntax.ParseError.malformed("1.5s")) { try DurationSyntax.parse("1.5s") }
        #expect(throws: DurationSyntax.ParseError.malformed("-5s")) { try DurationSyntax.parse("-5s") }
        #expect(throws: DurationSyntax.ParseError.empty) { try DurationSyntax.parse("") }
        #expect(throws: DurationSyntax.ParseError.tooLarge) { try DurationSyntax.parse("999999999999h999999999999h999999999999h") }
    }

    @Test func test_durationFormatting_usesLargestExactUnit() {
        #expect(DurationSyntax.format(.milliseconds(500)) == "500ms")
        #expect(DurationSyntax.format(.seconds(90)) == "90s")
        #expect(DurationSyntax.format(.seconds(120)) == "2m")
        #expect(DurationSyntax.format(.seconds(7200)) == "2h")
        #expect(DurationSyntax.format(.zero) == "0s")
    }

    @Test func test_sizes() throws {
        #expect(try ByteSizeSyntax.parse("16KB") == 16_384)
        #expect(try ByteSizeSyntax.parse("100MB") == 104_857_600)
        #expect(try ByteSizeSyntax.parse("1GB") == 1 << 30)
        #expect(try ByteSizeSyntax.parse("64 MiB") == 64 << 20)
        #expect(try ByteSizeSyntax.parse("512") == 512)
        #expect(throws: ByteSizeSyntax.ParseError.unknownUnit("TB")) { try ByteSizeSyntax.parse("1TB") }
        #expect(throws: ByteSizeSyntax.ParseError.malformed("MB")) { try ByteSizeSyntax.parse("MB") }
        #expect(throws: ByteSizeSyntax.ParseError.tooLarge) { try ByteSizeSyntax.parse("99999999999999GB") }
        #expect(ByteSizeSyntax.format(100 << 20) == "100MB")
        #expect(ByteSizeSyntax.format(1000) == "1000B")
    }

    @Test func test_thumbprints() throws {
        let thumbprint = try CertificateThumbprint(parsing: "0123456789abcdef0123456789abcdef01234567")
        #expect(thumbprint.hex == "0123456789ABCDEF0123456789ABCDEF01234567")
        #expect(throws: CertificateThumbprint.ParseError.wrongLength(39)) {
            try CertificateThumbprint(parsing: "0123456789abcdef0123456789abcdef0123456")
        }
        #expect(throws: CertificateThumbprint.ParseError.notHex("g")) {
            try CertificateThumbprint(parsing: "g123456789abcdef0123456789abcdef01234567")
        }
    }

    @Test func test_serverNamePatterns() throws {
        #expect(try ServerNamePattern(parsing: "Portal.Example.com.") == .exact("portal.example.com"))
        #expect(try ServerNamePattern(parsing: "*.Example.com") == .wildcard(parent: "example.com"))
        #expect(try ServerNamePattern(parsing: "none") == .none)
        #expect(throws: ServerNamePattern.ParseError.misplacedWildcard("a.*.example.com")) {
            try ServerNamePattern(parsing: "a.*.example.com")
        }
        #expect(throws: ServerNamePattern.ParseError.misplacedWildcard("*")) { try ServerNamePattern(parsing: "*") }
        #expect(throws: ServerNamePattern.ParseError.ipAddress("192.0.2.1")) { try ServerNamePattern(parsing: "192.0.2.1") }
        #expect(throws: ServerNamePattern.ParseError.invalidName("bad name.example")) {
            try ServerNamePattern(parsing: "bad name.example")
        }
    }

    @Test func test_sourceLocator_findsKeysHeadersAndArrayElements() {
        let locator = SourceLocator(text: """
            # comment with key = "value"
            [server]
            listen = [
              "0.0.0.0:443",  # first
              "[::]:443",
            ]
            friendly = '''
            not_a_key = 1
            '''

            [[route]]
            name = "a"

            [[route]]
            name = "b"
            [route.match]
            sni = ["x.example.com", "y.example.com"]
            """)
        let listen = ConfigKeyPath.table("server").key("listen")
        #expect(locator.line(for: listen) == 3)
        #expect(locator.line(for: listen.element(1)) == 5)
        #expect(locator.line(for: ConfigKeyPath.table("server").key("not_a_key")) == 2)
        #expect(locator.line(for: .arrayTable("route", index: 1, label: nil)) == 14)
        #expect(locator.line(for: ConfigKeyPath.arrayTable("route", index: 1, label: nil).key("name")) == 15)
        #expect(locator.line(for: ConfigKeyPath.arrayTable("route", index: 1, label: nil).key("match").key("sni").element(1)) == 17)
        #expect(locator.line(for: ConfigKeyPath.arrayTable("route", index: 0, label: nil).key("upstream")) == 11)
        #expect(locator.line(for: ConfigKeyPath.table("portal")) == nil)
    }
}
