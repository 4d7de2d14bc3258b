// swift-tools-version: 6.1
// Micro-benchmarks of Errand's per-request path in the ecosystem's harness (ordo-one/package-benchmark). A package of
// its own so that neither CI nor users of Errand ever build it. Run from this folder:
//     swift package benchmark                      (wall clock, CPU, mallocs, instructions where the kernel exposes them)
//     swift package benchmark baseline update main; …change…; swift package benchmark baseline compare main
import PackageDescription

let package = Package(
    name: "ErrandBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Errand", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        .executableTarget(
            name: "ErrandBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "ResponsesAPI", package: "Errand"),
                .product(name: "ErrandCore", package: "Errand"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Benchmarks/ErrandBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        )
    ]
)
