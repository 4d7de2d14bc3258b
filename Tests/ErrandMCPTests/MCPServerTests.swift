import ErrandCore
import ErrandMCP
import Foundation
import ResponsesAPI
import Testing

/// A real MCP server over stdio (the fixture, written with the same SDK): start, list, call, failures, and no child
/// process left behind. Serialized: each test checks that every server process it made is gone.
extension MCPTests {
    @Suite(.timeLimit(.minutes(5))) struct MCPServerTests {
        @Test func startListCallAndStop() async throws {
            let servers = try await MCPServers.start([fixtureConfiguration()], logger: quietLogger)
            let pid = try #require(servers.processIDs.first)
            #expect(isRunning(pid))
            let tools = Dictionary(uniqueKeysWithValues: servers.tools.map { ($0.name, $0) })
            #expect(Set(tools.keys) == ["fx__echo", "fx__add", "fx__slow", "fx__fails", "fx__crash", "fx__picture", "fx__pid", "fx__garble", "fx__lookup_v2"])
            let context = ToolContext(runID: "r", callID: "c", workspace: nil, logger: quietLogger)

            let echo = try #require(tools["fx__echo"])
            #expect(echo.isStrict)
            #expect(try await echo.call(arguments: ["text": "hi"], context: context).text == "echo: hi")

            // An optional property becomes required-but-nullable in strict mode, and the null never reaches the server.
            let add = try #require(tools["fx__add"])
            #expect(add.isStrict)
            #expect(add.parameters["required"] == ["a", "b", "note"])
            #expect(add.parameters["properties"]?["note"]?["type"] == ["string", "null"])
            #expect(add.parameters["additionalProperties"] == false)
            #expect(try await add.call(arguments: ["a": 2, "b": 3, "note": .null], context: context).text == "5")
            #expect(try await add.call(arguments: ["a": 2, "b": 3, "note": "hello"], context: context).text == "5 (hello)")

            // A free-form map cannot be strict: it is passed through as given.
            let lookup = try #require(tools["fx__lookup_v2"])
            #expect(!lookup.isStrict)
            #expect(lookup.parameters["additionalProperties"] == ["type": "string"])
            #expect(try await lookup.call(arguments: ["b": "1", "a": "2"], context: context).text == "keys: a,b")

            let picture = try #require(tools["fx__picture"])
            let shown = try await picture.call(arguments: [:], context: context).text
            #expect(shown.contains("[image: image/png, 300 bytes, not shown]"))
            #expect(shown.contains("[resource file:///notes.txt]\nresource body"))

            // The tool is served by the process we started.
            #expect(try await tools["fx__pid"]!.call(arguments: [:], context: context).text == "\(pid)")

            // An error result is an error for the model, with the server's words.
            await #expect { try await tools["fx__fails"]!.call(arguments: [:], context: context) } throws: { error in
                "\(error)".contains("fx fails returned an error: the repository is locked")
            }
            await servers.stop()
            #expect(!isRunning(pid))
            #expect(leftoverFixtures.isEmpty)
        }

