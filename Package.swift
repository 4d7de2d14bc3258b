// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "Errand",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "ResponsesAPI", targets: ["ResponsesAPI"]),
        .library(name: "ErrandTesting", targets: ["ErrandTesting"]),
        .library(name: "ErrandCore", targets: ["ErrandCore"]),
        .library(name: "ErrandTools", targets: ["ErrandTools"]),
        .library(name: "ErrandSpec", targets: ["ErrandSpec"]),
        .library(name: "HTMLExtract", targets: ["HTMLExtract"]),
        .library(name: "ErrandMCP", targets: ["ErrandMCP"]),
        .library(name: "ErrandProbe", targets: ["ErrandProbe"]),
        .library(name: "ErrandQueue", targets: ["ErrandQueue"]),
        .executable(name: "errand", targets: ["errand"]),
    ],
    dependencies: [
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/modelcontextprotocol/swift-sdk.git", from: "0.12.1"),
        // Child processes with posix_spawn, default signals, process groups and a teardown sequence, on Linux and Darwin.
        .package(url: "https://github.com/swiftlang/swift-subprocess.git", from: "1.0.2"),
        // SIGINT and SIGTERM as an async sequence (no global handler), and the service group that runs the OTLP exporter.
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        // Spans for runs, model calls and tool calls; applications bootstrap their own tracer.
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
        // The CLI's OTLP exporter, over HTTP only (the gRPC trait would build grpc-swift for nothing).
        .package(url: "https://github.com/swift-otel/swift-otel.git", from: "1.6.0", traits: ["OTLPHTTP"]),
        // The queue's and journals' database: PostgreSQL's wire protocol, a connection pool, LISTEN/NOTIFY.
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        // TLS to a managed PostgreSQL (sslmode=require); already built for AsyncHTTPClient.
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        // The Responses API's WebSocket mode. Chosen over hummingbird's swift-websocket because a refused upgrade keeps
        // its HTTP status (401, 404, 426 each mean something different to a user) and because everything it needs
        // (swift-nio, nio-ssl, nio-extras, nio-transport-services, atomics) is already built for AsyncHTTPClient:
        // one small target more. swift-nio's NIOWebSocket alone would mean writing the upgrade, masking, pings and
        // the close handshake again. Measured since (Benchmarks/WebSocketClients, transport only): hummingbird's
        // client costs about a third as much per turn over the floor, so it is the next step for speed, once a
        // refused upgrade's status is found another way.
        .package(url: "https://github.com/vapor/websocket-kit.git", from: "2.16.2"),
    ],
    targets: [
        // Wire types, SSE decoding, transport, retries and the client for the OpenAI Responses API.
        .target(
            name: "ResponsesAPI",
            dependencies: [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "WebSocketKit", package: "websocket-kit"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // libxml2, found with pkg-config (apt: libxml2-dev).
        .systemLibrary(name: "CLibXML2", pkgConfig: "libxml-2.0", providers: [.apt(["libxml2-dev"])]),
        // A libxml2-backed HTML document and the main-content extractor (text, Markdown, title, links, metadata).
        .target(
            name: "HTMLExtract",
            dependencies: ["CLibXML2"],
            // iconv (PageBytes) is in the C library on Linux and in libiconv on macOS.
            linkerSettings: [.linkedLibrary("iconv", .when(platforms: [.macOS]))]
        ),
        // What a server supports, found with a dozen tiny requests (`errand probe`).
        .target(
            name: "ErrandProbe",
            dependencies: [
                "ResponsesAPI",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
            ]
        ),
        // Child processes on swift-subprocess: process groups, teardown, waiting for an exit without reaping. Command
        // tools and MCP servers both start their children here.
        .target(
            name: "ErrandProcess",
            dependencies: [.product(name: "Subprocess", package: "swift-subprocess")]
        ),
        // Run/ (RunState: every rule; RunLoop: the I/O), Journal/ (events, store, policy), Tools/ (protocol, registry,
        // executor), Batch/ (manifests, results), Output/ (JSON shapes and words for runs, journals and batches).
        .target(
            name: "ErrandCore",
            dependencies: [
                "ResponsesAPI",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            // Prices and context windows by model, compiled into the library (no bundle to find at run time).
            resources: [.embedInCode("Budget/models.json")]
        ),
        // Built-in tools (files, command tools) and their workspace sandbox.
        .target(
            name: "ErrandTools",
            dependencies: [
                "ErrandCore", "ErrandProcess", "ResponsesAPI", "HTMLExtract",
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPCompression", package: "swift-nio-extras"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        // Tools from MCP servers: child processes over stdio, with the official MCP swift-sdk as the client.
        .target(
            name: "ErrandMCP",
            dependencies: [
                "ErrandCore", "ErrandProcess", "ResponsesAPI",
                .product(name: "MCP", package: "swift-sdk"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // A small MCP server over stdio written with the same SDK, for the tests (echo, slow, error, crash, silent).
        .executableTarget(
            name: "errand-mcp-fixture",
            dependencies: [.product(name: "MCP", package: "swift-sdk")]
        ),
        // The JSON agent spec: strict decoding, its JSON Schema, command-tool manifests, building a runnable agent.
        .target(
            name: "ErrandSpec",
            dependencies: ["ErrandCore", "ErrandTools", "ErrandMCP", "ResponsesAPI"]
        ),
        // A queue of tasks and every run's journal on PostgreSQL: migrations, submit, leased claims with epoch fencing,
        // workers, and the operator's views.
        .target(
            name: "ErrandQueue",
            dependencies: [
                "ErrandCore", "ErrandSpec", "ErrandMCP", "ResponsesAPI",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // A scripted Responses API server on loopback, for tests, benchmarks and the demo.
        .target(
            name: "ErrandTesting",
            dependencies: [
                "ResponsesAPI",
                "ErrandProcess",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
            ]
        ),
        // The CLI: parses arguments and calls the libraries, nothing more.
        .executableTarget(
            name: "errand",
            dependencies: [
                "ResponsesAPI",
                "ErrandCore",
                "ErrandSpec",
                "ErrandProbe",
                "ErrandQueue",
                "ErrandTesting",
                "ErrandTools",
                "ErrandMCP",
                "HTMLExtract",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "OTel", package: "swift-otel"),
            ]
        ),
        // Benchmarks of the streaming path, each beside a baseline: `swift run -c release errand-bench`.
        .executableTarget(
            name: "errand-bench",
            dependencies: [
                "ResponsesAPI",
                "ErrandCore",
                "ErrandMCP",
                "HTMLExtract",
                "ErrandTesting",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "ResponsesAPITests",
            dependencies: ["ResponsesAPI", "ErrandTesting"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "ErrandProbeTests",
            dependencies: ["ErrandProbe", "ResponsesAPI", "ErrandTesting"]
        ),
        .testTarget(
            name: "ErrandCoreTests",
            dependencies: [
                "ErrandCore", "ErrandTesting", "ResponsesAPI",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
            ]
        ),
        .testTarget(
            name: "ErrandToolsTests",
            dependencies: ["ErrandTools", "ErrandCore", "ErrandTesting", "ResponsesAPI", .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(
            name: "ErrandSpecTests",
            dependencies: [
                "ErrandSpec", "ErrandCore", "ErrandTools", "ErrandMCP", "ErrandTesting", "ResponsesAPI",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "ErrandMCPTests",
            dependencies: [
                "ErrandMCP", "ErrandCore", "ErrandSpec", "ErrandTools", "ErrandTesting", "ResponsesAPI", "errand-mcp-fixture",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "MCP", package: "swift-sdk"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "ErrandQueueTests",
            dependencies: [
                "ErrandQueue", "ErrandCore", "ErrandSpec", "ErrandTesting", "ResponsesAPI",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "HTMLExtractTests",
            dependencies: ["HTMLExtract", "ErrandTesting"]
        ),
        .testTarget(
            name: "ErrandTestingTests",
            dependencies: [
                "ErrandTesting", "ResponsesAPI",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ]
        ),
        // Runs the built `errand` binary as a user would.
        .testTarget(
            name: "errandTests",
            dependencies: [
                "errand", "errand-mcp-fixture", "ErrandTesting", "ResponsesAPI", "ErrandCore", "ErrandQueue",
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),
    ]
)

// Strict settings for every target, in one place (as swift-log does).
for target in package.targets where [.executable, .test, .regular].contains(target.type) {
    var settings = target.swiftSettings ?? []
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    settings.append(.enableUpcomingFeature("MemberImportVisibility"))
    settings.append(.swiftLanguageMode(.v6))
    target.swiftSettings = settings
}
