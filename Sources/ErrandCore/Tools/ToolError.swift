import Foundation
import Logging
import ResponsesAPI
import Synchronization

/// An error a tool throws to tell the model what went wrong; its message becomes the call's output.
public struct ToolError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, for the model.
    public var message: String
    /// Creates an error.
    public init(_ message: String) { self.message = message }
    /// The message.
    public var description: String { message }
}
