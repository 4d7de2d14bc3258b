import ErrandCore
import Foundation
import ResponsesAPI

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The built-in file tools, all confined to the run's workspace.
public enum FileTools {
    /// The names of the built-in file tools.
    public static let names = ["read_file", "list_directory", "search_files", "write_file"]

    /// Registers `read_file`, `list_directory`, `search_files`, and `write_file` when the workspace is writable.
    public static func register(into registry: inout ToolRegistry, workspace: Workspace) throws(CoreError) {
        try registry.register(ReadFile())
        try registry.register(ListDirectory())
        try registry.register(SearchFiles())
        if workspace.isWritable { try registry.register(WriteFile()) }
    }

    /// Folders listed but not descended into by the recursive tools.
    static let skippedFolders: Set<String> = [".git", ".build", ".swiftpm", "node_modules"]

    static func isSkipped(_ name: String) -> Bool {
        skippedFolders.contains(name) || name.hasPrefix(".build-") || name.hasPrefix(".build_")
    }

    /// Whether the bytes look like text: no NUL in the first 8 KiB and valid UTF-8.
    static func text(of data: Data) -> String? {
        if data.prefix(8192).contains(0) { return nil }
        return String(validating: data, as: UTF8.self)
    }

    static func kind(_ url: URL) -> (isDirectory: Bool, isSymlink: Bool, size: Int) {
        var info = stat()
        guard lstat(url.path, &info) == 0 else { return (false, false, 0) }
        let type = info.st_mode & S_IFMT
        return (type == S_IFDIR, type == S_IFLNK, Int(info.st_size))
    }
}

/// `read_file {path, offset?, limit?}`: numbered lines of a text file.
public struct ReadFile: Tool {
    /// Reading does no harm when repeated.
    public var isIdempotent: Bool { true }
    /// The arguments.
    public struct Arguments: Decodable, Sendable {
        var path: String
        var offset: Int?
        var limit: Int?
    }

    /// The largest file read.
    public var maxBytes = 8 << 20
    /// Lines shown when no limit is given.
    public var defaultLimit = 2000
    /// The longest line shown whole.
    public var maxLineLength = 2000

    /// Creates the tool.
    public init() {}

    public let name = "read_file"
    public let description = """
        Read a text file of the workspace. Lines come numbered ("   12\\tline"). Use offset (the first line, from 1) and \
        limit to read a long file in parts.
        """
    public var parameters: JSONSchema {
        .object([
            "path": .string("The file's path, relative to the workspace root."),
            "offset": .integer("The first line to read, counting from 1 (default 1).").optional(),
            "limit": .integer("How many lines to read (default \(defaultLimit)).").optional(),
        ])
    }

    public func call(arguments: Arguments, context: ToolContext) async throws -> ToolOutput {
        let workspace = try context.requireWorkspace()
        let url = try workspace.resolve(arguments.path)
        let shown = workspace.relativePath(url)
        let data = try SandboxIO.read(url, in: workspace, maxBytes: maxBytes, tooBig: " of read_file: use search_files to find the part you need")
        guard let text = FileTools.text(of: data) else {
            throw ToolError("'\(shown)' is a binary file (\(data.count) bytes); read_file shows text only")
        }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        if text.hasSuffix("\n") { lines.removeLast() }
        if lines.isEmpty { return .text("\(shown) is empty.") }
        let first = max(1, arguments.offset ?? 1)
        guard first <= lines.count else {
            throw ToolError("'\(shown)' has \(lines.count) lines; offset \(first) is past the end")
        }
        // Clamped before adding: the model may send any integer, Int.max included.
        let count = min(max(1, arguments.limit ?? defaultLimit), lines.count)
        let last = min(lines.count, first + count - 1)
        var output = ""
        output.reserveCapacity(min(text.utf8.count, 64 << 10))
        for number in first...last {
            var line = lines[number - 1]
            if line.hasSuffix("\r") { line = line.dropLast() }
            let body = line.count > maxLineLength ? line.prefix(maxLineLength) + " [line cut]" : line
            output += String(repeating: " ", count: max(0, 6 - String(number).count)) + "\(number)\t\(body)\n"
        }
        if first > 1 || last < lines.count {
            output += "[lines \(first)–\(last) of \(lines.count); \(last < lines.count ? "read on with offset \(last + 1)" : "end of file")]\n"
        }
        return .text(output)
    }
}

