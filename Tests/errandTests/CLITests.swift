import ErrandTesting
import Foundation
import ResponsesAPI
import Testing

/// The `errand` binary, run as a user runs it, against the scripted server.
@Suite struct CLITests {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static var binary: URL {
        // The test bundle and the executable are built side by side.
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("errand")
    }

    /// Runs the binary on a thread of its own: waiting on a child blocks, and the cooperative pool must stay free for
    /// the scripted server in this process that the child talks to.
    func run(_ arguments: [String], environment: [String: String] = [:], stdin: String? = nil) async throws -> Result {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(with: Swift.Result { try Self.runBlocking(arguments, environment: environment, stdin: stdin) })
            }
        }
    }

    private static func runBlocking(_ arguments: [String], environment: [String: String], stdin: String?) throws -> Result {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        var env = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"]
        for (key, value) in environment { env[key] = value }
        process.environment = env
        let out = Pipe()
        let err = Pipe()
        let input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self), stderr: String(decoding: stderr, as: UTF8.self))
    }

    @Test func theBinaryIsBuilt() {
        #expect(FileManager.default.isExecutableFile(atPath: Self.binary.path), "expected errand at \(Self.binary.path)")
    }

    @Test func respondStreamsTheAnswer() async throws {
        try await ScriptedResponsesServer.withServer([.message("The moon hums.")]) { server in
            let result = try await run(["respond", "--base-url", server.baseURL, "--model", "m", "Write a poem about the moon."], environment: ["OPENAI_API_KEY": "k"])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout == "The moon hums.\n")
            let request = try #require(server.createRequests.first)
            #expect(request.body?["input"] == "Write a poem about the moon.")
            #expect(request.body?["stream"] == true)
        }
    }

    @Test func respondWithoutStreamingAndJSON() async throws {
        try await ScriptedResponsesServer.withServer([.message("plain"), .message("as json")]) { server in
            let plain = try await run(["respond", "--no-stream", "--base-url", server.baseURL, "--instructions", "terse", "--max-output-tokens", "40", "hi"])
            #expect(plain.status == 0)
            #expect(plain.stdout == "plain\n")
            #expect(server.createRequests[0].body?["stream"] == nil)
            #expect(server.createRequests[0].body?["instructions"] == "terse")
            #expect(server.createRequests[0].body?["max_output_tokens"] == 40)
            let json = try await run(["respond", "--json", "--base-url", server.baseURL, "-"], stdin: "from stdin\n")
            #expect(json.status == 0)
            let response = try JSONValue(parsing: json.stdout)
            #expect(response["output"]?[0]?["content"]?[0]?["text"] == "as json")
            #expect(server.createRequests[1].body?["input"] == "from stdin")
        }
    }

    @Test func aProviderFailureExitsOneWithOneLine() async throws {
        try await ScriptedResponsesServer.withServer([.error(status: 401, message: "Incorrect API key provided.", code: "invalid_api_key")]) { server in
            let result = try await run(["respond", "--base-url", server.baseURL, "hi"], environment: ["OPENAI_API_KEY": "sk-secret-value"])
            #expect(result.status == 1)
            #expect(result.stderr.contains("HTTP 401"))
            #expect(result.stderr.contains("Incorrect API key provided."))
            #expect(!result.stderr.contains("sk-secret-value"))
            #expect(result.stderr.split(separator: "\n").count == 1)
        }
    }

    @Test func aMissingKeyForAPresetExitsOne() async throws {
        let result = try await run(["respond", "--provider", "mume", "hi"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("MUME_API_KEY"))
    }

    @Test func usageErrorsExitTwo() async throws {
        let unknownFlag = try await run(["respond", "--bogus", "hi"])
        #expect(unknownFlag.status == 2)
        let badProvider = try await run(["respond", "--provider", "nowhere", "hi"])
        #expect(badProvider.status == 2)
        #expect(badProvider.stderr.contains("unknown provider 'nowhere'"))
    }

    @Test func demoRunsWithNoKeyAndNoNetwork() async throws {
        let journals = FileManager.default.temporaryDirectory.appendingPathComponent("errand-demo-\(UUID().uuidString)")
        let result = try await run(["demo", "--journal-dir", journals.path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("scripted server"))
        #expect(result.stderr.contains("↳ read_file"))
        #expect(result.stderr.contains("✓ completed: 3 turns, 3 tool calls"))
        #expect(result.stdout.contains("From what I read here"))
        let files = try FileManager.default.contentsOfDirectory(atPath: journals.path)
        #expect(files.count == 1 && files[0].hasSuffix(".jsonl"))
    }
}
