import Foundation
import ResponsesAPI

/// The folder a run's tools may read (and, when writable, write); nothing outside it.
public struct Workspace: Sendable, Hashable {
    /// The root, with symlinks resolved.
    public let root: URL
    /// Whether tools may write.
    public let isWritable: Bool

    /// A workspace at `root` (which must exist and be a directory).
    public init(root: URL, writable: Bool = false) throws(CoreError) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CoreError(.workspace, "the workspace \(root.path) is not a directory")
        }
        self.root = root.resolvingSymlinksInPath().standardizedFileURL
        self.isWritable = writable
    }
}
