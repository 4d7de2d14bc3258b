import ErrandMCP
import ErrandTesting
import Foundation
import Logging
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The fixture server built beside the tests.
let fixture = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("errand-mcp-fixture").path

/// A word on the command line of every fixture these tests start (the fixture ignores `--tag WORD`), so that a test
/// can tell that none is left running, whatever other suites run meanwhile.
let fixtureTag = "errand-mcp-tests-\(UUID().uuidString.prefix(8))"

/// The fixtures these tests started that still run.
var leftoverFixtures: [Int32] { ProcessList.processes(withCommandLineContaining: fixtureTag) }

func fixtureConfiguration(
    name: String = "fx", arguments: [String] = [], allowTools: [String]? = nil, callTimeout: Duration = .seconds(20),
    startTimeout: Duration = .seconds(20), optional: Bool = false
) -> MCPServerConfiguration {
    MCPServerConfiguration(
        name: name, executable: fixture, arguments: arguments + ["--tag", fixtureTag], workingDirectory: URL(fileURLWithPath: NSTemporaryDirectory()),
        allowTools: allowTools, callTimeout: callTimeout, startTimeout: startTimeout, isOptional: optional)
}

/// Whether a process with this id still exists (zombies included: a reaped child is gone).
func isRunning(_ pid: pid_t) -> Bool {
    kill(pid, 0) == 0 || errno == EPERM
}

let quietLogger = Logger(label: "errand.tests") { _ in SwiftLogNoOpLogHandler() }

/// Every suite that starts MCP servers, one test at a time: each checks that no server process it made is left, and
/// the list of live server processes is shared.
@Suite(.serialized, .timeLimit(.minutes(5))) struct MCPTests {}
