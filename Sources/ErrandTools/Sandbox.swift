import ErrandCore
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension Workspace {
    /// Resolves a path the model gave to a real path inside the workspace, or throws a ``ToolError`` that says why not:
    /// `..` or an absolute path that leaves the root, a symlink that leads outside it, a symlink loop, a missing file.
    ///
    /// With `mustExist: false` (writing), the deepest existing folder is resolved and the rest is appended.
    public func resolve(_ path: String, mustExist: Bool = true) throws -> URL {
        let trimmed = path.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.contains("\0") else { throw ToolError("the path contains a NUL byte") }
        let rootPath = Self.realPath(root.path) ?? root.path
        let candidate: String
        if trimmed.isEmpty || trimmed == "." {
            candidate = rootPath
        } else if trimmed.hasPrefix("/") {
            candidate = URL(fileURLWithPath: trimmed).standardizedFileURL.path
        } else if trimmed.hasPrefix("~") {
            throw ToolError("'\(path)' is outside the workspace: use a path relative to the workspace root")
        } else {
            candidate = URL(fileURLWithPath: rootPath).appendingPathComponent(trimmed).standardizedFileURL.path
        }
        guard Self.isInside(candidate, root: rootPath) else {
            throw ToolError("'\(path)' is outside the workspace: use a path relative to the workspace root, without '..'")
        }
        // Follow symlinks: the real path must stay inside too.
        var existing = candidate
        var rest: [String] = []
        while true {
            if let real = Self.realPath(existing) {
                let full = rest.isEmpty ? real : real + "/" + rest.reversed().joined(separator: "/")
                guard Self.isInside(full, root: rootPath) else {
                    throw ToolError("'\(path)' leads outside the workspace through a symbolic link")
                }
                if mustExist, !rest.isEmpty { throw ToolError("'\(path)' does not exist") }
                return URL(fileURLWithPath: full)
            }
            if errno == ELOOP { throw ToolError("'\(path)' is a symbolic link loop") }
            if errno != ENOENT && errno != ENOTDIR { throw ToolError("'\(path)' cannot be resolved: \(String(cString: strerror(errno)))") }
            if Self.isSymlink(existing) {
                throw ToolError("'\(path)' is a broken symbolic link")
            }
            if mustExist { throw ToolError("'\(path)' does not exist") }
            let url = URL(fileURLWithPath: existing)
            rest.append(url.lastPathComponent)
            existing = url.deletingLastPathComponent().path
            guard Self.isInside(existing, root: rootPath) || existing == rootPath else {
                throw ToolError("'\(path)' is outside the workspace")
            }
        }
    }

    /// The path relative to the workspace root, for showing to the model.
    public func relativePath(_ url: URL) -> String {
        let rootPath = Self.realPath(root.path) ?? root.path
        let path = url.path
        if path == rootPath { return "." }
        if path.hasPrefix(rootPath + "/") { return String(path.dropFirst(rootPath.count + 1)) }
        return path
    }

    static func isInside(_ path: String, root: String) -> Bool {
        path == root || path.hasPrefix(root.hasSuffix("/") ? root : root + "/")
    }

    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    static func isSymlink(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFLNK
    }
}
