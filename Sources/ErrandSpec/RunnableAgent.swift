import ErrandCore
import ErrandMCP
import ErrandTools
import Logging
import Foundation
import ResponsesAPI
import Synchronization

/// Command-line overrides of a spec.
public struct SpecOverrides: Sendable {
    /// The model id.
    public var model: String?
    /// A provider preset.
    public var preset: String?
    /// A base URL.
    public var baseURL: String?
    /// The turn limit.
    public var maxTurns: Int?
    /// The workspace root.
    public var workspace: URL?
    /// Hosts `fetch_url` may reach, besides the spec's `allow_hosts`.
    public var allowHosts: [String]
    /// The state mode.
    public var state: StateMode?
    /// Whether each turn runs in background mode (`settings.background`).
    public var background: Bool?
    /// Whether turns stream (`settings.stream`).
    public var stream: Bool?
    /// The run's time limit (`limits.timeout_seconds`).
    public var timeout: Duration?
    /// How runs reach the model (`provider.transport`).
    public var transport: ResponsesTransportKind?
    /// A token budget over the run (`limits.max_total_tokens`).
    public var maxTotalTokens: Int?
    /// A cost budget over the run in USD (`limits.max_cost_usd`).
    public var maxCostUSD: Double?
    /// Prices and context windows laid over the built-in table and the spec's (`--pricing FILE`).
    public var pricing: ModelCatalog?
    /// The shape the final answer must have (`--output-schema FILE`), over the spec's `output_schema`.
    public var outputSchema: OutputSchema?

    /// No overrides.
    public init(
        model: String? = nil, preset: String? = nil, baseURL: String? = nil, maxTurns: Int? = nil, workspace: URL? = nil,
        allowHosts: [String] = [], state: StateMode? = nil, background: Bool? = nil, stream: Bool? = nil, timeout: Duration? = nil,
        transport: ResponsesTransportKind? = nil, maxTotalTokens: Int? = nil, maxCostUSD: Double? = nil, pricing: ModelCatalog? = nil,
        outputSchema: OutputSchema? = nil
    ) {
        self.outputSchema = outputSchema
        self.transport = transport
        self.maxTotalTokens = maxTotalTokens
        self.maxCostUSD = maxCostUSD
        self.pricing = pricing
        self.model = model
        self.preset = preset
        self.baseURL = baseURL
        self.maxTurns = maxTurns
        self.workspace = workspace
        self.allowHosts = allowHosts
        self.state = state
        self.background = background
        self.stream = stream
        self.timeout = timeout
    }

    /// The overrides that apply to the other agents of a run (agents used as tools, judges, handoff targets): the
    /// provider, model, workspace, hosts, state, transport and prices; not the run's limits or output schema.
    var forOtherAgents: SpecOverrides {
        var other = self
        other.maxTurns = nil
        other.timeout = nil
        other.maxTotalTokens = nil
        other.maxCostUSD = nil
        other.outputSchema = nil
        return other
    }
}

