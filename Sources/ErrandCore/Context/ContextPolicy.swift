import Foundation
import ResponsesAPI

/// How a run keeps its conversation inside the model's context window.
///
/// Before each turn the run estimates what the request will hold (the provider's last reported usage plus what the
/// turn adds). Past `threshold` of the window it compacts: on the server where the provider can (`context_management`
/// in the request, `POST /responses/compact` before it), else locally (old tool outputs dropped first, then a summary
/// the model writes in a compaction turn). A request the provider refuses as too long (`context_length_exceeded`)
/// is compacted and sent once more, whatever the threshold said.
public struct ContextPolicy: Sendable, Hashable, Codable {
    /// How the run compacts.
    public enum Compaction: String, Sendable, Hashable, Codable, CaseIterable {
        /// On the server where the provider has it (OpenAI, Azure), else locally.
        case auto
        /// On the server: `context_management` in every request, `POST /responses/compact` past the threshold.
        case server
        /// Here: old tool outputs dropped, then a summary written by the model.
        case local
        /// Never: a run whose context no longer fits fails.
        case off
    }

    /// The context window in tokens; nil takes the model's from the built-in table (``ModelCatalog``), and a provider
    /// that names its window when it refuses a request (llama.cpp) sets it for the rest of the run.
    public var window: Int?
    /// How the run compacts.
    public var compaction: Compaction
    /// The fraction of the window past which the run compacts before sending.
    public var threshold: Double
    /// How many recent turns a local compaction keeps whole.
    public var keepRecentTurns: Int

    /// Creates a policy.
    public init(window: Int? = nil, compaction: Compaction = .auto, threshold: Double = 0.8, keepRecentTurns: Int = 4) {
        self.window = window
        self.compaction = compaction
        self.threshold = threshold
        self.keepRecentTurns = keepRecentTurns
    }

    /// The tokens past which the run compacts, for `window`.
    public func limit(window: Int) -> Int { max(1, Int(Double(window) * min(max(threshold, 0.05), 1))) }
}

/// A rough count of the tokens a piece of a request takes: its JSON's UTF-8 bytes over four, the usual rule for
/// English and code with BPE tokenizers. Used only where the provider has not said (its `usage` is preferred).
package enum TokenEstimate {
    /// The estimate for encodable values (input items, tools).
    package static func of(_ value: some Encodable) -> Int {
        guard let data = try? JSONEncoder().encode(value) else { return 0 }
        return (data.count + 3) / 4
    }

    /// The estimate for text.
    package static func of(text: String) -> Int { (text.utf8.count + 3) / 4 }
}
