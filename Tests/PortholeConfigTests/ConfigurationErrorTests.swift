import Testing
@testable import PortholeConfig

/// One test per kind of mistake: each checks that the message names the
/// file, the line, the key path, and says how to fix it.
@Suite struct ConfigurationErrorTests {
    // MARK: syntax and shape

    @Test func test_unclosedArray_isSyntaxErrorWithLineAndColumn() {
        let failure = loadErrors("""
            [server]
            state_dir = "/var/lib/porthole"
            listen = ["0.0.0.0:443"
            grace_period = "30s"
            """)
        let error = failure?.errors.first
        #expect(failure?.errors.count == 1)
        #expect(error?.kind == .syntax)
        #expect(error?.line == 3 || error?.line == 4)
        #expect(error?.description.hasPrefix("porthole.toml:") == true)
        #expect(error?.problem.contains("column") == true)
        #expect(error?.fix?.contains("brackets") == true)
    }

    @Test func test_unquotedString_syntaxErrorSuggestsQuotes() {
        let error = expectError("""
            [log]
            level = info
            """, .syntax, keyPath: "", line: 2, fix: #"level = "info""#)
        #expect(error?.description.hasPrefix("porthole.toml:2: TOML syntax error") == true)
    }

    @Test func test_repeatedTable_syntaxErrorExplainsArraysOfTables() {
        expectError("""
            [server]
            state_dir = "/srv"
            [server]
            """, .syntax, keyPath: "", line: 3, fix: "[[route]]")
    }

    @Test func test_misspelledKey_suggestsClosestKey() {
        expectError("""
            [server]
            sniff_timout = "5s"
            """, .unknownKey, keyPath: "[server].sniff_timout", line: 2, fix: #"did you mean "sniff_timeout"?"#)
    }

    @Test func test_keyInWrongSection_namesTheSectionItBelongsIn() {
        expectError("""
            [server]
            listen = ["0.0.0.0:443"]
            session_tickets = false
            """, .unknownKey, keyPath: "[server].session_tickets", line: 3, fix: "belongs in [tls]")
    }

    @Test func test_misspelledTopLevelTable_suggestsTable() {
        expectError("""
            [[routes]]
            name = "x"
            action = "terminate"
            """, .unknownKey, keyPath: "routes", line: 1, fix: #"did you mean "route"?"#)
    }

    @Test func test_unknownMatchKey_listsMatchKeys() {
        expectError("""
            [[route]]
            name = "a"
            match = { host = ["a.example.com"] }
            action = "terminate"
            """, .unknownKey, keyPath: #"[[route]] #1 ("a").match.host"#, line: 3, fix: "sni, alpn, source, listener")
    }

    @Test func test_numberForString_suggestsQuoting() {
        expectError("""
            [tls]
            min_version = 1.3
            """, .wrongType, keyPath: "[tls].min_version", line: 2, fix: #"quote it: min_version = "1.3""#)
    }

    @Test func test_quotedInteger_suggestsRemovingQuotes() {
        expectError("""
            [server]
            max_connections = "5000"
            """, .wrongType, keyPath: "[server].max_connections", line: 2, fix: "remove the quotes: max_connections = 5000")
    }

    @Test func test_stringForList_suggestsBrackets() {
        expectError("""
            [server]
            listen = "0.0.0.0:443"
            """, .wrongType, keyPath: "[server].listen", line: 2, fix: #"listen = ["0.0.0.0:443"]"#)
    }

    @Test func test_routeAsSingleTable_asksForDoubleBrackets() {
        expectError("""
            [route]
            name = "a"
            """, .wrongType, keyPath: "[route]", line: 1, fix: "[[route]]")
    }

    @Test func test_missingAction_isMissingKey() {
        expectError("""
            [[route]]
            name = "a"
            upstream = "127.0.0.1:10943"
            """, .missingKey, keyPath: #"[[route]] #1 ("a").action"#, line: 1, fix: #"action = "passthrough""#)
    }

    // MARK: values

    @Test func test_upstreamWithoutPort_isBadAddressWithExample() {
        let toml = """
            [server]
            listen = ["0.0.0.0:443"]

            [[route]]
            name = "agents"
            action = "passthrough"
            upstream = "localhost"
            """
        let error = expectError(toml, .badAddress, keyPath: #"[[route]] #1 ("agents").upstream"#, line: 7,
                                fix: #"expected "host:port", e.g. "127.0.0.1:10943""#)
        #expect(error?.description.contains(#"porthole.toml:7: [[route]] #1 ("agents").upstream: "localhost" has no port"#) == true)
    }

    @Test func test_unbracketedIPv6Listen_suggestsBrackets() {
        expectError("""
            [server]
            listen = [
              "0.0.0.0:443",
              "2001:db8::1:443",
            ]
            """, .badAddress, keyPath: "[server].listen[1]", line: 4, fix: #""[2001:db8::1]:443""#)
    }

    @Test func test_hostNameListener_asksForIPAddress() {
        expectError("""
            [[listener]]
            name = "public"
            address = "portal.example.com:443"
            """, .badAddress, keyPath: #"[[listener]] #1 ("public").address"#, line: 3, fix: #""0.0.0.0:443""#)
    }

    @Test func test_durationWithoutUnit_isBadDuration() {
        expectError("""
            [server]
            grace_period = "30"
            """, .badDuration, keyPath: "[server].grace_period", line: 2, fix: "ms, s, m or h")
    }

    @Test func test_durationWithUnknownUnit_isBadDuration() {
        let error = expectError("""
            [polling]
            collection_timeout = "2min"
            """, .badDuration, keyPath: "[polling].collection_timeout", line: 2, fix: #"collection_timeout = "2m""#)
        #expect(error?.problem.contains("min") == true)
    }

    @Test func test_unparsableSize_isBadSize() {
        expectError("""
            [portal]
            max_body = "100 MBs"
            """, .badSize, keyPath: "[portal].max_body", line: 2, fix: "B, KB, MB or GB", #"max_body = "100MB""#)
    }

    @Test func test_outOfRangeInteger_givesRange() {
        expectError("""
            [server]
            https_port = 70000
            """, .valueOutOfRange, keyPath: "[server].https_port", line: 2, fix: "from 1 to 65535")
    }

    @Test func test_unknownEnumValue_listsAllowedValues() {
        expectError("""
            [log]
            level = "verbose"
            """, .unknownValue, keyPath: "[log].level", line: 2,
            fix: #"allowed values: "trace", "debug", "info", "notice", "warning", "error", "critical""#)
    }

    @Test func test_misspelledEnumValue_suggestsClosest() {
        expectError("""
            [server]
            plain_http = "redirects"
            """, .unknownValue, keyPath: "[server].plain_http", line: 2, fix: #"did you mean "redirect"?"#, #""reject""#)
    }

    @Test func test_tls12CipherInCiphersuites_isRejected() {
        expectError("""
            [tls]
            ciphersuites = "ECDHE-RSA-AES256-GCM-SHA384"
            """, .unknownValue, keyPath: "[tls].ciphersuites", line: 2, fix: "go in ciphers")
    }

    @Test func test_badCIDRPrefix_isBadCIDR() {
        expectError("""
            [[route]]
            name = "office"
            match = { source = ["192.0.2.0/24", "10.0.0.0/33"] }
            action = "terminate"
            """, .badCIDR, keyPath: #"[[route]] #1 ("office").match.source[1]"#, line: 3, fix: #""10.0.0.0/8""#)
    }

    @Test func test_truncatedCIDRAddress_isBadCIDR() {
        expectError("""
            [[listener]]
            name = "lb"
            address = "0.0.0.0:8443"
            proxy_protocol = "required"
            proxy_trusted = ["10.0/8"]
            """, .badCIDR, keyPath: #"[[listener]] #1 ("lb").proxy_trusted[0]"#, line: 5, fix: "address block")
    }

    @Test func test_thumbprintWithSeparators_suggestsStrippedForm() {
        expectError("""
            [polling]
            trusted_thumbprints = [
              "0123456789ABCDEF0123456789ABCDEF01234567",
              "01 23 45 67 89 ab cd ef 01 23 45 67 89 ab cd ef 01 23 45 67",
            ]
            """, .badThumbprint, keyPath: "[polling].trusted_thumbprints[1]", line: 4,
            fix: #"remove the separators: "0123456789ABCDEF0123456789ABCDEF01234567""#)
    }

    @Test func test_shortThumbprint_saysFortyHexDigits() {
        let error = expectError("""
            [[polling.agent]]
            subscription = "poll://abcdefghij0123456789/"
            thumbprint = "0123456789ABCDEF"
            """, .badThumbprint, keyPath: "[[polling.agent]] #1.thumbprint", line: 3, fix: "40 hex digits")
        #expect(error?.problem.contains("16") == true)
    }

    @Test func test_thumbprintWithInvisibleMark_isExplained() {
        let error = expectError("""
            [polling]
            trusted_thumbprints = ["\u{200E}0123456789ABCDEF0123456789ABCDEF01234567"]
            """, .badThumbprint, keyPath: "[polling].trusted_thumbprints[0]", line: 2,
            fix: #"remove the invisible character: "0123456789ABCDEF0123456789ABCDEF01234567""#)
        #expect(error?.problem.contains("invisible") == true)
    }

    @Test func test_wildcardInsideLabel_isBadServerName() {
        expectError("""
            [[route]]
            name = "web"
            match = { sni = ["www*.example.com"] }
            action = "terminate"
            """, .badServerName, keyPath: #"[[route]] #1 ("web").match.sni[0]"#, line: 3, fix: #""*.example.com""#)
    }

    @Test func test_noneInTLSALPN_isBadALPN() {
        expectError("""
            [tls]
            alpn = ["h2", "none"]
            """, .badALPN, keyPath: "[tls].alpn[1]", line: 2, fix: #"["h2", "http/1.1"]"#)
    }

    @Test func test_httpsPortalUpstream_isBadURL() {
        expectError("""
            [portal]
            upstream = "https://127.0.0.1:8443"
            """, .badURL, keyPath: "[portal].upstream", line: 2, fix: #""http://127.0.0.1:8080""#)
    }

    @Test func test_relativeStatePath_isBadPath() {
        expectError("""
            [server]
            state_dir = "state"
            """, .badPath, keyPath: "[server].state_dir", line: 2, fix: "absolute path")
    }

    @Test func test_badSubscription_showsPollURL() {
        expectError("""
            [[polling.agent]]
            subscription = "abcdefghij0123456789"
            thumbprint = "0123456789ABCDEF0123456789ABCDEF01234567"
            """, .badSubscription, keyPath: "[[polling.agent]] #1.subscription", line: 2, fix: "poll://")
    }

    @Test func test_headerValueWithNewline_isBadHeader() {
        expectError(#"""
            [polling]
            friendly_headers = { "X-Note" = "a\r\nSet-Cookie: x=1" }
            """#, .badHeader, keyPath: "[polling].friendly_headers.X-Note", line: 2, fix: "one line")
    }

    // MARK: certificates

    @Test func test_certWithoutKey_asksForKey() {
        expectError("""
            [[certificate]]
            name = "main"
            cert = "/etc/porthole/server.pem"
            sni = ["portal.example.com"]
            """, .certificateWithoutKey, keyPath: #"[[certificate]] #1 ("main").cert"#, line: 3,
            fix: #"add key = "/etc/porthole/server.key""#)
    }

    @Test func test_keyWithoutCert_asksForCert() {
        expectError("""
            [[certificate]]
            name = "main"
            key = "/etc/porthole/server.key"
            """, .keyWithoutCertificate, keyPath: #"[[certificate]] #1 ("main").key"#, line: 3, fix: "add cert =")
    }

    @Test func test_bothPEMAndPFX_isConflict() {
        expectError("""
            [[certificate]]
            name = "main"
            cert = "/etc/porthole/server.pem"
            key = "/etc/porthole/server.key"
            pfx = "/etc/porthole/server.pfx"
            password_file = "/etc/porthole/pfx.pass"
            """, .conflictingCertificateSources, keyPath: #"[[certificate]] #1 ("main").pfx"#, line: 5,
            fix: "either cert + key", "not both")
    }

    @Test func test_pfxWithoutPasswordFile_asksForPasswordFile() {
        expectError("""
            [[certificate]]
            name = "agents"
            pfx = "/etc/porthole/server.pfx"
            """, .pfxWithoutPasswordFile, keyPath: #"[[certificate]] #1 ("agents").pfx"#, line: 3,
            fix: #"add password_file = "/etc/porthole/pfx.pass""#)
    }

    @Test func test_passwordFileWithPEM_isRejected() {
        expectError("""
            [[certificate]]
            password_file = "/etc/porthole/pfx.pass"
            """, .passwordFileWithoutPFX, keyPath: "[[certificate]] #1.password_file", line: 2, fix: "remove password_file")
    }

    @Test func test_certificateWithoutFiles_namesBothForms() {
        expectError("""
            [[certificate]]
            name = "main"
            sni = ["portal.example.com"]
            """, .missingCertificateSource, keyPath: #"[[certificate]] #1 ("main")"#, line: 1, fix: "cert =", "pfx =")
    }

    // MARK: names and references

    @Test func test_duplicateCertificateName_pointsAtSecond() {
        expectError("""
            [[certificate]]
            name = "main"
            cert = "/a.pem"
            key = "/a.key"

            [[certificate]]
            name = "main"
            pfx = "/b.pfx"
            password_file = "/b.pass"
            """, .duplicateName, keyPath: #"[[certificate]] #2 ("main").name"#, line: 7, fix: "unique name")
    }

    @Test func test_duplicateRouteName_pointsAtSecond() {
        let error = expectError("""
            [[route]]
            name = "web"
            action = "terminate"

            [[route]]
            name = "web"
            action = "passthrough"
            upstream = "127.0.0.1:8443"
            """, .duplicateName, keyPath: #"[[route]] #2 ("web").name"#, line: 6, fix: "unique name")
        #expect(error?.problem.contains(#"[[route]] #1 ("web")"#) == true)
    }

    @Test func test_duplicateListenerName_includesShorthandNames() {
        expectError("""
            [server]
            listen = ["0.0.0.0:443"]

            [[listener]]
            name = "listen-1"
            address = "0.0.0.0:10943"
            mode = "polling"
            """, .duplicateName, keyPath: #"[[listener]] #1 ("listen-1").name"#, line: 5, fix: "unique name")
    }

    @Test func test_duplicateListenerAddress_isRejected() {
        expectError("""
            [server]
            listen = ["0.0.0.0:443", "0.0.0.0:443"]
            """, .duplicateAddress, keyPath: "[server].listen[1]", line: 2, fix: "once")
    }

    @Test func test_routeNamingUnknownCertificate_listsCertificates() {
        expectError("""
            [[certificate]]
            name = "main"
            cert = "/a.pem"
            key = "/a.key"

            [[route]]
            name = "portal"
            action = "terminate"
            certificate = "mian"
            """, .unknownReference, keyPath: #"[[route]] #1 ("portal").certificate"#, line: 9,
            fix: #"did you mean "main"?"#)
    }

    @Test func test_routeNamingCertificateWithNoneConfigured_mentionsSelfSigned() {
        expectError("""
            [[route]]
            name = "portal"
            action = "terminate"
            certificate = "main"
            """, .unknownReference, keyPath: #"[[route]] #1 ("portal").certificate"#, line: 4, fix: "self-signed")
    }

    @Test func test_routeNamingUnknownListener_listsListeners() {
        expectError("""
            [server]
            listen = ["0.0.0.0:443"]

            [[listener]]
            name = "internal"
            address = "10.0.0.5:443"

            [[route]]
            name = "inside"
            match = { listener = ["interna"] }
            action = "terminate"
            """, .unknownReference, keyPath: #"[[route]] #1 ("inside").match.listener[0]"#, line: 10,
            fix: #"did you mean "internal"?"#, #""listen-1""#)
    }

    @Test func test_onSniffTimeoutNamingUnknownRoute_isUnknownReference() {
        expectError("""
            [server]
            on_sniff_timeout = "ssh"

            [[route]]
            name = "portal"
            action = "terminate"
            """, .unknownReference, keyPath: "[server].on_sniff_timeout", line: 2, fix: #""close", "portal""#)
    }

    // MARK: routes

    @Test func test_passthroughWithoutUpstream_asksForUpstream() {
        expectError("""
            [[route]]
            name = "agents"
            match = { alpn = ["none"] }
            action = "passthrough"
            """, .passthroughWithoutUpstream, keyPath: #"[[route]] #1 ("agents").upstream"#, line: 1,
            fix: #"add upstream = "127.0.0.1:10943""#)
    }

    @Test func test_terminateOnlyKeyOnPassthrough_isRejected() {
        expectError("""
            [[route]]
            name = "agents"
            action = "passthrough"
            upstream = "127.0.0.1:10943"
            client_certificate = "request"
            """, .keyNotForAction, keyPath: #"[[route]] #1 ("agents").client_certificate"#, line: 5,
            fix: "remove client_certificate", #"action = "terminate""#)
    }

    @Test func test_passthroughOnlyKeyOnTerminate_isRejected() {
        expectError("""
            [[route]]
            name = "portal"
            action = "terminate"
            upstream = "127.0.0.1:8080"
            """, .keyNotForAction, keyPath: #"[[route]] #1 ("portal").upstream"#, line: 4, fix: "remove upstream")
    }

    @Test func test_emptyMatchList_explainsItMatchesNothing() {
        expectError("""
            [[route]]
            name = "x"
            match = { sni = [] }
            action = "terminate"
            """, .emptyList, keyPath: #"[[route]] #1 ("x").match.sni"#, line: 3, fix: "remove sni to match any")
    }

    // MARK: TLS, listeners, admin

    @Test func test_legacyVersionWithoutOptIn_isRejected() {
        expectError("""
            [tls]
            min_version = "1.0"
            """, .legacyTLSVersion, keyPath: "[tls].min_version", line: 2, fix: "legacy_versions = true", #"min_version = "1.2""#)
    }

    @Test func test_legacyVersionWithOptIn_loads() {
        let loaded = loadValid("""
            [tls]
            min_version = "1.1"
            legacy_versions = true
            """)
        #expect(loaded?.configuration.tls.minVersion == .v1_1)
    }

    @Test func test_emptyListenWithoutListeners_isRejected() {
        expectError("""
            [server]
            listen = []
            """, .emptyList, keyPath: "[server].listen", line: 2, fix: "remove listen to use the defaults")
    }

    @Test func test_emptyListenWithLongFormListeners_loads() {
        let loaded = loadValid("""
            [server]
            listen = []

            [[listener]]
            address = "127.0.0.1:8443"
            """)
        #expect(loaded?.configuration.listeners.map(\.name) == ["listener-1"])
    }

    @Test func test_proxyRequiredWithoutTrustedSources_isRejected() {
        expectError("""
            [[listener]]
            name = "lb"
            address = "0.0.0.0:443"
            proxy_protocol = "required"
            """, .proxyRequiredWithoutTrustedSources, keyPath: #"[[listener]] #1 ("lb").proxy_protocol"#, line: 4,
            fix: #"proxy_trusted = ["10.0.0.0/8"]"#)
    }

    @Test func test_proxyOptionalWithoutTrustedSources_warns() {
        expectWarning("""
            [[listener]]
            name = "lb"
            address = "0.0.0.0:443"
            proxy_protocol = "optional"
            proxy_trusted = []
            """, .proxyOptionalWithoutTrustedSources, keyPath: #"[[listener]] #1 ("lb").proxy_protocol"#, line: 4,
            fix: "proxy_trusted")
    }

    @Test func test_emptyUpstream_isEmptyValue() {
        expectError("""
            [[route]]
            name = "agents"
            action = "passthrough"
            upstream = ""
            """, .emptyValue, keyPath: #"[[route]] #1 ("agents").upstream"#, line: 4, fix: #"upstream = "127.0.0.1:10943""#)
    }

    @Test func test_routeOnlyOnPollingListener_warns() {
        expectWarning("""
            [[listener]]
            name = "polling"
            address = "0.0.0.0:10943"
            mode = "polling"

            [[route]]
            name = "agents"
            match = { listener = ["polling"] }
            action = "terminate"
            """, .routeOnPollingListener, keyPath: #"[[route]] #1 ("agents").match.listener"#, line: 8,
            fix: #"mode = "shared""#)
    }

    @Test func test_adminOnPublicAddressWithoutToken_warns() {
        expectWarning("""
            [admin]
            listen = "0.0.0.0:9090"
            """, .adminWithoutToken, keyPath: "[admin].listen", line: 2, fix: "token_file")
    }

    @Test func test_adminOnPublicAddressWithToken_doesNotWarn() {
        let loaded = loadValid("""
            [admin]
            listen = "[::]:9090"
            token_file = "/etc/porthole/admin.token"
            """)
        #expect(loaded?.warnings.isEmpty == true)
    }

    @Test func test_cidrWithHostBits_warnsAndMasks() {
        let warning = expectWarning("""
            [[route]]
            name = "office"
            match = { source = ["192.0.2.77/24"] }
            action = "terminate"
            """, .hostBitsSet, keyPath: #"[[route]] #1 ("office").match.source[0]"#, line: 3,
            fix: #""192.0.2.0/24""#, #""192.0.2.77""#)
        #expect(warning != nil)
    }

    // MARK: reporting

    @Test func test_severalMistakes_areAllReportedInFileOrder() {
        let failure = loadErrors("""
            [server]
            grace_period = "soon"

            [log]
            level = "loud"

            [[route]]
            name = "agents"
            action = "passthrough"
            """)
        #expect(failure?.errors.map(\.kind) == [.badDuration, .unknownValue, .passthroughWithoutUpstream])
        #expect(failure?.errors.map(\.line) == [2, 5, 7])
        #expect(failure?.description.hasSuffix("3 errors in configuration") == true)
    }

    @Test func test_unreadableFile_namesPath() {
        do {
            _ = try ConfigurationLoader.load(path: "/nonexistent/porthole.toml")
            Issue.record("expected failure")
        } catch {
            #expect(error.errors.first?.kind == .fileUnreadable)
            #expect(error.errors.first?.description.hasPrefix("/nonexistent/porthole.toml: ") == true)
        }
    }
}
