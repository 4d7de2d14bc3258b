// swift-tools-version: 6.1
// The WebSocket clients Errand could use, side by side on the loopback floor, transport only: a package of its own so
// that neither CI nor users build the one Errand does not use. See main.swift for the usage.
import PackageDescription
let package = Package(
    name: "WebSocketClients",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(url: "https://github.com/vapor/websocket-kit.git", from: "2.16.2"),
        .package(url: "https://github.com/hummingbird-project/swift-websocket.git", from: "1.6.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        .executableTarget(name: "ws-clients", dependencies: [
            .product(name: "WebSocketKit", package: "websocket-kit"),
            .product(name: "WSClient", package: "swift-websocket"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ]),
    ]
)
