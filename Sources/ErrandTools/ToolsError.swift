import Foundation

/// A failure of the tools' own machinery that is not a message for the model: a program that cannot be started. (A
/// tool call that goes wrong is ``ErrandCore/ToolError``, which the model reads.) New kinds may be added without
/// breaking callers.
public struct ToolsError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is.
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case spawn = "cannot start a program"
        }
        private let base: Base

        /// A child process could not be started (no such program, no pipe, no permission).
        public static let spawn = Kind(base: .spawn)

        /// The kind in words.
        public var description: String { base.rawValue }
    }

    /// What kind of failure this is.
    public var kind: Kind
    /// A one-line account for people, naming the program.
    public var message: String
    /// The `errno` behind it, when there is one.
    public var code: Int32?

    /// Creates an error.
    public init(_ kind: Kind, _ message: String, code: Int32? = nil) {
        self.kind = kind
        self.message = message
        self.code = code
    }

    /// The message.
    public var description: String { message }
}
