// swift-tools-version:6.0
import PackageDescription

// Porthole: a shared-port TLS gateway. See README.md and the module map in
// README's "Source layout" section for what each target is for.
let package = Package(
    name: "porthole",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "porthole", targets: ["porthole"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/LebJe/TOMLKit.git", from: "0.6.0"),
    ],
    targets: [
        // System libraries, linked from Debian's -dev packages.
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CNGHTTP2", pkgConfig: "libnghttp2", providers: [.apt(["libnghttp2-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // glibc's malloc_trim (libc itself; no package).
        .systemLibrary(name: "CMalloc"),

        // Pure parsers and encoders: no NIO, no I/O.
        .target(name: "PortholeWire", dependencies: ["CZlib"]),
        // Configuration model, TOML loading and validation (no I/O beyond reading the file).
        .target(name: "PortholeConfig", dependencies: [
            "PortholeWire",
            .product(name: "TOMLKit", package: "TOMLKit"),
        ]),
        // OpenSSL: contexts, certificates, the TLS handler over memory BIOs.
        .target(name: "PortholeTLS", dependencies: [
            "COpenSSL",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // HTTP/2 server side on nghttp2, driven from memory.
        .target(name: "PortholeHTTP2", dependencies: [
            "CNGHTTP2",
            .product(name: "NIOCore", package: "swift-nio"),
        ]),
        // A byte splice between two channels with backpressure and half-close
        // (passthrough routes, WebSocket after a 101).
        .target(name: "PortholeSplice", dependencies: [
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ]),
        // The web portal: HTTP/1.1 and HTTP/2 reverse proxy to the portal's
        // upstream, WebSocket upgrades, error pages, status page, access log.
        .target(name: "PortholePortal", dependencies: [
            "PortholeWire", "PortholeHTTP2", "PortholeSplice",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // The Halibut polling server: agent sessions, queues, trust, dispatch API.
        .target(name: "PortholePolling", dependencies: [
            "PortholeWire", "PortholeTLS", "PortholeConfig",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOWebSocket", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Listeners, sniff stages, routing, actions, admin API, metrics, lifecycle.
        .target(name: "PortholeGateway", dependencies: [
            "PortholeWire", "PortholeConfig", "PortholeTLS", "PortholeHTTP2", "PortholePolling", "PortholePortal", "PortholeSplice", "CMalloc",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        // A polling agent (the client side of Halibut polling): `porthole agent`, tests, benchmarks.
        .target(name: "PortholeAgent", dependencies: [
            "PortholeWire", "PortholeTLS",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOWebSocket", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "porthole", dependencies: [
            "PortholeAgent", "PortholeGateway", "PortholeConfig", "PortholeTLS", "PortholeWire",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),

        // Shared by the test targets: temp dirs, running real peers (openssl,
        // curl, python3) as child processes with timeouts, stopped by pid.
        .target(name: "PortholeTestSupport", path: "Tests/PortholeTestSupport"),

        .testTarget(name: "PortholeWireTests", dependencies: ["PortholeWire"],
                    exclude: ["Halibut/Fixtures", "Sniff/Fixtures"]),
        .testTarget(name: "PortholeConfigTests", dependencies: ["PortholeConfig"]),
        .testTarget(name: "PortholeTLSTests", dependencies: [
            "PortholeTLS", "PortholeTestSupport",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOEmbedded", package: "swift-nio"),
        ], exclude: ["Fixtures"]),
        .testTarget(name: "PortholeAgentTests", dependencies: [
            "PortholeAgent", "PortholeTLS", "PortholeWire", "PortholeTestSupport",
        ], exclude: ["Scripts"]),
        .testTarget(name: "PortholePollingTests", dependencies: [
            "PortholePolling", "PortholeWire",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOEmbedded", package: "swift-nio"),
        ]),
        .testTarget(name: "PortholeGatewayTests", dependencies: [
            "PortholeGateway", "PortholePolling", "PortholeTLS", "PortholeConfig", "PortholeWire", "PortholeTestSupport", "PortholePortal",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "NIOEmbedded", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ], exclude: ["PythonAgent"]),
    ],
    swiftLanguageModes: [.v6]
)
