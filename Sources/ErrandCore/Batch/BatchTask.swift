import Foundation
import ResponsesAPI

/// One task of a batch: an id (unique in the batch, and the name of its journal), the agent to run and its input.
public struct BatchTask: Sendable {
    /// The task's id, as the tasks file names it.
    public var id: String
    /// The agent that runs it.
    public var agent: Agent
    /// The input.
    public var input: ResponseInput

    /// Creates a task.
    public init(id: String, agent: Agent, input: ResponseInput) {
        self.id = id
        self.agent = agent
        self.input = input
    }
}