extension AgentSpec {
    /// The provider the spec names, with the overrides applied: the flags, then the spec, then `ERRAND_PROVIDER`, as
    /// ``ResponsesAPI/Provider/resolve(preset:baseURL:environment:)`` rules for every command.
    public func provider(
        overrides: SpecOverrides = SpecOverrides(), environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(SpecError) -> Provider {
        var provider: Provider
        do {
            provider = try Provider.resolve(preset: overrides.preset ?? preset, baseURL: overrides.baseURL ?? baseURL, environment: environment)
        } catch {
            throw SpecError(setup: error)
        }
        if let variable = apiKeyEnvironmentVariable {
            provider.apiKeyEnvironmentVariable = variable
            provider.apiKey = environment[variable].flatMap { $0.isEmpty ? nil : APIKey($0) }
            provider.requiresAPIKey = true
        }
        for (name, value) in headers { provider.headers[name] = Self.expand(value, environment: environment) }
        if let maxTokensField { provider.maxTokensField = maxTokensField }
        if let webSocketURL { provider.webSocketURL = webSocketURL }
        if sendsResponseFormat { provider.sendsResponseFormat = true }
        return provider
    }

    /// How runs of this spec reach the model: the flag, else the spec's `provider.transport`, else HTTP.
    public func transport(overrides: SpecOverrides = SpecOverrides()) -> ResponsesTransportKind {
        overrides.transport ?? transport ?? .http
    }

    /// Variables that are substituted into MCP servers' env for their paths and names, not as credentials.
    static let notSecrets: Set<String> = ["PATH", "HOME", "USER", "LOGNAME", "SHELL", "PWD", "TMPDIR", "LANG", "LC_ALL", "TERM", "PYTHONPATH", "NODE_PATH"]

    /// `${VAR}` replaced from the environment (empty when unset).
    static func expand(_ value: String, environment: [String: String]) -> String {
        var result = ""
        walkReferences(in: value, text: { result += $0 }, variable: { result += environment[$0] ?? "" })
        return result
    }

    /// The model to use: the override, the spec's, `ERRAND_MODEL`, or the provider's usual one.
    public func model(overrides: SpecOverrides = SpecOverrides(), provider: Provider, environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        overrides.model ?? model ?? provider.defaultModel(environment: environment)
    }

    /// Starts the MCP servers of the spec and of the agents it uses (all at once); stop them with ``MCPServers/stop()`` however the run ends.
    public func startMCPServers(logger: Logger) async throws -> MCPServers {
        try await MCPServers.start(allMCPServers, logger: logger)
    }

    /// Starts the spec's MCP servers, runs `body` with them, and stops them however `body` ends.
    public func withMCPServers<Result: Sendable>(
        logger: Logger, isolation: isolated (any Actor)? = #isolation, _ body: (MCPServers) async throws -> Result
    ) async throws -> Result {
        try await MCPServers.with(allMCPServers, logger: logger, body)
    }

    /// The spec's tools, registered in the spec's order, for a workspace; `allowHosts` adds to `fetch_url`'s list; the
    /// tools of the started MCP servers `mcp` join where their server is named, and `agents` (by tool name) where an
    /// agent used as a tool is.
    public func registry(
        workspace: Workspace, allowHosts: [String] = [], mcp: MCPServers = .none, agents: [String: RegisteredTool] = [:]
    ) throws(CoreError) -> ToolRegistry {
        var all = ToolRegistry()
        try FileTools.register(into: &all, workspace: try Workspace(root: workspace.root, writable: true))
        var registry = ToolRegistry()
        for tool in tools {
            switch tool {
            case .builtin("fetch_url", let options):
                let policy = NetworkPolicy(
                    allowHosts: (options["allow_hosts"]?.arrayValue?.compactMap(\.stringValue) ?? []) + allowHosts,
                    denyHosts: options["deny_hosts"]?.arrayValue?.compactMap(\.stringValue) ?? [],
                    allowPrivateNetwork: options["allow_private_network"]?.boolValue ?? false)
                let seconds = options["timeout_seconds"]?.doubleValue ?? 20
                try registry.register(FetchURL(
                    policy: policy, timeout: .milliseconds(Int64(seconds * 1000)), maxBytes: options["max_bytes"]?.intValue ?? 5 << 20))
            case .builtin(let name, _):
                if let builtin = all[name] { try registry.add(builtin) }
            case .command(let command, _):
                try registry.add(command.registered)
            case .mcp(let server):
                for started in mcp.servers where started.configuration.name == server.name {
                    for tool in MCPServers.tools(of: started) { try registry.add(tool) }
                }
            case .agent(let agent):
                if let tool = agents[agent.name] { try registry.add(tool) }
            case .hosted:
                continue
            }
        }
        return registry
    }

    /// How the spec answers a hosted MCP server's approval requests: its `approve` for that server, else `ask` (the
    /// terminal, when interactive), else refuse.
    public func approvalPolicy(ask: (@Sendable (HostedToolCall) async -> Bool)?) -> @Sendable (HostedToolCall) async -> Bool {
        var answers: [String: HostedApproval] = [:]
        for case .hosted(let tool, let approve?) in tools {
            answers[tool["server_label"]?.stringValue ?? ""] = approve
        }
        return { [answers] request in
            switch answers[request["server_label"]?.stringValue ?? ""] {
            case .always: return true
            case .never: return false
            case nil: return await ask?(request) ?? false
            }
        }
    }

    /// The agent this spec describes, with the overrides applied, the tools of the started MCP servers `mcp`, and
    /// `ask` for approvals the spec leaves open; with the agents it uses as tools, its judges and the agents it may
    /// hand to, built from their specs once each (the run's provider, model and workspace overrides apply to them too).
    public func agent(
        overrides: SpecOverrides = SpecOverrides(), environment: [String: String] = ProcessInfo.processInfo.environment, mcp: MCPServers = .none,
        ask: (@Sendable (HostedToolCall) async -> Bool)? = nil
    ) throws(SpecError) -> Agent {
        let builder = AgentBuilder(root: self, overrides: overrides, environment: environment, mcp: mcp, ask: ask)
        let agent = try builder.agent(self)
        do {
            try agent.checkBudget()
            if let limit = agent.limits.maxCostUSD {
                // Every agent the run may use spends from its budget: each needs a price.
                for other in builder.table.all where other.price == nil {
                    throw CoreError(
                        .pricing, ModelCatalog.noPrice(for: other.model, budget: "the cost budget (\(USD.format(limit))) of a run that may use the agent \(other.name)"))
                }
            }
        } catch {
            throw SpecError(setup: error)
        }
        return agent
    }

    /// The agent this spec describes, without its handoffs; the agents it uses as tools and its judges come from
    /// `builder`.
    fileprivate func baseAgent(
        overrides: SpecOverrides, environment: [String: String], mcp: MCPServers, ask: (@Sendable (HostedToolCall) async -> Bool)?,
        builder: AgentBuilder
    ) throws(SpecError) -> Agent {
        let provider = try provider(overrides: overrides, environment: environment)
        let workspace: Workspace
        let tools: ToolRegistry
        var agentTools: [String: RegisteredTool] = [:]
        for case .agent(let entry) in self.tools {
            let child = try builder.agent(entry.spec)
            agentTools[entry.name] = child.asTool(name: entry.name, description: entry.description, parameters: entry.spec.inputSchema)
        }
        do {
            workspace = try Workspace(root: overrides.workspace ?? workspaceRoot, writable: writable)
            tools = try registry(workspace: workspace, allowHosts: overrides.allowHosts, mcp: mcp, agents: agentTools)
        } catch {
            throw SpecError(setup: error)
        }
        var limits = limits
        if let maxTurns = overrides.maxTurns { limits.maxTurns = maxTurns }
        if let timeout = overrides.timeout { limits.timeout = timeout }
        if let tokens = overrides.maxTotalTokens { limits.maxTotalTokens = tokens }
        if let cost = overrides.maxCostUSD { limits.maxCostUSD = cost }
        var settings = settings
        if let background = overrides.background { settings.background = background }
        let stream = overrides.stream ?? self.stream
        var agent = Agent(
            name: name, model: model(overrides: overrides, provider: provider, environment: environment), instructions: instructions,
            tools: tools, toolChoice: toolChoice,
            parallelToolCalls: parallelToolCalls, settings: settings, limits: limits, state: overrides.state ?? state, streaming: stream,
            workspace: workspace, hostedTools: hostedTools, approveHostedCall: approvalPolicy(ask: ask))
        // The price: the run's table (--pricing), else the spec's, else the built-in table's. The window likewise, with
        // the spec's `context.window` first.
        agent.price = overrides.pricing?.price(for: agent.model) ?? pricing ?? ModelCatalog.builtIn.price(for: agent.model)
        agent.context = context
        agent.context.window = context.window ?? overrides.pricing?.contextWindow(for: agent.model) ?? contextWindow
            ?? ModelCatalog.builtIn.contextWindow(for: agent.model)
        // Secrets never journaled: the provider's key (the runner adds its client's too), the named variables' values, and
        // those of variables substituted into MCP servers' env and the provider's headers (tokens go there), except the
        // few that hold paths and names, not credentials.
        var policy = journal
        let substituted = (mcpEnvironmentReferences + headers.values.flatMap { Self.references(in: $0) }).filter { !Self.notSecrets.contains($0) }
        for value in [provider.apiKey?.value].compactMap({ $0 }) + (redactEnvironment + substituted).compactMap({ environment[$0] })
        where !policy.secrets.contains(value) {
            policy.secrets.append(value)
        }
        agent.journalPolicy = policy
        agent.description = description
        agent.outputSchema = overrides.outputSchema ?? outputSchema
        for entry in guardrails.input { agent.guardrails.input.append(try Self.guardrail(entry, workspace: workspace, builder: builder)) }
        for entry in guardrails.output { agent.guardrails.output.append(try Self.guardrail(entry, workspace: workspace, builder: builder)) }
        return agent
    }

    /// The check a spec's guardrail entry names: a command run in the workspace, or a judge built by `builder`.
    private static func guardrail(_ entry: GuardrailEntry, workspace: Workspace, builder: AgentBuilder) throws(SpecError) -> Guardrail {
        switch entry {
        case .command(let command, _, let name, let timeout):
            return command.guardrail(name: name, timeout: timeout, workspace: workspace)
        case .agent(let spec, let name, let timeout):
            return .agent(try builder.agent(spec), name: name, timeout: timeout)
        }
    }
}

/// Builds the agents of a run from their specs, each once, by file: the first one with the run's overrides, the others
/// (agents used as tools, judges, the agents handoffs name) with those that apply to every agent. Handoffs are resolved
/// when a run asks for them, from the finished table, so agents may hand to each other.
final class AgentBuilder {
    let root: AgentSpec
    let overrides: SpecOverrides
    let environment: [String: String]
    let mcp: MCPServers
    let ask: (@Sendable (HostedToolCall) async -> Bool)?
    let table = AgentTable()
    /// Every spec the run may use, by path.
    let specs: [String: AgentSpec]
    private var building: [String] = []

