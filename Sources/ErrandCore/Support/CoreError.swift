import Foundation

/// A failure of the run machinery itself (not of a tool, which is data for the model, nor of the provider, which is a
/// ``ResponsesAPI/ResponsesError``): a journal that cannot be written or read, a resume or continuation that does not fit,
/// a tool registry or workspace that cannot be made. New kinds may be added without breaking callers.
public struct CoreError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is.
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case journal = "journal", notAJournal = "not a journal", resume = "cannot resume", continuation = "cannot continue"
            case registry = "tool registry", workspace = "workspace", runStore = "runs", batch = "batch", pricing = "pricing"
        }
        private let base: Base

        /// A journal could not be created, written or read.
        public static let journal = Kind(base: .journal)
        /// A file is not a run journal.
        public static let notAJournal = Kind(base: .notAJournal)
        /// A journaled run cannot be resumed as asked (another agent, a run that has ended).
        public static let resume = Kind(base: .resume)
        /// A run cannot be continued (it has not ended, or it ended with calls unanswered).
        public static let continuation = Kind(base: .continuation)
        /// A tool cannot be registered (an invalid or duplicate name).
        public static let registry = Kind(base: .registry)
        /// The workspace cannot be used.
        public static let workspace = Kind(base: .workspace)
        /// The folder of journals cannot be read, or names no such run.
        public static let runStore = Kind(base: .runStore)
        /// A batch's folder or manifest cannot be used, or its tasks changed since their journals were written.
        public static let batch = Kind(base: .batch)
        /// A price table cannot be read, or a cost budget is set for a model with no price.
        public static let pricing = Kind(base: .pricing)

        /// The kind in words.
        public var description: String { base.rawValue }
    }

    /// What kind of failure this is.
    public var kind: Kind
    /// A one-line account for people, naming the file or the thing at fault.
    public var message: String
    /// The lower-level error, when there is one.
    public var underlying: (any Error)?

    /// Creates an error.
    public init(_ kind: Kind, _ message: String, underlying: (any Error)? = nil) {
        self.kind = kind
        self.message = message
        self.underlying = underlying
    }

    /// The message, with the underlying error's when it adds something.
    public var description: String {
        guard let underlying else { return message }
        let detail = (underlying as? any LocalizedError)?.errorDescription ?? String(describing: underlying)
        // A Foundation file error wraps the system's: when the message already says what the system said, that is all.
        let ns = underlying as NSError
        let system = (ns.domain == NSPOSIXErrorDomain ? ns : ns.userInfo[NSUnderlyingErrorKey] as? NSError)
            .flatMap { $0.domain == NSPOSIXErrorDomain ? String(cString: strerror(Int32($0.code))) : nil }
        if let system, message.contains(system) { return message }
        return message.contains(detail) ? message : "\(message): \(detail)"
    }
}
