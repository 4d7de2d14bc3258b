import ArgumentParser
import ErrandCore
import ErrandSpec
import Foundation
import Logging
import ResponsesAPI
import Synchronization

/// `errand respond`: one request, the answer printed as it streams.
struct Respond: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send one request and print the answer.",
        discussion: """
            The prompt comes from the arguments, or from stdin when there are none or it is '-'. With --input FILE the \
            input is a JSON array of input items (as the API's `input`); a prompt given as well is appended as a last \
            user message. --background runs the request in background mode: polled, or streamed and resumed when the \
            stream breaks; Ctrl-C or --timeout cancels it on the server, and --detach leaves it running and prints its id.
            """
    )

    @Argument(help: "The prompt.")
    var prompt: [String] = []

    @OptionGroup var connection: ProviderOptions

    @Option(help: ArgumentHelp("A JSON file with the input items ('-' for stdin).", valueName: "file"))
    var input: String?

    @Option(help: "System instructions.")
    var instructions: String?

    @Option(help: "The cap on output tokens.")
    var maxOutputTokens: Int?

    @Flag(inversion: .prefixedNo, help: "Stream the answer token by token.")
    var stream = true

    @Flag(help: "Run the request in background mode (background: true).")
    var background = false

    @Flag(help: "Create the request in background mode, print its id and exit without waiting.")
    var detach = false

    @Option(help: ArgumentHelp("Give up after this many seconds (a background response is cancelled on the server).", valueName: "seconds"))
    var timeout: Double?

    @Option(help: ArgumentHelp("The service tier (service_tier): auto, default, flex, priority…", valueName: "tier"))
    var serviceTier: String?

    @Option(help: ArgumentHelp("A key that groups requests for prompt caching (prompt_cache_key).", valueName: "key"))
    var promptCacheKey: String?

    @Flag(help: "Print the whole Response object as JSON instead of the text.")
    var json = false

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        if let maxOutputTokens, maxOutputTokens < 1 { throw ValidationError("--max-output-tokens must be positive") }
        if let timeout, !(timeout > 0 && timeout <= 604_800) {
            throw ValidationError("--timeout must be a number of seconds above 0 and at most 604800 (a week)")
        }
        if detach, timeout != nil { throw ValidationError("--detach does not wait, so --timeout has nothing to limit") }
        if input == "-", prompt == ["-"] { throw ValidationError("stdin can give the --input items or the prompt, not both") }
    }

    func run() async throws {
        let logger = logging.bootstrap()
        let environment = ProcessInfo.processInfo.environment
        let provider = try connection.resolve(environment: environment)
        var request = CreateResponseRequest(
            model: connection.model ?? provider.defaultModel(environment: environment), input: try readInput(),
            instructions: instructions, maxOutputTokens: maxOutputTokens, background: background || detach ? true : nil,
            serviceTier: serviceTier, promptCacheKey: promptCacheKey)
        if detach { request.stream = nil }
        let request_ = request
        do {
            try await ResponsesClient.withClient(provider: provider, logger: logger) { client in
                if detach {
                    let created = try await client.create(request_, waitUntilDone: false)
                    try finishDetached(created)
                    return
                }
                let response = try await wait(for: request_, with: client)
                try finish(response)
            }
        } catch let error as ResponsesError {
            printError("errand: \(error)")
            throw ExitCode(1)
        }
    }

    /// Sends the request and waits for its answer, under Ctrl-C and `--timeout`: either cancels the wait, and a
    /// background response with it (the client cancels it on the server), which is then confirmed and said.
    private func wait(for request: CreateResponseRequest, with client: ResponsesClient) async throws -> Response {
        let seen = Seen()
        let timeout = self.timeout
        let outcome = await SignalScope.run(notice: "errand: interrupted (Ctrl-C again to quit at once)") { () async throws -> Response in
            let (result, late) = await withTimeLimit(timeout.map { .milliseconds(Int64($0 * 1000)) }) {
                do {
                    return Result<Response, any Error>.success(try await send(request, with: client) { id in seen.responseID.withLock { $0 = id } })
                } catch {
                    return .failure(error)
                }
            }
            if late, case .failure = result {
                seen.timedOut.withLock { $0 = true }
                throw CancellationError()
            }
            return try result.get()
        }
        do {
            return try outcome.result.get()
        } catch {
            let timedOut = seen.timedOut.withLock { $0 }
            guard timedOut || outcome.signal != nil else { throw error }
            if stream, !json { writeOut("\n") }
            let why = timedOut ? "no answer within \(String(format: "%g", timeout ?? 0)) s" : "interrupted"
            if let id = seen.responseID.withLock({ $0 }) {
                printError("errand: \(why); \(await Self.confirmCancelled(id, client: client))")
            } else {
                printError("errand: \(why)")
            }
            throw ExitCode(timedOut ? 1 : outcome.exitCode ?? 130)
        }
    }

    /// What the wait has seen: the background response's id, and whether the time limit passed.
    private final class Seen: Sendable {
        let responseID = Mutex<String?>(nil)
        let timedOut = Mutex(false)
    }

    /// What the server says of a background response after it was cancelled.
    static func confirmCancelled(_ id: String, client: ResponsesClient) async -> String {
        do {
            let response = try await client.retrieve(id)
            if response.status == .cancelled { return "the background response \(id) was cancelled on the server" }
            return "asked the server to cancel the background response \(id); it reports '\(response.status)'"
        } catch {
            return "asked the server to cancel the background response \(id), but could not confirm it (\(error))"
        }
    }

    private func send(
        _ request: CreateResponseRequest, with client: ResponsesClient, tracking: @escaping @Sendable (String) -> Void
    ) async throws -> Response {
        let announce: @Sendable (Response) -> Void = { response in
            guard !response.id.isEmpty else { return }
            tracking(response.id)
            printError("errand: \(response.background == true ? "background " : "")response \(response.id) is \(response.status); waiting for it")
        }
        let transport = connection.transport ?? .http
        if transport != .http, request.background != true {
            do {
                return try await client.withConnection { socket in
                    try await socket.send(request) { event in
                        if stream, !json, case .outputTextDelta(let delta) = event { writeOut(delta.delta) }
                    }
                }
            } catch let error as ResponsesError where transport == .auto && error.isWebSocketUnavailable {
                printError("errand: \(error.message): the server has no WebSocket mode; using HTTP")
            }
        }
        guard stream else { return try await client.create(request, onPending: announce) }
        var announced = false
        return try await client.stream(request).finalResponse { event in
            switch event {
            case .created(let e), .queued(let e), .inProgress(let e):
                if !announced, e.response.background ?? (request.background == true) {
                    announced = true
                    announce(e.response)
                }
            case .outputTextDelta(let delta):
                if !json { writeOut(delta.delta) }
            default:
                break
            }
        }
    }

    private func finishDetached(_ response: Response) throws {
        if json {
            writeOut(pretty(try JSONValue(encoding: response)) + "\n")
        } else {
            writeOut(response.id + "\n")
        }
        if response.status.isTerminal {
            printError("errand: the response \(response.id) is already \(response.status)")
        } else {
            printError("errand: background response \(response.id) is \(response.status); it keeps running on the server")
        }
        if response.status == .failed { throw ExitCode(1) }
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
            printError("errand: the response failed: \(response.error.map { "\($0.code ?? "error"): \(OneLine.squash($0.message, limit: ResponsesError.providerTextLimit))" } ?? "no reason given")")
            throw ExitCode(1)
        case .cancelled:
            printError("errand: the response was cancelled on the server")
            throw ExitCode(1)
        case .incomplete:
            printError("errand: the answer is incomplete (\(response.incompleteDetails?.reason ?? "no reason given"))")
        default:
            if let refusal = response.refusal { printError("errand: the model refused: \(OneLine.squash(refusal, limit: 300))") }
        }
    }

    /// The input: the `--input` items (with the prompt, if any, as a last user message), or the prompt alone.
    private func readInput() throws -> ResponseInput {
        guard let input else { return .text(try readPrompt()) }
        var items = try readInputItems(input)
        let text = prompt.isEmpty || prompt == ["-"] && input == "-" ? nil : try readPrompt()
        if let text { items.append(.user(text)) }
        return .items(items)
    }

    private func readPrompt() throws -> String {
        if !prompt.isEmpty, prompt != ["-"] { return prompt.joined(separator: " ") }
        let data = FileHandle.standardInput.readDataToEndOfFile()
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { throw ValidationError("no prompt: pass it as arguments or on stdin") }
        return text
    }
}

/// Reads and checks the input items of `--input FILE` (`-`: stdin); every problem is printed, naming the item and
/// the field, and the command exits 2.
func readInputItems(_ path: String) throws -> [InputItem] {
    let name = path == "-" ? "stdin" : path
    func refuse(_ lines: [String]) -> ExitCode {
        for line in lines { printError("errand: --input \(name): \(line)") }
        return ExitCode(2)
    }
    let data: Data
    if path == "-" {
        data = FileHandle.standardInput.readDataToEndOfFile()
    } else {
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw refuse(["cannot read it: \(error.localizedDescription)"])
        }
    }
    let json: JSONValue
    do {
        json = try JSONValue(parsing: data)
    } catch {
        let detail = ((error as? DecodingError).flatMap { error -> String? in
            if case .dataCorrupted(let context) = error { return (context.underlyingError as NSError?)?.userInfo["NSDebugDescription"] as? String }
            return nil
        }) ?? "\(error)"
        throw refuse(["not valid JSON: \(detail)"])
    }
    do {
        switch try ResponseInput.validated(json) {
        case .text(let text): return [.user(text)]
        case .items(let items): return items
        }
    } catch {
        throw refuse(error.problems)
    }
}