    init(root: AgentSpec, overrides: SpecOverrides, environment: [String: String], mcp: MCPServers, ask: (@Sendable (HostedToolCall) async -> Bool)?) {
        self.root = root
        self.overrides = overrides
        self.environment = environment
        self.mcp = mcp
        self.ask = ask
        self.specs = root.linked.merging([root.file.standardizedFileURL.path: root]) { _, own in own }
    }

    /// The agent of `spec`, with its handoffs; built once, and the agents its handoffs name with it.
    func agent(_ spec: AgentSpec) throws(SpecError) -> Agent {
        let path = spec.file.standardizedFileURL.path
        if table.base(path) == nil {
            if building.contains(path) {
                let names = (building + [path]).map { URL(fileURLWithPath: $0).lastPathComponent }
                throw SpecError(setup: CoreError(.registry, "\(names.joined(separator: " → ")): an agent would use itself through handoffs and tools; break the chain"))
            }
            building.append(path)
            let base = try spec.baseAgent(
                overrides: path == root.file.standardizedFileURL.path ? overrides : overrides.forOtherAgents, environment: environment, mcp: mcp,
                ask: ask, builder: self)
            building.removeLast()
            let targets = spec.handoffs.map(\.path).filter { specs[$0] != nil }
            table.set(path, base: base, handoffs: targets.map { (path: $0, name: specs[$0]!.name, description: specs[$0]!.description) })
            for target in targets where table.base(target) == nil && !building.contains(target) { _ = try agent(specs[target]!) }
        }
        return table.resolve(path)!
    }
}

/// The agents of a run by spec path, without their handoffs, and the handoffs each makes: filled while the agents are
/// built, read when a run hands on.
final class AgentTable: Sendable {
    private struct Entry {
        var base: Agent
        var handoffs: [(path: String, name: String, description: String?)]
    }
    private let entries = Mutex<[String: Entry]>([:])

    func base(_ path: String) -> Agent? { entries.withLock { $0[path]?.base } }

    func set(_ path: String, base: Agent, handoffs: [(path: String, name: String, description: String?)]) {
        entries.withLock { $0[path] = Entry(base: base, handoffs: handoffs) }
    }

    /// Every agent built.
    var all: [Agent] { entries.withLock { $0.values.map(\.base) } }

    /// The agent at `path` with its handoffs, each resolved again from the table when a run takes it.
    func resolve(_ path: String) -> Agent? {
        guard let entry = entries.withLock({ $0[path] }) else { return nil }
        var agent = entry.base
        agent.handoffs = entry.handoffs.map { target in
            Handoff(name: target.name, description: target.description) { [self] in
                // Every target was built with the agent that names it.
                resolve(target.path) ?? Agent(name: target.name, model: entry.base.model)
            }
        }
        return agent
    }
}
