import ArgumentParser
import ErrandSpec
import Foundation
import Logging
import ResponsesAPI

/// `errand respond`: one request, the answer printed as it streams.
struct Respond: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send one request and print the answer.",
        discussion: "The prompt comes from the arguments, or from stdin when there are none or it is '-'."
    )

    @Argument(help: "The prompt.")
    var prompt: [String] = []

    @OptionGroup var connection: ProviderOptions

    @Option(help: "System instructions.")
    var instructions: String?

    @Option(help: "The cap on output tokens.")
    var maxOutputTokens: Int?

    @Flag(inversion: .prefixedNo, help: "Stream the answer token by token.")
    var stream = true

    @Flag(help: "Print the whole Response object as JSON instead of the text.")
    var json = false

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        if let maxOutputTokens, maxOutputTokens < 1 { throw ValidationError("--max-output-tokens must be positive") }
    }

    func run() async throws {
        let logger = logging.bootstrap()
        let environment = ProcessInfo.processInfo.environment
        let provider = ProviderChoice.provider(preset: connection.provider, baseURL: connection.baseURL, environment: environment)
        let text = try readPrompt()
        let request = CreateResponseRequest(
            model: connection.model ?? environment["ERRAND_MODEL"] ?? AgentSpec.usualModel(for: provider), input: .text(text),
            instructions: instructions, maxOutputTokens: maxOutputTokens)
        do {
            let response = try await ResponsesClient.withClient(provider: provider, logger: logger) { client in
                try await send(request, with: client)
            }
            try finish(response)
        } catch let error as ResponsesError {
            printError("errand: \(error)")
            throw ExitCode(1)
        }
    }

    private func send(_ request: CreateResponseRequest, with client: ResponsesClient) async throws -> Response {
        guard stream else { return try await client.create(request) }
        return try await client.stream(request).finalResponse { event in
            if !json, case .outputTextDelta(let delta) = event { writeOut(delta.delta) }
        }
    }

    private func finish(_ response: Response) throws {
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            writeOut(String(decoding: try encoder.encode(response), as: UTF8.self) + "\n")
        } else if !stream {
            writeOut(response.outputText + "\n")
        } else {
            writeOut("\n")
        }
        switch response.status {
        case .failed:
            printError("errand: the response failed: \(response.error.map { "\($0.code ?? "error"): \($0.message)" } ?? "no reason given")")
            throw ExitCode(1)
        case .incomplete:
            printError("errand: the answer is incomplete (\(response.incompleteDetails?.reason ?? "no reason given"))")
        default:
            if let refusal = response.refusal { printError("errand: the model refused: \(refusal)") }
        }
    }

    private func readPrompt() throws -> String {
        if !prompt.isEmpty, prompt != ["-"] { return prompt.joined(separator: " ") }
        let data = FileHandle.standardInput.readDataToEndOfFile()
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { throw ValidationError("no prompt: pass it as arguments or on stdin") }
        return text
    }
}

/// The provider the flags and environment name.
enum ProviderChoice {
    static func provider(preset: String?, baseURL: String?, environment: [String: String]) -> Provider {
        let name = preset ?? environment["ERRAND_PROVIDER"] ?? "openai"
        var provider = Provider.preset(named: name, environment: environment) ?? .openai(environment: environment)
        if let baseURL {
            if preset == nil {
                provider = .custom(baseURL: baseURL, environment: environment)
            } else {
                provider.baseURL = baseURL
            }
        }
        return provider
    }
}
