import ResponsesAPI

extension AgentSpec {
    /// The JSON Schema of an agent spec (`errand schema` prints it; example specs point `$schema` at a copy of it).
    public static let jsonSchema: JSONValue = {
        let string: JSONValue = ["type": "string"]
        let stringMap: JSONValue = ["type": "object", "additionalProperties": ["type": "string"]]
        func described(_ schema: JSONValue, _ text: String) -> JSONValue {
            var copy = schema
            copy["description"] = .string(text)
            return copy
        }
        let builtin: JSONValue = ["type": "string", "enum": .array(builtinTools.map(JSONValue.string))]
        let tool: JSONValue = [
            "oneOf": [
                described(builtin, "A built-in tool by name."),
                ["type": "object", "description": "A built-in tool with options (fetch_url takes allow_hosts, deny_hosts, allow_private_network, max_bytes, timeout_seconds).",
                 "required": ["name"], "additionalProperties": false,
                 "properties": [
                    "name": builtin, "allow_hosts": ["type": "array", "items": string], "deny_hosts": ["type": "array", "items": string],
                    "allow_private_network": ["type": "boolean"], "max_bytes": ["type": "integer", "minimum": 1024],
                    "timeout_seconds": ["type": "number", "exclusiveMinimum": 0],
                 ]],
                ["type": "object", "description": "A command tool described by a manifest (path relative to the spec).", "required": ["manifest"],
                 "properties": [
                    "manifest": string,
                    "idempotent": described(["type": "boolean"], "Safe to run twice: a call a crash interrupted is run again on resume (default: the manifest's, else false)."),
                 ],
                 "additionalProperties": false],
                ["type": "object", "description": "An MCP server, started over stdio (command) or reached over Streamable HTTP (url); its tools join as NAME__TOOL when the run starts.",
                 "required": ["mcp"], "additionalProperties": false,
                 "properties": [
                    "mcp": [
                        "type": "object", "required": ["name"], "additionalProperties": false,
                        "oneOf": [["required": ["command"]], ["required": ["url"]]],
                        "properties": [
                            "name": described(["type": "string", "pattern": "^[A-Za-z0-9_-]{1,32}$"], "Prefixes the server's tools: NAME__TOOL (no '__' inside)."),
                            "command": described(["type": "array", "items": string, "minItems": 1], "A server errand starts: the program and its arguments, e.g. [\"python3\", \"-m\", \"mcp_server_time\"]."),
                            "env": described(stringMap, "Variables added to the few it inherits (HOME, PATH, USER, LANG…); ${VAR} is read from the environment."),
                            "cwd": described(string, "The folder it starts in, relative to the spec."),
                            "url": described(string, "A remote server's Streamable HTTP endpoint, e.g. \"https://example.com/mcp\"; ${VAR} is read from the environment."),
                            "headers": described(stringMap, "Headers sent to a remote server on every request, e.g. {\"Authorization\": \"Bearer ${DOCS_TOKEN}\"}; ${VAR} is read from the environment and its value never journaled."),
                            "allow_tools": described(["type": "array", "items": string], "Only these of its tools are offered to the model."),
                            "timeout_seconds": described(["type": "number", "exclusiveMinimum": 0], "The limit of one call (default 60)."),
                            "start_timeout_seconds": described(["type": "number", "exclusiveMinimum": 0], "The limit of starting (or connecting) and listing its tools (default 30)."),
                            "optional": described(["type": "boolean"], "Go on without its tools when it cannot start or be reached (default false)."),
                            "idempotent": described(["type": "boolean"], "Its tools are safe to call twice: a call a crash interrupted is run again on resume (default false)."),
                            "max_output_bytes": described(["type": "integer", "minimum": 1024], "The most bytes of a result the model gets; the rest is cut with a note (default 262144)."),
                        ],
                    ],
                 ]],
                ["type": "object", "description": "A tool the provider runs (web_search, a hosted MCP server…), sent as given.", "required": ["hosted"],
                 "additionalProperties": false,
                 "properties": [
                    "hosted": ["type": "object", "required": ["type"], "properties": ["type": string]],
                    "approve": described(["type": "string", "enum": ["always", "never"]], "How a hosted MCP server's approval requests are answered (default: ask on the terminal, else refuse)."),
                 ]],
                ["type": "object", "description": "Another agent's spec used as a tool: a call runs it to completion as a child run and returns its final output (JSON when it has an output_schema).",
                 "required": ["agent"], "additionalProperties": false,
                 "properties": [
                    "agent": described(string, "The agent's spec, relative to this one."),
                    "name": described(string, "The tool's name (default: the agent's name)."),
                    "description": described(string, "The tool's description (default: the agent's description)."),
                 ]],
            ]
        ]
        let schemaOrFile: JSONValue = [
            "oneOf": [
                ["type": "object", "description": "A JSON Schema with \"type\": \"object\"."],
                ["type": "object", "required": ["file"], "additionalProperties": false, "properties": ["file": described(string, "A file holding the schema, relative to the spec.")]],
            ]
        ]
        let check: JSONValue = [
            "type": "object", "additionalProperties": false,
            "properties": [
                "manifest": described(string, "A command manifest: it gets {\"kind\": \"input\"|\"output\", \"text\": …} on stdin; exit 0 passes, another status trips with its stdout as the reason."),
                "agent": described(string, "A judge agent's spec: it gets the same JSON as its task and answers {\"pass\": boolean, \"reason\": string}."),
                "name": described(string, "The check's name in journals and messages (default: the manifest's or agent's name)."),
                "timeout_seconds": described(["type": "number", "exclusiveMinimum": 0], "How long the check may take; past it, it fails closed."),
            ],
        ]
        return [
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "https://errand.dev/schemas/agent-spec.json",
            "title": "Errand agent spec",
            "type": "object",
            "required": ["name"],
            "additionalProperties": false,
            "properties": [
                "$schema": string,
                "name": described(string, "The agent's name."),
                "description": described(string, "What the agent is for."),
                "model": described(string, "The model id, e.g. gpt-4.1-mini or openai/gpt-4.1-mini (Mume)."),
                "instructions": described(string, "System instructions, re-sent every turn."),
                "instructions_file": described(string, "A file with the instructions, relative to the spec."),
                "provider": [
                    "type": "object", "additionalProperties": false,
                    "properties": [
                        "preset": ["type": "string", "enum": .array(Provider.presetNames.map(JSONValue.string))],
                        "base_url": described(string, "A compatible server's base URL (requests go to {base_url}/responses)."),
                        "api_key_env": described(string, "The environment variable that holds the API key."),
                        "headers": described(stringMap, "Extra headers; ${VAR} in a value is read from the environment."),
                        "state": ["type": "string", "enum": ["auto", "stateful", "stateless"]],
                        "max_tokens_field": ["type": "string", "enum": ["max_output_tokens", "max_tokens"]],
                        "transport": described(
                            ["type": "string", "enum": ["http", "websocket", "auto"]],
                            "How runs reach the model: http (the default), websocket (one connection per run), or auto (WebSocket where the server accepts it)."),
                        "websocket_url": described(["type": "string", "pattern": "^wss?://"], "The WebSocket mode's URL, when it is not the base URL's /responses."),
                        "pricing": described(
                            [
                                "type": "object", "additionalProperties": false, "required": ["input", "output"],
                                "properties": [
                                    "input": ["type": "number", "minimum": 0], "cached_input": ["type": "number", "minimum": 0],
                                    "output": ["type": "number", "minimum": 0], "source": string, "as_of": string,
                                ],
                            ],
                            "The model's price in USD per million tokens (input, cached input, output), over the built-in table's; --pricing FILE overrides it."),
                        "context_window": described(
                            ["type": "integer", "minimum": 256], "The model's context window in tokens, when the built-in table does not know it."),
                        "response_format": described(
                            ["type": "boolean"],
                            "Also send an output_schema as Chat Completions' response_format: llama.cpp's server reads only that (and turns it into a grammar), ignoring text.format; errand probe tells (output_schema)."),
                    ],
                ],
                "tools": ["type": "array", "items": tool],
                "output_schema": described(
                    schemaOrFile,
                    "The shape of the final answer: sent as text.format json_schema (strict when the schema allows it) and always checked; an answer that does not fit gets limits.output_retries corrective turns, then the run ends invalid_output. The parsed value is the result's output."),
                "input_schema": described(schemaOrFile, "The parameters this agent takes when another agent uses it as a tool (default: one \"task\" string), sent to it as JSON."),
                "handoffs": described(
                    ["type": "array", "items": string],
                    "Specs of agents this one may hand the conversation to: the model gets a transfer_to_<name> tool for each; the agent it names answers from the next turn."),
                "guardrails": described(
                    [
                        "type": "object", "additionalProperties": false,
                        "properties": [
                            "input": described(["type": "array", "items": check], "Checks on the task, run beside the first model call; a trip cancels it before any tool runs."),
                            "output": described(["type": "array", "items": check], "Checks on the final answer."),
                        ],
                    ],
                    "Checks that end the run with status guardrail_tripped; one that crashes or times out fails closed."),
                "tool_choice": [
                    "oneOf": [
                        ["type": "string", "enum": ["auto", "none", "required"]],
                        ["type": "object", "required": ["type", "name"], "additionalProperties": false,
                         "properties": ["type": ["const": "function"], "name": string]],
                    ]
                ],
                "parallel_tool_calls": ["type": "boolean"],
                "settings": [
                    "type": "object", "additionalProperties": false,
                    "properties": [
                        "temperature": ["type": "number", "minimum": 0, "maximum": 2],
                        "top_p": ["type": "number", "minimum": 0, "maximum": 1],
                        "max_output_tokens": ["type": "integer", "minimum": 16],
                        "reasoning": [
                            "type": "object", "additionalProperties": false,
                            "properties": [
                                "effort": ["type": "string", "enum": ["none", "minimal", "low", "medium", "high", "xhigh", "max"]],
                                "summary": ["type": "string", "enum": ["auto", "concise", "detailed"]],
                            ],
                        ],
                        "text": [
                            "type": "object", "additionalProperties": false,
                            "properties": [
                                "format": [
                                    "type": "object", "required": ["type"], "additionalProperties": false,
                                    "properties": [
                                        "type": ["type": "string", "enum": ["text", "json_object", "json_schema"]],
                                        "name": string, "schema": ["type": "object"], "description": string, "strict": ["type": "boolean"],
                                    ],
                                ],
                                "verbosity": ["type": "string", "enum": ["low", "medium", "high"]],
                            ],
                        ],
                        "store": ["type": "boolean"],
                        "metadata": stringMap,
                        "include": ["type": "array", "items": string],
                        "stream": described(["type": "boolean"], "Stream each turn (default true); false makes each turn one JSON call."),
                        "background": described(["type": "boolean"], "Run each turn in background mode: polled, or streamed and resumed when the stream breaks; cancelled on the server when the run stops early."),
                        "prompt_cache_key": described(["type": "string", "minLength": 1], "Groups requests that share a prompt prefix, for prompt caching."),
                        "safety_identifier": described(["type": "string", "minLength": 1], "A stable, hashed id of the end user, for the provider's abuse detection."),
                        "service_tier": described(["type": "string", "minLength": 1, "examples": ["auto", "default", "flex", "priority"]], "The processing tier."),
                        "truncation": described(["type": "string", "enum": ["auto", "disabled"]], "What the provider does when the context overflows."),
                        "max_tool_calls": described(["type": "integer", "minimum": 1], "The cap on the provider's own (hosted) tool calls per response; local tool calls are capped by limits.max_tool_calls."),
                        "top_logprobs": ["type": "integer", "minimum": 0, "maximum": 20],
                        "context_management": described(
                            ["oneOf": [
                                ["type": "object", "required": ["type"], "properties": ["type": string]],
                                ["type": "array", "items": ["type": "object", "required": ["type"], "properties": ["type": string]]],
                            ]],
                            "Server-side context management, e.g. {\"type\": \"compaction\", \"compact_threshold\": 200000}; one object is sent as a list of one."),
                        "extra": described(
                            ["type": "object", "propertyNames": ["not": ["enum": .array((managedFields.keys.sorted() + settingsKeys.filter { $0 != "extra" }).map(JSONValue.string))]]],
                            "Request fields Errand does not name yet, merged into every request body last."),
                    ],
                ],
                "limits": [
                    "type": "object", "additionalProperties": false,
                    "properties": [
                        "max_turns": ["type": "integer", "minimum": 1],
                        "max_tool_calls": ["type": "integer", "minimum": 0],
                        "timeout_seconds": ["type": "number", "exclusiveMinimum": 0],
                        "tool_timeout_seconds": ["type": "number", "exclusiveMinimum": 0],
                        "max_tool_concurrency": ["type": "integer", "minimum": 1],
                        "max_total_tokens": described(["type": "integer", "minimum": 1], "A budget of tokens (input plus output) over the run."),
                        "max_input_tokens": described(["type": "integer", "minimum": 1], "A budget of input tokens over the run."),
                        "max_output_tokens": described(["type": "integer", "minimum": 1], "A budget of output tokens (reasoning included) over the run."),
                        "max_cost_usd": described(
                            ["type": "number", "exclusiveMinimum": 0],
                            "A budget in USD over the run, at the model's price; the run stops with status budget_exceeded before a turn that would pass it."),
                        "output_retries": described(["type": "integer", "minimum": 0], "Corrective turns for an answer that does not fit output_schema (default 2)."),
                        "max_agent_depth": described(["type": "integer", "minimum": 0], "How deep agents may call agents, as tools or judges (default 3)."),
                        "max_handoffs": described(["type": "integer", "minimum": 0], "How many times the conversation may be handed on (default 8)."),
                    ],
                ],
                "context": described(
                    [
                        "type": "object", "additionalProperties": false,
                        "properties": [
                            "window": described(["type": "integer", "minimum": 256], "The context window in tokens (default: the model's, from the built-in table or provider.context_window)."),
                            "compaction": described(
                                ["enum": ["auto", "server", "local", "off"]],
                                "auto (default): on the server for OpenAI and Azure, else local; server: context_management and POST /responses/compact; local: old tool outputs dropped, then a summary by the model; off: never."),
                            "threshold": described(["type": "number", "minimum": 0.1, "maximum": 0.98], "The fraction of the window past which the run compacts (default 0.8)."),
                            "keep_recent_turns": described(["type": "integer", "minimum": 1], "How many recent turns a local compaction keeps whole (default 4)."),
                        ],
                    ],
                    "How runs keep within the model's context window."),
                "journal": described(
                    [
                        "type": "object", "additionalProperties": false,
                        "properties": [
                            "durability": described(
                                ["enum": ["process", "power"]],
                                "process (default): each line survives the process being killed; power: each line is fsynced, and the folder when a journal is created."),
                            "tool_output": described(
                                ["enum": ["full", "truncated", "none"]],
                                "How much of each tool's output is journaled (default full). A resumed run sends the model what was kept."),
                            "tool_output_max_chars": ["type": "integer", "minimum": 0],
                            "redact_env": described(
                                ["type": "array", "items": string],
                                "Environment variables whose values are written as [redacted] wherever they would appear in a journal (the provider's API key always is, and so are variables substituted with ${VAR} into MCP servers' env, headers and url and the provider's headers, except PATH, HOME and the like)."),
                        ],
                    ],
                    "How run journals are written."),
                "workspace": [
                    "type": "object", "additionalProperties": false,
                    "properties": [
                        "root": described(string, "The folder tools work in, relative to the spec unless absolute."),
                        "writable": ["type": "boolean"],
                    ],
                ],
            ],
        ]
    }()
}
