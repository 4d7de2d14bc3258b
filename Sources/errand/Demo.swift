import ArgumentParser
import ErrandTesting
import Foundation
import Logging
import ResponsesAPI

/// `errand demo`: the whole client path on this machine, with no network and no key.
struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a streamed request end to end against the scripted server on loopback (no network, no key)."
    )

    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let logger = logging.bootstrap(quietLevel: .error)
        let answer = """
            Errand sent this request over real HTTP to a scripted Responses API server on 127.0.0.1, \
            which streamed it back event by event; the stream broke halfway and the client resumed it \
            from the last sequence number without repeating a word.
            """
        printError("errand demo: the model is the scripted server from ErrandTesting, not a real model.")
        try await ScriptedResponsesServer.withServer([ScriptedTurn.message(answer).droppingStream(afterEvents: 12)]) { server in
            var configuration = ResponsesClientConfiguration()
            configuration.retry.initialDelay = .milliseconds(50)
            let response = try await ResponsesClient.withClient(provider: server.provider, configuration: configuration, logger: logger) { client in
                try await client.stream(CreateResponseRequest(model: "scripted-model", input: "What just happened?")).finalResponse { event in
                    if case .outputTextDelta(let delta) = event { writeOut(delta.delta) }
                }
            }
            writeOut("\n")
            let resumed = server.requests.filter { $0.query["starting_after"] != nil }
            printError(
                "errand demo: \(server.requests.count) HTTP requests (\(resumed.count) resumption), response \(response.id), "
                    + "status \(response.status), \(response.usage?.totalTokens ?? 0) tokens.")
        }
    }
}
