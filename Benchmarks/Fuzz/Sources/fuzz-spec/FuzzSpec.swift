import ErrandSpec
import Foundation
import ResponsesAPI

/// A fixed folder per process, as a spec's folder: `tools/` holds the repository's manifests and `work/` is a folder,
/// so that `{"manifest": "tools/jq.json"}` and `"workspace": {"root": "work"}` resolve as they do in `agents/`.
let folder: URL = {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("errand-fuzz-spec", isDirectory: true)
    let tools = url.appendingPathComponent("tools", isDirectory: true)
    try? FileManager.default.createDirectory(at: tools, withIntermediateDirectories: true)
    try? FileManager.default.createDirectory(at: url.appendingPathComponent("work"), withIntermediateDirectories: true)
    let manifests = [
        "word_count.json": #"{"name": "word_count", "description": "Count words.", "command": ["wc", "-w", "{path}"], "parameters": {"type": "object", "properties": {"path": {"type": "string", "x-errand-path": true}}, "required": ["path"], "additionalProperties": false}, "strict": true}"#,
        "jq.json": #"{"name": "jq", "description": "Run jq.", "command": ["jq", "{filter}"], "parameters": {"type": "object", "properties": {"filter": {"type": "string"}}}, "timeout_seconds": 5, "max_output_bytes": 4096}"#,
    ]
    for (name, text) in manifests { try? Data(text.utf8).write(to: tools.appendingPathComponent(name)) }
    try? Data("Be brief.".utf8).write(to: url.appendingPathComponent("instructions.md"))
    return url
}()
let file = folder.appendingPathComponent("spec.json")
let environment = ["PATH": "/usr/bin:/bin", "HOME": "/tmp", "FUZZ_VALUE": "x"]

/// `AgentSpec.parse`, the reader behind `errand run` and `errand check`: a spec is read or refused with problems, never
/// a trap. When it is read, the derived views are computed too.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let data = Data(bytes: start, count: count)
    do {
        let spec = try AgentSpec.parse(data, file: file, environment: environment)
        _ = (spec.toolNames, spec.mcpServers.count, spec.hostedTools.count)
    } catch {
        // `parse` throws only SpecError (typed throws); a spec that cannot be read has problems to say.
        precondition(error.kind == .invalid && !error.problems.isEmpty, "a SpecError without problems")
        _ = error.description
    }
    return 0
}
