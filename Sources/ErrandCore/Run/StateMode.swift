import Foundation
import ResponsesAPI

/// How a run carries the conversation from turn to turn.
public enum StateMode: String, Sendable, Hashable, Codable, CaseIterable {
    /// Chain with `previous_response_id`; if the provider refuses the chain, replay the history once and stay stateless.
    case auto
    /// Always chain with `previous_response_id`.
    case stateful
    /// Replay the whole history every turn (with `store: false`, reasoning travels as `encrypted_content`).
    case stateless
}
