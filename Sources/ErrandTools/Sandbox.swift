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

/// An open file descriptor, closed when the last reference goes.
final class Descriptor: @unchecked Sendable {
    let fd: Int32
    init(_ fd: Int32) { self.fd = fd }
    deinit { close(fd) }
}

/// What `fstatat` says about a name in a folder, without following a link.
struct EntryKind {
    var isDirectory = false
    var isSymlink = false
    var isRegular = false
    var size = 0
}

/// Opening files of a workspace without a window between checking a path and opening it.
///
/// ``Workspace/resolve(_:mustExist:)`` judges a path and gives the messages; it returns the real path, which has no
/// symbolic link in it. What is then opened is that real path, walked one component at a time from a descriptor of the
/// root with `openat(…, O_NOFOLLOW)`: if any component has become a symbolic link since (a swap racing the tool), the
/// open fails instead of following it out of the workspace. Folders are read from their descriptors (`fdopendir`), files
/// in them opened relative to those, and writes go to a temporary file renamed over the target in the same folder.
/// The same calls exist on Linux and Darwin.
enum SandboxIO {
    static let directoryFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC

    /// The components of a resolved path below the workspace root.
    static func components(_ url: URL, in workspace: Workspace) throws -> [String] {
        let relative = workspace.relativePath(url)
        if relative == "." { return [] }
        guard !relative.hasPrefix("/") else { throw ToolError("'\(url.path)' is outside the workspace") }
        let parts = relative.split(separator: "/").map(String.init)
        guard !parts.contains(where: { $0 == ".." || $0 == "." }) else { throw ToolError("'\(relative)' is outside the workspace") }
        return parts
    }

    static func openRoot(_ workspace: Workspace) throws -> Descriptor {
        let rootPath = Workspace.realPath(workspace.root.path) ?? workspace.root.path
        let fd = open(rootPath, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw ToolError("the workspace root cannot be opened: \(String(cString: strerror(errno)))") }
        return Descriptor(fd)
    }

    static func refusal(_ shown: String, _ code: Int32) -> ToolError {
        switch code {
        case ELOOP, ENOTDIR:
            return ToolError("'\(shown)' changed while it was being opened (a folder on its path is now a symbolic link or a file); refused")
        case ENOENT: return ToolError("'\(shown)' does not exist")
        case EACCES, EPERM: return ToolError("'\(shown)' cannot be opened: permission denied")
        default: return ToolError("'\(shown)' cannot be opened: \(String(cString: strerror(code)))")
        }
    }

    /// The folder at `components`, opened component by component without following links, and created when asked.
    static func openDirectory(_ components: ArraySlice<String>, from root: Descriptor, shown: String, creating: Bool = false) throws -> Descriptor {
        var current = root
        for name in components {
            var fd = openat(current.fd, name, directoryFlags)
            if fd < 0, errno == ENOENT, creating {
                if mkdirat(current.fd, name, 0o755) != 0, errno != EEXIST { throw refusal(shown, errno) }
                fd = openat(current.fd, name, directoryFlags)
            }
            guard fd >= 0 else { throw refusal(shown, errno) }
            current = Descriptor(fd)
        }
        return current
    }

    /// The folder a resolved URL names.
    static func openDirectory(_ url: URL, in workspace: Workspace) throws -> Descriptor {
        let parts = try components(url, in: workspace)
        return try openDirectory(parts[...], from: try openRoot(workspace), shown: workspace.relativePath(url))
    }

