import Foundation
import ResponsesAPI

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How a journal is written: how hard it tries to survive a crash, how much of each tool's output it keeps, and which
/// secret values it never writes.
public struct JournalPolicy: Sendable, Hashable {
    /// What a journal line survives once it is written.
    public enum Durability: String, Sendable, Hashable, CaseIterable {
        /// The process being killed: each line is handed to the kernel before the next step (the default).
        case process
        /// A power cut or a kernel crash: each line is `fsync`ed, and so is the folder when the journal is created.
        case power
    }

    /// How much of a tool's output the journal keeps.
    public enum ToolOutput: Sendable, Hashable {
        /// All of it (the default): a resumed run gives the model exactly what the tool said.
        case full
        /// The first `characters`, with a note of what was cut.
        case truncated(Int)
        /// None: a note says it was not kept. A resumed run sends the model that note instead of the output.
        case none
    }

    public var durability: Durability
    public var toolOutput: ToolOutput
    /// Values replaced by `[redacted]` wherever they appear in a line (API keys, tokens from the environment). Values
    /// shorter than 8 characters are ignored: they would redact ordinary words.
    public var secrets: [String]

    /// Creates a policy.
    public init(durability: Durability = .process, toolOutput: ToolOutput = .full, secrets: [String] = []) {
        self.durability = durability
        self.toolOutput = toolOutput
        self.secrets = secrets
    }

    /// The text a journal keeps of a tool's output.
    func kept(_ output: String) -> String {
        switch toolOutput {
        case .full: return output
        case .none: return "[output not journaled: journal.tool_output is none]"
        case .truncated(let limit):
            guard output.count > limit else { return output }
            return String(output.prefix(limit)) + "\n[\(output.count - limit) more characters not journaled: journal.tool_output is truncated]"
        }
    }
}