/// `list_directory {path?, recursive?, max_entries?}`: the entries of a folder.
public struct ListDirectory: Tool {
    /// Reading does no harm when repeated.
    public var isIdempotent: Bool { true }
    /// The arguments.
    public struct Arguments: Decodable, Sendable {
        var path: String?
        var recursive: Bool?
        var maxEntries: Int?

        enum CodingKeys: String, CodingKey { case path, recursive, maxEntries = "max_entries" }
    }

    /// Creates the tool.
    public init() {}

    public let name = "list_directory"
    public let description = """
        List a folder of the workspace: folders end with '/', symbolic links show their target inside the workspace. recursive lists the \
        whole tree (not entering .git or build folders).
        """
    public var parameters: JSONSchema {
        .object([
            "path": .string("The folder, relative to the workspace root (default: the root).").optional(),
            "recursive": .boolean("List subfolders too (default false).").optional(),
            "max_entries": .integer("The most entries to list (default 200).").optional(),
        ])
    }

    public func call(arguments: Arguments, context: ToolContext) async throws -> ToolOutput {
        let workspace = try context.requireWorkspace()
        let folder = try workspace.resolve(arguments.path ?? ".")
        guard FileTools.kind(folder).isDirectory else { throw ToolError("'\(workspace.relativePath(folder))' is not a directory: use read_file") }
        let opened = try SandboxIO.openDirectory(folder, in: workspace)
        let limit = max(1, arguments.maxEntries ?? 200)
        var lines: [String] = []
        var total = 0
        // Walked by descriptors: a folder swapped for a link while listing is not entered.
        func walk(_ directory: Descriptor, _ url: URL, prefix: String) throws {
            try context.checkCancellation()
            for name in SandboxIO.names(in: directory) {
                let child = url.appendingPathComponent(name)
                guard let kind = SandboxIO.kind(of: name, in: directory) else { continue }
                total += 1
                let shown = prefix + name
                if lines.count < limit {
                    if kind.isSymlink {
                        // Where a link leads is shown only inside the workspace; nothing outside it is revealed.
                        let target: String
                        do {
                            target = workspace.relativePath(try workspace.resolve(workspace.relativePath(child)))
                        } catch let error as ToolError {
                            target = error.message.contains("loop") ? "[a link loop]" : error.message.contains("broken") ? "[a broken link]" : "[outside the workspace]"
                        }
                        lines.append("\(shown) -> \(target)")
                    } else {
                        lines.append(kind.isDirectory ? shown + "/" : shown)
                    }
                }
                if arguments.recursive == true, kind.isDirectory, !FileTools.isSkipped(name), let inner = SandboxIO.child(name, of: directory) {
                    try walk(inner, child, prefix: shown + "/")
                }
            }
        }
        try walk(opened, folder, prefix: "")
        if lines.isEmpty { return .text("\(workspace.relativePath(folder)) is empty.") }
        var output = lines.joined(separator: "\n")
        if total > lines.count { output += "\n[\(total - lines.count) more entries not shown; raise max_entries or list a subfolder]" }
        return .text(output)
    }
}

/// `search_files {pattern, path?, glob?}`: lines matching a regular expression, with file and line numbers.
public struct SearchFiles: Tool {
    /// Reading does no harm when repeated.
    public var isIdempotent: Bool { true }
    /// The arguments.
    public struct Arguments: Decodable, Sendable {
        var pattern: String
        var path: String?
        var glob: String?
    }

    /// The most matches shown.
    public var maxMatches = 100
    /// Files larger than this are skipped.
    public var maxFileBytes = 2 << 20

    /// Creates the tool.
    public init() {}