    /// The kind of `name` in a folder, not following a link.
    static func kind(of name: String, in folder: Descriptor) -> EntryKind? {
        var info = stat()
        guard fstatat(folder.fd, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else { return nil }
        let type = info.st_mode & S_IFMT
        return EntryKind(isDirectory: type == S_IFDIR, isSymlink: type == S_IFLNK, isRegular: type == S_IFREG, size: Int(info.st_size))
    }

    /// The names in a folder, sorted, without `.` and `..`.
    static func names(in folder: Descriptor) -> [String] {
        // fdopendir takes the descriptor it is given: give it a copy.
        let copy = dup(folder.fd)
        guard copy >= 0 else { return [] }
        guard let stream = fdopendir(copy) else {
            close(copy)
            return []
        }
        defer { closedir(stream) }
        rewinddir(stream)
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafePointer(to: &entry.pointee.d_name) {
                String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self))
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// A child folder, or `nil` when it is not a folder any more.
    static func child(_ name: String, of folder: Descriptor) -> Descriptor? {
        let fd = openat(folder.fd, name, directoryFlags)
        return fd >= 0 ? Descriptor(fd) : nil
    }

    /// Reads a regular file named `name` in a folder, refusing links, non-regular files and files over `maxBytes`.
    static func read(_ name: String, in folder: Descriptor, maxBytes: Int, shown: String, tooBig: String = "") throws -> Data {
        // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below as not a regular file.
        let fd = openat(folder.fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw refusal(shown, errno) }
        let file = Descriptor(fd)
        var info = stat()
        guard fstat(file.fd, &info) == 0 else { throw refusal(shown, errno) }
        let type = info.st_mode & S_IFMT
        if type == S_IFDIR { throw ToolError("'\(shown)' is a directory: use list_directory") }
        guard type == S_IFREG else { throw ToolError("'\(shown)' is not a regular file") }
        let size = Int(info.st_size)
        guard size <= maxBytes else { throw ToolError("'\(shown)' is \(size) bytes, over the \(maxBytes)-byte limit\(tooBig)") }
        var data = Data(count: size)
        var filled = 0
        // Up to the size seen: a file that grows meanwhile is cut there, never read past the cap.
        while filled < size {
            let count = data.withUnsafeMutableBytes { systemRead(file.fd, $0.baseAddress! + filled, size - filled) }
            if count < 0, errno == EINTR || errno == EAGAIN { continue }
            guard count >= 0 else { throw refusal(shown, errno) }
            if count == 0 { break }
            filled += count
        }
        data.count = filled
        return data
    }

    /// Reads the regular file a resolved URL names.
    static func read(_ url: URL, in workspace: Workspace, maxBytes: Int, tooBig: String = "") throws -> Data {
        let parts = try components(url, in: workspace)
        let shown = workspace.relativePath(url)
        guard let last = parts.last else { throw ToolError("'.' is a directory: use list_directory") }
        let folder = try openDirectory(parts.dropLast(), from: try openRoot(workspace), shown: shown)
        return try read(last, in: folder, maxBytes: maxBytes, shown: shown, tooBig: tooBig)
    }

    /// Writes `data` to the file a resolved URL names: to a temporary file in the same folder, then renamed over it
    /// (a link at the target is replaced, never followed). Missing folders are created.
    static func write(_ data: Data, to url: URL, in workspace: Workspace) throws {
        let parts = try components(url, in: workspace)
        let shown = workspace.relativePath(url)
        guard let last = parts.last else { throw ToolError("'.' is a directory") }
        let folder = try openDirectory(parts.dropLast(), from: try openRoot(workspace), shown: shown, creating: true)
        if let existing = kind(of: last, in: folder), existing.isDirectory { throw ToolError("'\(shown)' is a directory") }
        var temporary = ""
        var fd: Int32 = -1
        for _ in 0..<16 {
            temporary = ".\(last.prefix(200)).errand-\(UInt32.random(in: 0...UInt32.max))"
            fd = openat(folder.fd, temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
            if fd >= 0 || errno != EEXIST { break }
        }
        guard fd >= 0 else { throw refusal(shown, errno) }
        let file = Descriptor(fd)
        var written = 0
        let failure: Int32? = data.withUnsafeBytes { bytes in
            while written < bytes.count {
                let count = systemWrite(file.fd, bytes.baseAddress! + written, bytes.count - written)
                if count < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                written += count
            }
            return nil
        }
        if let failure {
            unlinkat(folder.fd, temporary, 0)
            throw ToolError("writing '\(shown)' failed: \(String(cString: strerror(failure)))")
        }
        guard renameat(folder.fd, temporary, folder.fd, last) == 0 else {
            let code = errno
            unlinkat(folder.fd, temporary, 0)
            throw refusal(shown, code)
        }
    }
}

/// `read(2)` and `write(2)`, named apart from ``SandboxIO``'s own `read` and `write`.
private func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int { read(fd, buffer, count) }
private func systemWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int { write(fd, buffer, count) }
