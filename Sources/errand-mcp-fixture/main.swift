import Foundation
import MCP

// A small MCP server over stdio, written with the SDK errand uses as a client, for errand's tests.
//   errand-mcp-fixture            serves the tools below
//   errand-mcp-fixture --silent   reads its input and never answers (a server that hangs in initialize)
//   errand-mcp-fixture --fail     writes a reason to stderr and exits 3 before reading anything
// Tools: echo {text}, add {a, b, note?}, slow {seconds}, fails {} (an error result), crash {} (exits mid-call),
// picture {} (an image and a resource), pid {} (its own process id), garble {} (writes lines that are not JSON-RPC to
// stdout, then never answers that call).

let arguments = CommandLine.arguments.dropFirst()
if arguments.contains("--fail") {
    FileHandle.standardError.write(Data("fixture: cannot open the repository (refusing to start)\n".utf8))
    exit(3)
}
if arguments.contains("--silent") {
    FileHandle.standardError.write(Data("fixture: listening, answering nothing\n".utf8))
    while let _ = readLine() {}
    exit(0)
}

func text(_ value: String) -> Tool.Content { .text(text: value, annotations: nil, _meta: nil) }

let server = Server(name: "errand-mcp-fixture", version: "1.0.0", capabilities: .init(tools: .init(listChanged: false)))

await server.withMethodHandler(ListTools.self) { _ in
    ListTools.Result(tools: [
        Tool(
            name: "echo", description: "Echoes the text.",
            inputSchema: ["type": "object", "properties": ["text": ["type": "string"]], "required": ["text"]]),
        Tool(
            name: "add", description: "Adds two integers; an optional note is echoed.",
            inputSchema: [
                "type": "object",
                "properties": ["a": ["type": "integer"], "b": ["type": "integer"], "note": ["type": "string"]],
                "required": ["a", "b"],
            ]),
        Tool(
            name: "slow", description: "Sleeps, then answers.",
            inputSchema: ["type": "object", "properties": ["seconds": ["type": "number"]], "required": ["seconds"]]),
        Tool(name: "fails", description: "Always returns an error result.", inputSchema: ["type": "object", "properties": [:]]),
        Tool(name: "crash", description: "Exits in the middle of the call.", inputSchema: ["type": "object", "properties": [:]]),
        Tool(name: "picture", description: "Returns an image and a resource.", inputSchema: ["type": "object"]),
        Tool(name: "pid", description: "Returns the server's process id.", inputSchema: ["type": "object", "properties": [:]]),
        Tool(name: "garble", description: "Writes garbage to stdout and never answers.", inputSchema: ["type": "object", "properties": [:]]),
        Tool(
            name: "lookup.v2", description: "A name with a dot and a free-form map.",
            inputSchema: ["type": "object", "additionalProperties": ["type": "string"]]),
    ])
}

await server.withMethodHandler(CallTool.self) { params in
    let arguments = params.arguments ?? [:]
    switch params.name {
    case "echo":
        return CallTool.Result(content: [text("echo: \(arguments["text"]?.stringValue ?? "")")])
    case "add":
        let a = arguments["a"]?.intValue ?? 0, b = arguments["b"]?.intValue ?? 0
        let note = arguments["note"].map { " (\($0.stringValue ?? "\($0)"))" } ?? ""
        return CallTool.Result(content: [text("\(a + b)\(note)")])
    case "slow":
        let seconds = arguments["seconds"].flatMap { Double($0) } ?? 1
        try await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
        return CallTool.Result(content: [text("slept \(seconds) s")])
    case "fails":
        return CallTool.Result(content: [text("the repository is locked")], isError: true)
    case "crash":
        FileHandle.standardError.write(Data("fixture: crashing on purpose\n".utf8))
        exit(7)
    case "picture":
        return CallTool.Result(content: [
            .image(data: Data(repeating: 7, count: 300).base64EncodedString(), mimeType: "image/png", annotations: nil, _meta: nil),
            .resource(resource: .text("resource body", uri: "file:///notes.txt", mimeType: "text/plain")),
        ])
    case "garble":
        FileHandle.standardOutput.write(Data("this is not JSON\n{\"jsonrpc\": \"2.0\", \"id\": \"nobody\", \"result\": 42}\n\u{1}\u{2}\u{3}{{{\n".utf8))
        try await Task.sleep(for: .seconds(3600))
        return CallTool.Result(content: [text("never")])
    case "pid":
        return CallTool.Result(content: [text("\(ProcessInfo.processInfo.processIdentifier)")])
    case "lookup.v2":
        return CallTool.Result(content: [text("keys: \(arguments.keys.sorted().joined(separator: ","))")])
    default:
        throw MCPError.invalidParams("unknown tool \(params.name)")
    }
}

try await server.start(transport: StdioTransport())
await server.waitUntilCompleted()
