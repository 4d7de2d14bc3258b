import ErrandCore
import ErrandTools
import Foundation
import Logging
import ResponsesAPI
import Testing

/// The file tools, called as the runner calls them (JSON arguments through the registry), on a real folder.
@Suite(.timeLimit(.minutes(3))) struct FileToolsTests {
    let root: URL
    let outside: URL

    init() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("errand-files-\(UUID().uuidString)")
        root = base.appendingPathComponent("workspace")
        outside = base.appendingPathComponent("outside")
        let manager = FileManager.default
        try manager.createDirectory(at: root.appendingPathComponent("src/deep"), withIntermediateDirectories: true)
        try manager.createDirectory(at: root.appendingPathComponent(".git"), withIntermediateDirectories: true)
        try manager.createDirectory(at: outside, withIntermediateDirectories: true)
        try (1...30).map { "line \($0)" }.joined(separator: "\n").appending("\n").write(to: root.appendingPathComponent("notes.txt"), atomically: true, encoding: .utf8)
        try "func alpha() {}\nlet beta = 1\nfunc gamma() {}\n".write(to: root.appendingPathComponent("src/a.swift"), atomically: true, encoding: .utf8)
        try "# Title\nalpha in markdown\n".write(to: root.appendingPathComponent("src/deep/b.md"), atomically: true, encoding: .utf8)
        try "ref: refs/heads/main\nalpha in git\n".write(to: root.appendingPathComponent(".git/HEAD"), atomically: true, encoding: .utf8)
        try Data([0x89, 0x50, 0x4E, 0x47, 0x00, 0x01, 0x02]).write(to: root.appendingPathComponent("image.png"))
        try "secret".write(to: outside.appendingPathComponent("secret.txt"), atomically: true, encoding: .utf8)
        try manager.createSymbolicLink(atPath: root.appendingPathComponent("escape").path, withDestinationPath: outside.path)
        try manager.createSymbolicLink(atPath: root.appendingPathComponent("escape.txt").path, withDestinationPath: outside.appendingPathComponent("secret.txt").path)
        try manager.createSymbolicLink(atPath: root.appendingPathComponent("loop-a").path, withDestinationPath: root.appendingPathComponent("loop-b").path)
        try manager.createSymbolicLink(atPath: root.appendingPathComponent("loop-b").path, withDestinationPath: root.appendingPathComponent("loop-a").path)
        try manager.createSymbolicLink(atPath: root.appendingPathComponent("inner-link.txt").path, withDestinationPath: "notes.txt")
    }

    func call(_ name: String, _ arguments: JSONValue, writable: Bool = false) async throws -> ToolOutput {
        var registry = ToolRegistry()
        let workspace = try Workspace(root: root, writable: writable)
        try FileTools.register(into: &registry, workspace: workspace)
        guard let tool = registry[name] else { throw ToolError("no tool \(name)") }
        let problems = SchemaValidator.problems(arguments, schema: tool.parameters)
        guard problems.isEmpty else { throw ToolError(problems.joined(separator: "; ")) }
        let context = ToolContext(runID: "r", callID: "c", workspace: workspace, logger: Logger(label: "test"))
        return try await tool.call(arguments: arguments, context: context)
    }

    func refusal(_ name: String, _ arguments: JSONValue, writable: Bool = false) async -> String? {
        do {
            _ = try await call(name, arguments, writable: writable)
            return nil
        } catch let error as ToolError {
            return error.message
        } catch {
            return "\(error)"
        }
    }

    @Test func readFileNumbersLinesAndPages() async throws {
        let output = try await call("read_file", ["path": "notes.txt", "offset": 3, "limit": 2]).text
        #expect(output == "     3\tline 3\n     4\tline 4\n[lines 3–4 of 30; read on with offset 5]\n")
        let whole = try await call("read_file", ["path": "src/a.swift", "offset": nil, "limit": nil]).text
        #expect(whole == "     1\tfunc alpha() {}\n     2\tlet beta = 1\n     3\tfunc gamma() {}\n")
        let viaLink = try await call("read_file", ["path": "inner-link.txt", "offset": 30, "limit": nil]).text
        #expect(viaLink.hasPrefix("    30\tline 30"), "a symlink that stays inside is fine")
    }

    @Test func hugeNumbersFromTheModelDoNotCrash() async throws {
        let output = try await call("read_file", ["path": "notes.txt", "offset": 29, "limit": 9_223_372_036_854_774_784]).text
        #expect(output.hasPrefix("    29\tline 29\n    30\tline 30\n"))
        let listed = try await call("list_directory", ["path": "src", "recursive": true, "max_entries": 9_223_372_036_854_774_784]).text
        #expect(listed.contains("a.swift"))
    }

    @Test func readFileRefusesWhatItCannotShow() async throws {
        #expect(await refusal("read_file", ["path": "image.png", "offset": nil, "limit": nil])?.contains("binary file (7 bytes)") == true)
        #expect(await refusal("read_file", ["path": "src", "offset": nil, "limit": nil])?.contains("is a directory") == true)
        #expect(await refusal("read_file", ["path": "missing.txt", "offset": nil, "limit": nil]) == "'missing.txt' does not exist")
        #expect(await refusal("read_file", ["path": "notes.txt", "offset": 99, "limit": nil])?.contains("has 30 lines") == true)
    }

    @Test func listDirectoryShowsFoldersLinksAndCaps() async throws {
        let top = try await call("list_directory", ["path": nil, "recursive": nil, "max_entries": nil]).text
        let lines = top.split(separator: "\n").map(String.init)
        #expect(lines.contains(".git/"))
        #expect(lines.contains("src/"))
        #expect(lines.contains("notes.txt"))
        #expect(lines.contains("escape -> [outside the workspace]"))
        #expect(lines.contains("escape.txt -> [outside the workspace]"))
        #expect(lines.contains("loop-a -> [a link loop]"))
        #expect(lines.contains("inner-link.txt -> notes.txt"))
        #expect(!top.contains(outside.path), "nothing outside is revealed")
        let tree = try await call("list_directory", ["path": "src", "recursive": true, "max_entries": nil]).text
        #expect(tree == "a.swift\ndeep/\ndeep/b.md")
        let capped = try await call("list_directory", ["path": ".", "recursive": true, "max_entries": 2]).text
        #expect(capped.contains("more entries not shown"))
        let all = try await call("list_directory", ["path": ".", "recursive": true, "max_entries": 500]).text
        #expect(!all.contains(".git/HEAD"), "the .git folder is listed, not entered")
        #expect(!all.contains("secret.txt"), "a symlinked folder is not followed")
    }

    @Test func searchFilesFindsLinesWithNumbers() async throws {
        let output = try await call("search_files", ["pattern": "^func \\w+", "path": nil, "glob": nil]).text
        #expect(output == "src/a.swift:1: func alpha() {}\nsrc/a.swift:3: func gamma() {}")
        let markdown = try await call("search_files", ["pattern": "alpha", "path": nil, "glob": "*.md"]).text
        #expect(markdown == "src/deep/b.md:2: alpha in markdown")
        let none = try await call("search_files", ["pattern": "zeta", "path": "src", "glob": nil]).text
        #expect(none.hasPrefix("No match"))
        #expect(await refusal("search_files", ["pattern": "(unclosed", "path": nil, "glob": nil])?.contains("not a valid regular expression") == true)
        let secret = try await call("search_files", ["pattern": "secret|git", "path": nil, "glob": nil]).text
        #expect(!secret.contains("secret.txt") && !secret.contains(".git/"), "no match through links or in .git")
    }

    @Test func writeFileOnlyInAWritableWorkspace() async throws {
        var registry = ToolRegistry()
        try FileTools.register(into: &registry, workspace: try Workspace(root: root))
        #expect(registry.names == ["read_file", "list_directory", "search_files"])
        let written = try await call("write_file", ["path": "out/new.txt", "content": "hi\n"], writable: true).text
        #expect(written == "wrote 3 bytes to out/new.txt")
        #expect(try String(contentsOf: root.appendingPathComponent("out/new.txt"), encoding: .utf8) == "hi\n")
    }

    static let escapes: [(String, JSONValue, String)] = [
        ("read_file", ["path": "../outside/secret.txt", "offset": nil, "limit": nil], "outside the workspace"),
        ("read_file", ["path": "src/../../outside/secret.txt", "offset": nil, "limit": nil], "outside the workspace"),
        ("read_file", ["path": "/etc/passwd", "offset": nil, "limit": nil], "outside the workspace"),
        ("read_file", ["path": "~/.ssh/id_rsa", "offset": nil, "limit": nil], "outside the workspace"),
        ("read_file", ["path": "escape.txt", "offset": nil, "limit": nil], "through a symbolic link"),
        ("read_file", ["path": "escape/secret.txt", "offset": nil, "limit": nil], "through a symbolic link"),
        ("read_file", ["path": "loop-a", "offset": nil, "limit": nil], "symbolic link loop"),
        ("list_directory", ["path": "escape", "recursive": nil, "max_entries": nil], "through a symbolic link"),
        ("list_directory", ["path": "..", "recursive": nil, "max_entries": nil], "outside the workspace"),
        ("search_files", ["pattern": "secret", "path": "escape", "glob": nil], "through a symbolic link"),
        ("write_file", ["path": "escape/planted.txt", "content": "x"], "through a symbolic link"),
        ("write_file", ["path": "../planted.txt", "content": "x"], "outside the workspace"),
        ("write_file", ["path": "/tmp/planted.txt", "content": "x"], "outside the workspace"),
    ]

    @Test(arguments: escapes)
    func escapeAttemptsAreRefused(_ tool: String, _ arguments: JSONValue, _ reason: String) async throws {
        let message = await refusal(tool, arguments, writable: true)
        #expect(message?.contains(reason) == true, "\(message ?? "not refused")")
        #expect(!FileManager.default.fileExists(atPath: outside.appendingPathComponent("planted.txt").path))
    }

    @Test func anAbsolutePathInsideTheWorkspaceIsFine() async throws {
        let real = try Workspace(root: root).root.path
        let output = try await call("read_file", ["path": .string(real + "/src/a.swift"), "offset": nil, "limit": 1]).text
        #expect(output.hasPrefix("     1\tfunc alpha() {}"))
    }
}