        @Test func aServerThatCrashesMidCallIsAnErrorOutputNotACrash() async throws {
            let servers = try await MCPServers.start([fixtureConfiguration()], logger: quietLogger)
            let pid = try #require(servers.processIDs.first)
            let context = ToolContext(runID: "r", callID: "c", workspace: nil, logger: quietLogger)
            let crash = try #require(servers.tools.first { $0.name == "fx__crash" })
            let started = ContinuousClock.now
            await #expect { try await crash.call(arguments: [:], context: context) } throws: { error in
                let text = "\(error)"
                return text.contains("stopped during the crash call (exit status 7)") && text.contains("crashing on purpose")
            }
            #expect(ContinuousClock.now - started < .seconds(5), "the pending call fails when the server dies, it does not wait")
            // Later calls fail at once too.
            let echo = try #require(servers.tools.first { $0.name == "fx__echo" })
            await #expect(throws: ToolError.self) { try await echo.call(arguments: ["text": "x"], context: context) }
            await servers.stop()
            #expect(!isRunning(pid))
        }

        @Test func garbageOnAServersStdoutFailsThatCallAtItsDeadlineAndTheServerStaysUsable() async throws {
            let servers = try await MCPServers.start([fixtureConfiguration()], logger: quietLogger)
            let context = ToolContext(runID: "r", callID: "c", workspace: nil, logger: quietLogger)
            let garble = try #require(servers.tools.first { $0.name == "fx__garble" })
            let started = ContinuousClock.now
            // The deadline the executor puts on every call, as the slow-call test does.
            await #expect(throws: DeadlineExceeded.self) {
                try await withDeadline(.seconds(1)) { try await garble.call(arguments: [:], context: context) }
            }
            #expect(ContinuousClock.now - started < .seconds(10))
            let echo = try #require(servers.tools.first { $0.name == "fx__echo" })
            let output = try await echo.call(arguments: ["text": "still here"], context: context)
            #expect(output.text == "echo: still here")
            await servers.stop()
            #expect(leftoverFixtures.isEmpty)
        }

        @Test func aServerThatNeverAnswersInitializeTimesOutWithItsStderr() async throws {
            let started = ContinuousClock.now
            await #expect { try await MCPServers.start([fixtureConfiguration(name: "mute", arguments: ["--silent"], startTimeout: .seconds(1))], logger: quietLogger) } throws: { error in
                let text = "\(error)"
                return text.contains("MCP server 'mute' did not start: no answer to initialize and tools/list within 1.0 seconds")
                    && text.contains("raise start_timeout_seconds")
                    && text.contains("listening, answering nothing")
            }
            #expect(ContinuousClock.now - started < .seconds(5))
            #expect(leftoverFixtures.isEmpty, "the silent server was stopped")
        }

        @Test func aServerThatExitsAtOnceIsNamedWithItsStderr() async throws {
            await #expect { try await MCPServers.start([fixtureConfiguration(name: "repo", arguments: ["--fail"])], logger: quietLogger) } throws: { error in
                let text = "\(error)"
                return text.contains("MCP server 'repo' did not start") && text.contains("exit status 3") && text.contains("refusing to start")
            }
            #expect(leftoverFixtures.isEmpty)
        }

        @Test func aRequiredFailureStopsTheOthersAndAnOptionalOneIsSkipped() async throws {
            await #expect(throws: MCPStartError.self) {
                try await MCPServers.start([fixtureConfiguration(name: "good"), fixtureConfiguration(name: "bad", arguments: ["--fail"])], logger: quietLogger)
            }
            #expect(leftoverFixtures.isEmpty, "the server that started was stopped")

            let servers = try await MCPServers.start(
                [fixtureConfiguration(name: "good"), fixtureConfiguration(name: "bad", arguments: ["--fail"], optional: true)], logger: quietLogger)
            #expect(servers.servers.map(\.configuration.name) == ["good"])
            #expect(servers.skipped.count == 1)
            #expect(servers.skipped.first?.contains("MCP server 'bad' did not start") == true)
            #expect(servers.skipped.first?.contains("going on without its tools") == true)
            await servers.stop()
            #expect(leftoverFixtures.isEmpty)
        }

        @Test func allowToolsFiltersAndNamesWhatIsMissing() async throws {
            let servers = try await MCPServers.start([fixtureConfiguration(allowTools: ["echo", "add"])], logger: quietLogger)
            #expect(servers.tools.map(\.name).sorted() == ["fx__add", "fx__echo"])
            await servers.stop()
            await #expect { try await MCPServers.start([fixtureConfiguration(allowTools: ["echo", "push"])], logger: quietLogger) } throws: { error in
                "\(error)".contains("allow_tools names push, which it does not offer")
            }
            #expect(leftoverFixtures.isEmpty)
        }

        @Test func aSlowCallIsAbandonedAtItsDeadlineAndTheServerStaysUsable() async throws {
            let servers = try await MCPServers.start([fixtureConfiguration()], logger: quietLogger)
            let context = ToolContext(runID: "r", callID: "c", workspace: nil, logger: quietLogger)
            let slow = try #require(servers.tools.first { $0.name == "fx__slow" })
            await #expect(throws: DeadlineExceeded.self) {
                try await withDeadline(.milliseconds(300)) { try await slow.call(arguments: ["seconds": 5], context: context) }
            }
            let echo = try #require(servers.tools.first { $0.name == "fx__echo" })
            #expect(try await echo.call(arguments: ["text": "still here"], context: context).text == "echo: still here")
            await servers.stop()
            #expect(leftoverFixtures.isEmpty)
        }
    }
}

/// Whether the reference server `mcp-server-time` from PyPI is installed (`.ci/run` installs it with pip).
let pythonTimeServer: String? = {
    // The python3 on PATH, as a spec's "command": ["python3", …] finds it.
    let candidates = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":").map { "\($0)/python3" }
    guard let python = candidates.first(where: FileManager.default.isExecutableFile(atPath:)) else { return nil }
    let probe = Process()
    probe.executableURL = URL(fileURLWithPath: python)
    probe.arguments = ["-c", "import mcp_server_time"]
    probe.standardOutput = FileHandle.nullDevice
    probe.standardError = FileHandle.nullDevice
    guard (try? probe.run()) != nil else { return nil }
    probe.waitUntilExit()
    return probe.terminationStatus == 0 ? python : nil
}()

extension MCPTests {
    @Suite(.timeLimit(.minutes(5))) struct ReferenceServerTests {
        @Test(.enabled(if: pythonTimeServer != nil, "mcp-server-time is not installed: `python3 -m pip install mcp-server-time` (.ci/run does) to run this test"))
        func theReferenceTimeServerFromPyPI() async throws {
            let configuration = MCPServerConfiguration(
                name: "time", executable: try #require(pythonTimeServer), arguments: ["-m", "mcp_server_time", "--local-timezone", "UTC"],
                workingDirectory: URL(fileURLWithPath: NSTemporaryDirectory()), startTimeout: .seconds(60))
            let servers = try await MCPServers.start([configuration], logger: quietLogger)
            let pid = try #require(servers.processIDs.first)
            let tools = Dictionary(uniqueKeysWithValues: servers.tools.map { ($0.name, $0) })
            #expect(Set(tools.keys) == ["time__get_current_time", "time__convert_time"])
            let context = ToolContext(runID: "r", callID: "c", workspace: nil, logger: quietLogger)
            let now = try await tools["time__get_current_time"]!.call(arguments: ["timezone": "Asia/Tokyo"], context: context).text
            #expect(now.contains("Asia/Tokyo"))
            let converted = try await tools["time__convert_time"]!.call(
                arguments: ["source_timezone": "UTC", "time": "12:00", "target_timezone": "Asia/Tokyo"], context: context).text
            #expect(converted.contains("21:00"), "Tokyo is UTC+9 all year: \(converted)")
            // A bad time zone is an error for the model, in the server's words.
            await #expect(throws: ToolError.self) {
                try await tools["time__get_current_time"]!.call(arguments: ["timezone": "Mars/Olympus"], context: context)
            }
            await servers.stop()
            #expect(!isRunning(pid))
        }
    }
}