    public let name = "search_files"
    public let description = """
        Search the text files of the workspace for a regular expression. Answers "path:line: text" for each matching \
        line. Narrow with path (a folder or file) and glob (e.g. "*.swift").
        """
    public var parameters: JSONSchema {
        .object([
            "pattern": .string("A regular expression (ICU syntax), e.g. \"func \\\\w+Tool\"."),
            "path": .string("A folder or file to search, relative to the workspace root (default: the root).").optional(),
            "glob": .string("Only files whose name or relative path matches this glob, e.g. \"*.md\".").optional(),
        ])
    }

    public func call(arguments: Arguments, context: ToolContext) async throws -> ToolOutput {
        let workspace = try context.requireWorkspace()
        let expression: NSRegularExpression
        do {
            expression = try NSRegularExpression(pattern: arguments.pattern)
        } catch {
            throw ToolError("'\(arguments.pattern)' is not a valid regular expression")
        }
        let start = try workspace.resolve(arguments.path ?? ".")
        var matches: [String] = []
        var more = 0
        var searched = 0
        // Walked by descriptors from the root: links are never followed, and a folder swapped for one is not entered.
        let startParts = try SandboxIO.components(start, in: workspace)
        let root = try SandboxIO.openRoot(workspace)
        func search(_ name: String, in directory: Descriptor, _ url: URL) throws {
            try context.checkCancellation()
            guard let kind = SandboxIO.kind(of: name, in: directory), !kind.isSymlink else { return }
            if kind.isDirectory {
                guard let inner = SandboxIO.child(name, of: directory) else { return }
                for child in SandboxIO.names(in: inner) where !FileTools.isSkipped(child) {
                    try search(child, in: inner, url.appendingPathComponent(child))
                }
                return
            }
            let relative = workspace.relativePath(url)
            if let glob = arguments.glob, fnmatch(glob, url.lastPathComponent, 0) != 0, fnmatch(glob, relative, 0) != 0 { return }
            guard kind.isRegular, kind.size <= maxFileBytes,
                let data = try? SandboxIO.read(name, in: directory, maxBytes: maxFileBytes, shown: relative),
                let text = FileTools.text(of: data)
            else { return }
            searched += 1
            var number = 0
            for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
                number += 1
                let string = String(line)
                let range = NSRange(string.startIndex..., in: string)
                guard expression.firstMatch(in: string, range: range) != nil else { continue }
                if matches.count < maxMatches {
                    let shown = string.count > 300 ? string.prefix(300) + " [line cut]" : Substring(string)
                    matches.append("\(relative):\(number): \(shown)")
                } else {
                    more += 1
                }
            }
        }
        if let last = startParts.last {
            try search(last, in: try SandboxIO.openDirectory(startParts.dropLast(), from: root, shown: workspace.relativePath(start)), start)
        } else {
            for child in SandboxIO.names(in: root) where !FileTools.isSkipped(child) {
                try search(child, in: root, start.appendingPathComponent(child))
            }
        }
        if matches.isEmpty { return .text("No match for /\(arguments.pattern)/ in \(searched) files.") }
        var output = matches.joined(separator: "\n")
        if more > 0 { output += "\n[\(more) more matches not shown; narrow the pattern, path or glob]" }
        return .text(output)
    }
}

/// `write_file {path, content}`: creates or replaces a text file (only in a writable workspace).
public struct WriteFile: Tool {
    /// The arguments.
    public struct Arguments: Decodable, Sendable {
        var path: String
        var content: String
    }

    /// Creates the tool.
    public init() {}

    public let name = "write_file"
    public let description = "Create or replace a text file of the workspace with the given content (folders are created)."
    public var parameters: JSONSchema {
        .object([
            "path": .string("The file's path, relative to the workspace root."),
            "content": .string("The whole new content of the file."),
        ])
    }

    public func call(arguments: Arguments, context: ToolContext) async throws -> ToolOutput {
        let workspace = try context.requireWorkspace()
        guard workspace.isWritable else { throw ToolError("the workspace is read-only: write_file is not allowed") }
        let url = try workspace.resolve(arguments.path, mustExist: false)
        let data = Data(arguments.content.utf8)
        try SandboxIO.write(data, to: url, in: workspace)
        return .text("wrote \(data.count) bytes to \(workspace.relativePath(url))")
    }
}
