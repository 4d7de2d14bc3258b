import ErrandMCP
import Foundation
import Logging
import ResponsesAPI

/// Calls of a remote MCP server's tool over Streamable HTTP through errand's client (the SDK's `Client` on
/// ``StreamableHTTPTransport``, as a run uses it), one at a time and eight at once: the per-call cost a run pays.
/// `Benchmarks/scripts/remote-mcp.sh` runs it beside the reference Python SDK's client against the same server.
enum RemoteMCPBenchmark {
    static func run(_ arguments: [String]) async throws {
        guard let first = arguments.first, let url = URL(string: first) else {
            print("usage: errand-bench mcp URL [calls]   (a Streamable HTTP MCP server with an `add` tool)")
            return
        }
        let calls = arguments.count > 1 ? Int(arguments[1]) ?? 300 : 300
        let logger = Logger(label: "bench") { _ in SwiftLogNoOpLogHandler() }
        let clock = ContinuousClock()
        let connectStart = clock.now
        let server = try await MCPServer.start(MCPServerConfiguration(name: "bench", url: url, allowTools: ["add"]), logger: logger)
        let connect = clock.now - connectStart
        // Warm-up.
        for index in 0..<20 { _ = try await server.call("add", arguments: ["a": .number(Double(index)), "b": 1]) }
        let sequentialStart = clock.now
        for index in 0..<calls {
            let answer = try await server.call("add", arguments: ["a": .number(Double(index)), "b": 1])
            precondition(answer == "\(index + 1)")
        }
        let sequential = clock.now - sequentialStart
        let parallelStart = clock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<8 {
                group.addTask {
                    for index in stride(from: worker, to: calls, by: 8) {
                        _ = try await server.call("add", arguments: ["a": .number(Double(index)), "b": 1])
                    }
                }
            }
            try await group.waitForAll()
        }
        let parallel = clock.now - parallelStart
        await server.stop()
        func ms(_ duration: Duration) -> Double { Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15 }
        print(String(format: "errand   connect+list %7.1f ms   sequential %6.2f ms/call   8 at once %6.0f calls/s", ms(connect), ms(sequential) / Double(calls), Double(calls) / (ms(parallel) / 1000)))
    }
}
