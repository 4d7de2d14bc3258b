import Foundation
import Logging
import OTel
import ServiceLifecycle

/// OpenTelemetry export for the CLI: when `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is
/// set, swift-otel exports the run's spans over OTLP/HTTP (the standard `OTEL_*` variables configure it), and they are
/// flushed before the process exits. When neither is set nothing is bootstrapped: spans go to the no-op tracer and cost
/// next to nothing.
enum Telemetry {
    /// The exporter running in the background; ``finish()`` flushes the spans and stops it.
    struct Exporting: Sendable {
        let group: ServiceGroup
        let task: Task<Void, any Error>

        /// Flushes what is buffered (the batch processor), then shuts the exporter down.
        func finish() async {
            await group.triggerGracefulShutdown()
            _ = await task.result
        }
    }

    /// Starts exporting when the environment asks for it; `nil` when it does not (nothing is bootstrapped then).
    static func start(environment: [String: String] = ProcessInfo.processInfo.environment) -> Exporting? {
        let wanted = [environment["OTEL_EXPORTER_OTLP_ENDPOINT"], environment["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]]
            .contains { !($0 ?? "").isEmpty }
        guard wanted, environment["OTEL_SDK_DISABLED"]?.lowercased() != "true" else { return nil }
        let protocolName = environment["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"] ?? environment["OTEL_EXPORTER_OTLP_PROTOCOL"] ?? "http/protobuf"
        guard protocolName.hasPrefix("http/") else {
            printError("errand: OTEL_EXPORTER_OTLP_PROTOCOL=\(protocolName): errand exports over HTTP only (http/protobuf or http/json); spans are not exported")
            return nil
        }
        var configuration = OTel.Configuration.default
        configuration.serviceName = environment["OTEL_SERVICE_NAME"] ?? "errand"
        configuration.logs.enabled = false
        configuration.metrics.enabled = false
        configuration.diagnosticLogLevel = .warning
        let service: any Service
        do {
            service = try OTel.bootstrap(configuration: configuration)
        } catch {
            printError("errand: spans are not exported: \(error)")
            return nil
        }
        let group = ServiceGroup(services: [service], logger: Logger(label: "errand.otel"))
        return Exporting(group: group, task: Task { try await group.run() })
    }
}
