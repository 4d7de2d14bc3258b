import Foundation

/// An error a tool throws to tell the model what went wrong; its message becomes the call's output. Shaped as the
/// other errors of Errand: a kind that can grow, a message, and the lower-level error when there is one.
public struct ToolError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is.
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case failed = "failed", invalidArguments = "invalid arguments"
        }
        private let base: Base

        /// The tool could not do what it was asked.
        public static let failed = Kind(base: .failed)
        /// The arguments do not fit the tool's parameters (a typed tool's `Arguments` could not be decoded).
        public static let invalidArguments = Kind(base: .invalidArguments)

        /// The kind in words.
        public var description: String { base.rawValue }
    }

    /// What kind of failure this is.
    public var kind: Kind
    /// What went wrong, for the model.
    public var message: String
    /// The lower-level error, when there is one (kept for logs, not shown to the model).
    public var underlying: (any Error)?

    /// A failure of the tool, told to the model as `message`.
    public init(_ message: String) {
        self.init(.failed, message)
    }

    /// An error of `kind`.
    public init(_ kind: Kind, _ message: String, underlying: (any Error)? = nil) {
        self.kind = kind
        self.message = message
        self.underlying = underlying
    }

    /// The message.
    public var description: String { message }
}
