import ArgumentParser
import Foundation
import ErrandSpec
import Logging

/// The `errand` command: a thin shell over the libraries.
@main
struct Errand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "errand",
        abstract: "A tool-calling agent runtime for the OpenAI Responses API and compatible providers.",
        discussion: """
            Providers: openai (OPENAI_API_KEY, OPENAI_BASE_URL), mume (MUME_API_KEY), umodelverse (UMODELVERSE_API_KEY), \
            or any compatible server with --base-url.
            Exit codes: 0 success, 1 the run failed or hit a limit (or a provider or network failure), 2 bad usage, spec or \
            manifest, 130 interrupted. Shell completions: errand --generate-completion-script bash|zsh|fish.
            """,
        version: "0.1.0",
        subcommands: [Run.self, Batch.self, Runs.self, Submit.self, Worker.self, Queue.self, Results.self, Validate.self, Tools.self, Schema.self, Extract.self, Demo.self, Respond.self, Probe.self]
    )

    /// Parses the arguments, runs the command, and maps failures to the documented exit codes.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                let exporting = Telemetry.start()
                do {
                    try await asyncCommand.run()
                } catch {
                    await exporting?.finish()
                    throw error
                }
                await exporting?.finish()
            } else {
                try command.run()
            }
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))
                Foundation.exit(0)
            }
            if error is ExitCode { Foundation.exit(code.rawValue) }
            FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
            // Usage errors (ArgumentParser's 64) are 2, as documented.
            Foundation.exit(code == .validationFailure ? 2 : code.rawValue)
        }
    }
}

/// Options every command that logs shares.
struct LoggingOptions: ParsableArguments {
    @Flag(name: .shortAndLong, help: "Log requests, retries and resumptions to stderr.")
    var verbose = false

    /// Bootstraps logging to stderr: `quietLevel` by default, debug with --verbose, or ERRAND_LOG_LEVEL.
    func bootstrap(quietLevel: Logger.Level = .warning) -> Logger {
        let level = verbose ? Logger.Level.debug : ProcessInfo.processInfo.environment["ERRAND_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? quietLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        return Logger(label: "errand")
    }
}

/// Writes a line to stderr.
func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// Writes to stdout unbuffered, so that streamed text and later lines keep their order.
/// A reader that went away (`errand queue tasks | head`) ends the command quietly, as SIGPIPE would, instead of a trap.
func writeOut(_ text: String) {
    do {
        try FileHandle.standardOutput.write(contentsOf: Data(text.utf8))
    } catch {
        Foundation.exit(141)
    }
}

/// Prints why a command could not set up or run, and gives the exit code to throw: 2 for a spec, manifest or tasks
/// file with problems and for an agent that cannot be set up from its spec (a bad provider, a missing workspace, a
/// changed batch), `otherwise` for anything else (a provider or MCP server failure, 1 unless a signal says more).
func reportFailure(_ error: any Error, otherwise: Int32 = 1) -> ExitCode {
    switch error {
    case let error as ExitCode:
        return error
    case let error as SpecError where error.kind == .invalid:
        printError(error.description)
        return ExitCode(2)
    case let error as SpecError:
        printError("errand: \(error)")
        return ExitCode(2)
    default:
        printError("errand: \(error)")
        return ExitCode(otherwise)
    }
}
