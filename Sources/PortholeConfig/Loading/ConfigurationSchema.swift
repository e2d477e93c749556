/// The keys each table may contain, with an example value for each, used to
/// reject unknown keys (with a suggestion) and to write the fix for a value
/// of the wrong type. `conf/porthole.toml` documents the same keys.
enum ConfigurationSchema {
    struct Section {
        /// How the section is written: `[server]`, `[[route]]`, `match = { … }`.
        let display: String
        /// Key → example value as TOML text.
        let keys: KeyValuePairs<String, String>

        var keyNames: [String] { keys.map(\.key) }

        func example(for key: String) -> String? {
            keys.first { $0.key == key }?.value
        }
    }

    /// Top-level keys: tables and arrays of tables.
    static let root = Section(display: "the top level", keys: [
        "server": "[server]", "listener": "[[listener]]", "tls": "[tls]", "certificate": "[[certificate]]",
        "log": "[log]", "admin": "[admin]", "route": "[[route]]", "portal": "[portal]", "polling": "[polling]",
    ])

    static let sections: [String: Section] = [
        "server": Section(display: "[server]", keys: [
            "listen": #"["0.0.0.0:443", "[::]:443"]"#,
            "state_dir": #""/var/lib/porthole""#,
            "grace_period": #""30s""#,
            "sniff_timeout": #""5s""#,
            "sniff_max_bytes": "16384",
            "plain_http": #""redirect""#,
            "https_port": "443",
            "on_sniff_timeout": #""close""#,
            "max_connections": "100000",
        ]),
        "listener": Section(display: "[[listener]]", keys: [
            "name": #""public""#,
            "address": #""0.0.0.0:443""#,
            "proxy_protocol": #""off""#,
            "proxy_trusted": #"["10.0.0.0/8"]"#,
            "mode": #""shared""#,
        ]),
        "tls": Section(display: "[tls]", keys: [
            "min_version": #""1.2""#,
            "legacy_versions": "false",
            "ciphers": #""ECDHE-RSA-AES256-GCM-SHA384""#,
            "ciphersuites": #""TLS_AES_128_GCM_SHA256""#,
            "groups": #"["X25519", "P-256"]"#,
            "alpn": #"["h2", "http/1.1"]"#,
            "session_tickets": "true",
            "handshake_timeout": #""10s""#,
        ]),
        "certificate": Section(display: "[[certificate]]", keys: [
            "name": #""main""#,
            "cert": #""/etc/porthole/server.pem""#,
            "key": #""/etc/porthole/server.key""#,
            "pfx": #""/etc/porthole/server.pfx""#,
            "password_file": #""/etc/porthole/pfx.pass""#,
            "sni": #"["portal.example.com", "*.example.com"]"#,
        ]),
        "log": Section(display: "[log]", keys: [
            "level": #""info""#,
            "format": #""text""#,
            "access_log": "true",
        ]),
        "admin": Section(display: "[admin]", keys: [
            "listen": #""127.0.0.1:9090""#,
            "token_file": #""/etc/porthole/admin.token""#,
        ]),
        "route": Section(display: "[[route]]", keys: [
            "name": #""agents""#,
            "match": #"{ sni = ["tentacle.example.com"] }"#,
            "action": #""passthrough""#,
            "upstream": #""127.0.0.1:10943""#,
            "proxy_protocol": #""off""#,
            "connect_timeout": #""5s""#,
            "certificate": #""main""#,
            "alpn": #"["h2", "http/1.1"]"#,
            "client_certificate": #""auto""#,
        ]),
        "route.match": Section(display: "[[route]] match", keys: [
            "sni": #"["tentacle.example.com"]"#,
            "alpn": #"["none"]"#,
            "source": #"["192.0.2.0/24"]"#,
            "listener": #"["public"]"#,
        ]),
        "portal": Section(display: "[portal]", keys: [
            "upstream": #""http://127.0.0.1:8080""#,
            "status_path": #""/porthole/status""#,
            "connect_timeout": #""5s""#,
            "response_timeout": #""60s""#,
            "idle_timeout": #""120s""#,
            "max_body": #""100MB""#,
            "max_header_bytes": "65536",
            "max_concurrent_streams": "100",
        ]),
        "polling": Section(display: "[polling]", keys: [
            "comms_path": #""/OctopusComms""#,
            "trusted_thumbprints": #"["0123456789ABCDEF0123456789ABCDEF01234567"]"#,
            "trust_file": #""/etc/porthole/trusted-agents.txt""#,
            "keepalive_interval": #""30s""#,
            "collection_timeout": #""2m""#,
            "response_timeout": #""10m""#,
            "next_timeout": #""60s""#,
            "max_message_size": #""64MB""#,
            "max_connections_per_subscription": "16",
            "friendly_html": #""<html><body><p>Hello!</p></body></html>""#,
            "friendly_headers": #"{ "X-Frame-Options" = "DENY" }"#,
            "agent": "[[polling.agent]]",
        ]),
        "polling.agent": Section(display: "[[polling.agent]]", keys: [
            "subscription": #""poll://abcdefghij0123456789/""#,
            "thumbprint": #""0123456789ABCDEF0123456789ABCDEF01234567""#,
        ]),
    ]

    /// Other sections that have a key with this exact name, for "this key
    /// belongs in [tls]" hints when a key is put in the wrong table.
    static func sectionsContaining(_ key: String, except section: String) -> [String] {
        sections.filter { $0.key != section && $0.value.example(for: key) != nil }
            .map(\.value.display).sorted()
    }
}

/// Levenshtein distance, for "did you mean" suggestions; inputs are short
/// key and enum names, so the quadratic table is fine.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a.lowercased().unicodeScalars)
    let b = Array(b.lowercased().unicodeScalars)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previous = Array(0...b.count)
    var current = previous
    for i in 1...a.count {
        current[0] = i
        for j in 1...b.count {
            let substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
            current[j] = min(previous[j] + 1, current[j - 1] + 1, substitution)
        }
        swap(&previous, &current)
    }
    return previous[b.count]
}

/// The closest candidate, if it is close enough to be a plausible typo
/// (a third of the word, at least 2 edits; hyphen/underscore mix-ups count
/// as one edit each).
func closestMatch(to word: String, in candidates: [String]) -> String? {
    let scored = candidates.map { ($0, editDistance(word, $0)) }
    guard let best = scored.min(by: { $0.1 < $1.1 }) else { return nil }
    return best.1 <= max(2, word.count / 3) ? best.0 : nil
}
