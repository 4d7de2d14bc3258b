import ErrandCore
import ErrandMCP
import Foundation
import ResponsesAPI

/// Everything `errand batch` decides before its first task runs, as a library: the provider, how many tasks run at
/// once and the client's pool sized to match, the batch's folder and manifest (with changed tasks refused or set
/// aside), and each task's overrides of the spec. The CLI parses flags, prepares a plan, starts the MCP servers, and
/// hands ``tasks(mcp:)`` to ``ErrandCore/Runner/runBatch(_:concurrency:folder:options:onEvent:)``; a queue of workers
/// reuses the same plan.
package struct BatchPlan: Sendable {
    /// The spec every task runs with.
    package let spec: AgentSpec
    /// The tasks, in the file's order.
    package let entries: [BatchTasks.Entry]
    /// The overrides every task starts from (the command's flags).
    package let overrides: SpecOverrides
    /// The provider.
    package let provider: Provider
    /// How many tasks run at once.
    package let concurrency: Int
    /// The client's configuration: one connection per running task, and the batch's rate limits.
    package let clientConfiguration: ResponsesClientConfiguration
    /// The batch's manifest (and folder).
    package private(set) var manifest: BatchManifest
    /// The environment `${VAR}`s and API keys are read from.
    package let environment: [String: String]

    /// The batch's folder.
    package var folder: URL { manifest.folder }

    /// Reads nothing but prepares everything: the provider (flags, then spec, then environment), the concurrency
    /// (`concurrency`, else the provider's suggestion), the folder (`folder`, else one derived from the spec's and the
    /// tasks file's paths under `journals`) and its manifest, refusing tasks changed since their journals were written
    /// unless `restartChanged`.
    package static func prepare(
        spec: AgentSpec, specFile: URL, tasksFile: URL, entries: [BatchTasks.Entry], overrides: SpecOverrides = SpecOverrides(),
        concurrency: Int? = nil, rateLimits: RateLimits = RateLimits(), journals: FileRunStore, folder: URL? = nil, restartChanged: Bool = false,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(SpecError) -> BatchPlan {
        let provider = try spec.provider(overrides: overrides, environment: environment)
        let concurrency = max(1, concurrency ?? provider.suggestedConcurrency)
        let folder = folder?.standardizedFileURL ?? BatchManifest.folder(journals: journals.folder, spec: specFile, tasks: tasksFile)
        let manifest: BatchManifest
        do {
            manifest = try BatchManifest.prepare(
                folder: folder, spec: specFile, tasksFile: tasksFile, tasks: entries.map { ($0.id, digest($0)) }, restartChanged: restartChanged)
        } catch {
            throw SpecError(setup: error)
        }
        return BatchPlan(
            spec: spec, entries: entries, overrides: overrides, provider: provider, concurrency: concurrency,
            clientConfiguration: clientConfiguration(concurrency: concurrency, rateLimits: rateLimits, transport: spec.transport(overrides: overrides)),
            manifest: manifest, environment: environment)
    }

    /// A client configuration for `concurrency` tasks at once: a connection for each (so that no task waits for a
    /// connection another holds while it streams), and the batch's rate limits over all of them.
    /// Over WebSocket, each running task holds one connection, given back for the next task when it ends.
    package static func clientConfiguration(
        concurrency: Int, rateLimits: RateLimits = RateLimits(), transport: ResponsesTransportKind = .http
    ) -> ResponsesClientConfiguration {
        var configuration = ResponsesClientConfiguration()
        configuration.transport = transport
        configuration.maxConnectionsPerHost = max(1, concurrency)
        configuration.rateLimits = rateLimits
        return configuration
    }

    /// A task's digest: its line's fields, so that a changed line is noticed.
    package static func digest(_ entry: BatchTasks.Entry) -> String {
        BatchManifest.digest([
            .string(entry.task), entry.model.map(JSONValue.string) ?? .null, entry.workspace.map { .string($0.path) } ?? .null,
            entry.maxTurns.map { .number(Double($0)) } ?? .null,
        ])
    }

    /// `base` with a task's own `model`, `max_turns` and `workspace` over it.
    package static func overrides(_ base: SpecOverrides, for entry: BatchTasks.Entry) -> SpecOverrides {
        var overrides = base
        if let model = entry.model { overrides.model = model }
        if let maxTurns = entry.maxTurns { overrides.maxTurns = maxTurns }
        if let workspace = entry.workspace { overrides.workspace = workspace }
        return overrides
    }

    /// The tasks as the runner takes them, each with its agent (the spec with the task's overrides and the started
    /// MCP servers' tools). A task whose agent cannot be made is named in the error.
    package func tasks(mcp: MCPServers = .none) throws(SpecError) -> [BatchTask] {
        var tasks: [BatchTask] = []
        for entry in entries {
            do {
                let agent = try spec.agent(overrides: Self.overrides(overrides, for: entry), environment: environment, mcp: mcp)
                tasks.append(BatchTask(id: entry.id, agent: agent, input: .text(entry.task)))
            } catch {
                throw error.named("task '\(entry.id)'")
            }
        }
        return tasks
    }

    /// Records how this run of the batch ended in its manifest.
    package mutating func record(_ summary: BatchSummary, interrupted: Bool) throws(CoreError) {
        try manifest.record(summary, interrupted: interrupted)
    }
}
