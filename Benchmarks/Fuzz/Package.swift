// swift-tools-version: 6.1
// libFuzzer targets for Errand's parsers: the SSE parser, stream event decoding and accumulation, the agent spec and
// command manifest readers, tool arguments against a JSON Schema, and HTML extraction. A package of its own so that
// neither CI nor users of Errand ever build it. Build and run with `Benchmarks/fuzz.sh` (see README.md); by hand:
//     swift build -c release --sanitize=fuzzer --scratch-path ../../.build-fuzz
//     ../../.build-fuzz/release/fuzz-sse corpus/fuzz-sse -max_total_time=60
// Each target defines LLVMFuzzerTestOneInput and no `main`: its one file is not named main.swift, so it is parsed as
// a library, and libFuzzer's runtime (linked by -sanitize=fuzzer) supplies `main`.
import PackageDescription

let package = Package(
    name: "ErrandFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Errand", path: "../.."),
    ],
    targets: [
        .executableTarget(name: "fuzz-sse", dependencies: [.product(name: "ResponsesAPI", package: "Errand")]),
        .executableTarget(name: "fuzz-events", dependencies: [.product(name: "ResponsesAPI", package: "Errand")]),
        .executableTarget(
            name: "fuzz-spec",
            dependencies: [.product(name: "ErrandSpec", package: "Errand"), .product(name: "ResponsesAPI", package: "Errand")]
        ),
        .executableTarget(
            name: "fuzz-manifest",
            dependencies: [.product(name: "ErrandSpec", package: "Errand"), .product(name: "ResponsesAPI", package: "Errand")]
        ),
        .executableTarget(
            name: "fuzz-arguments",
            dependencies: [.product(name: "ErrandCore", package: "Errand"), .product(name: "ResponsesAPI", package: "Errand")]
        ),
        .executableTarget(name: "fuzz-html", dependencies: [.product(name: "HTMLExtract", package: "Errand")]),
    ]
)

for target in package.targets {
    var settings = target.swiftSettings ?? []
    settings.append(.swiftLanguageMode(.v6))
    // The files define no `main` (libFuzzer's runtime has it): read them as libraries whatever SwiftPM's heuristic says.
    settings.append(.unsafeFlags(["-parse-as-library"]))
    target.swiftSettings = settings
}
