import ArgumentParser
import ErrandSpec
import Foundation
import ErrandProbe
import ResponsesAPI

/// `errand probe`: what a server supports, found with a dozen tiny requests before any run.
struct Probe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Find out what a server supports, with a dozen tiny requests, before any run.",
        discussion: """
            Reports each capability as yes, no or could not tell, with the evidence (status code, the server's message, \
            what came back), the drift from the spec it saw, and the provider block to paste into a spec. Each request \
            asks for a few output tokens. Exit code 0 when /responses answered, 1 when it could not be used.
            """
    )

    @OptionGroup var connection: ProviderOptions

    @Flag(help: "Print one JSON object: each capability {supported, evidence}, drift and provider.")
    var json = false

    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let logger = logging.bootstrap()
        let environment = ProcessInfo.processInfo.environment
        let provider = try connection.resolve(environment: environment)
        let model = connection.model ?? provider.defaultModel(environment: environment)
        if provider.requiresAPIKey, provider.apiKey == nil {
            printError("errand: no API key for \(provider.name): set \(provider.apiKeyEnvironmentVariable ?? "the API key")")
            throw ExitCode(1)
        }
        let plan = ProviderProbe.plan
        printError("errand: probing \(provider.baseURL) with model \(model): \(plan.count) kinds of request, a few output tokens each:")
        for line in plan { printError("  · \(line)") }
        var configuration = ResponsesClientConfiguration(retry: RetryPolicy(maxRetries: 1), responseTimeout: .seconds(120), resumeStreams: false)
        configuration.polling = PollPolicy(initialInterval: .milliseconds(200), multiplier: 2, maxInterval: .seconds(2))
        let verbose = logging.verbose
        let report = try await ResponsesClient.withClient(provider: provider, configuration: configuration, logger: logger) { client in
            await ProviderProbe(client: client, model: model, preset: connection.provider, webSocket: connection.transport != .http).run { step in
                if verbose { printError("  → \(step)") }
            }
        }
        if json {
            writeOut(pretty(report.jsonValue) + "\n")
        } else {
            writeOut(Self.text(report))
        }
        if report.findings["responses"]?.supported != true { throw ExitCode(1) }
    }

    /// The report for people: one line per capability, the drift, and the provider block.
    static func text(_ report: ProviderProbe.Report) -> String {
        var lines = ["\(report.baseURL) · model \(report.model) · \(report.requests) requests", ""]
        let width = ProviderProbe.capabilityNames.map(\.count).max() ?? 0
        for name in ProviderProbe.capabilityNames {
            let finding = report.findings[name] ?? ProviderProbe.Finding(nil, "not probed")
            let mark = finding.supported.map { $0 ? "✓" : "✗" } ?? "?"
            let label = name.padding(toLength: width, withPad: " ", startingAt: 0)
            lines.append("\(mark) \(label)  \(finding.verdict): \(finding.evidence)")
        }
        lines.append("")
        if report.drift.isEmpty {
            lines.append("Drift from the spec: none seen.")
        } else {
            lines.append("Drift from the spec:")
            for line in report.drift { lines.append("  · \(line)") }
        }
        lines.append("")
        lines.append("For a spec:")
        lines.append("\"provider\": \(report.provider.sortedJSONString)")
        return lines.joined(separator: "\n") + "\n"
    }
}

extension JSONValue {
    /// Compact JSON with sorted keys.
    var sortedJSONString: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? jsonString
    }
}
