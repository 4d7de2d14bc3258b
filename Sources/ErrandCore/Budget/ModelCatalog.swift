import Foundation
import ResponsesAPI

/// What a model costs: USD per million tokens of input, cached input and output, with where and when the price was
/// read. Reasoning tokens are output tokens (the providers bill them so and count them in `output_tokens`).
public struct ModelPrice: Codable, Sendable, Hashable {
    /// USD per million input tokens that were not served from the prompt cache.
    public var input: Double
    /// USD per million input tokens served from the prompt cache (`input` when the provider gives no discount).
    public var cachedInput: Double?
    /// USD per million output tokens, reasoning included.
    public var output: Double
    /// Where the price was read.
    public var source: String?
    /// When it was read (`YYYY-MM-DD`).
    public var asOf: String?

    /// Creates a price.
    public init(input: Double, cachedInput: Double? = nil, output: Double, source: String? = nil, asOf: String? = nil) {
        self.input = input
        self.cachedInput = cachedInput
        self.output = output
        self.source = source
        self.asOf = asOf
    }

    /// The cost of `usage` in USD: uncached input, cached input and output, each at its rate.
    public func cost(of usage: Usage) -> Double {
        let cached = min(max(0, usage.cachedTokens), usage.inputTokens)
        let uncached = usage.inputTokens - cached
        return (Double(uncached) * input + Double(cached) * (cachedInput ?? input) + Double(usage.outputTokens) * output) / 1_000_000
    }

    /// The cost of sending `tokens` input tokens none of which are cached: what a turn's input will cost at least.
    public func inputCost(_ tokens: Int) -> Double { Double(tokens) * input / 1_000_000 }

    enum CodingKeys: String, CodingKey { case input, cachedInput = "cached_input", output, source, asOf = "as_of" }
}

/// What Errand knows of a model: its price and context window, either or both.
public struct ModelFacts: Codable, Sendable, Hashable {
    /// The price, when known.
    public var price: ModelPrice?
    /// The context window in tokens, when known.
    public var contextWindow: Int?

    /// Creates facts.
    public init(price: ModelPrice? = nil, contextWindow: Int? = nil) {
        self.price = price
        self.contextWindow = contextWindow
    }

    enum CodingKeys: String, CodingKey { case input, cachedInput = "cached_input", output, source, asOf = "as_of", contextWindow = "context_window" }

    /// Reads one model's entry: a price needs both `input` and `output`.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        contextWindow = try container.decodeIfPresent(Int.self, forKey: .contextWindow)
        let input = try container.decodeIfPresent(Double.self, forKey: .input)
        let output = try container.decodeIfPresent(Double.self, forKey: .output)
        let cached = try container.decodeIfPresent(Double.self, forKey: .cachedInput)
        switch (input, output) {
        case (let input?, let output?):
            guard input >= 0, output >= 0, (cached ?? 0) >= 0 else {
                throw DecodingError.dataCorruptedError(forKey: .input, in: container, debugDescription: "prices cannot be negative")
            }
            price = ModelPrice(
                input: input, cachedInput: cached, output: output, source: try container.decodeIfPresent(String.self, forKey: .source),
                asOf: try container.decodeIfPresent(String.self, forKey: .asOf))
        case (nil, nil):
            price = nil
        default:
            throw DecodingError.dataCorruptedError(
                forKey: input == nil ? .input : .output, in: container, debugDescription: "a price needs both \"input\" and \"output\" (USD per million tokens)")
        }
    }

    /// Writes the entry in the shape it is read.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(price?.input, forKey: .input)
        try container.encodeIfPresent(price?.cachedInput, forKey: .cachedInput)
        try container.encodeIfPresent(price?.output, forKey: .output)
        try container.encodeIfPresent(price?.source, forKey: .source)
        try container.encodeIfPresent(price?.asOf, forKey: .asOf)
        try container.encodeIfPresent(contextWindow, forKey: .contextWindow)
    }
}

/// Prices and context windows by model id: the table shipped with Errand (`Budget/models.json`), with a team's own
/// entries laid over it (`--pricing FILE`, `provider.pricing`).
///
/// An id is looked up as given, then without a provider prefix (`openai/gpt-4o`), then by the longest listed id it
/// begins with followed by `-` (`gpt-4o-2024-08-06` reads as `gpt-4o`, but `gpt-4o-mini` is its own entry).
public struct ModelCatalog: Sendable, Hashable {
    /// The entries by model id.
    public var models: [String: ModelFacts]

    /// Creates a catalog.
    public init(models: [String: ModelFacts] = [:]) { self.models = models }

    /// The table shipped with Errand.
    public static let builtIn: ModelCatalog = {
        do {
            return try ModelCatalog(json: Data(PackageResources.models_json), source: "the built-in model table")
        } catch {
            preconditionFailure("the built-in model table does not read: \(error)")
        }
    }()

    /// Reads a table: `{"models": {"id": {"input": …, "cached_input": …, "output": …, "context_window": …}}}`, or the
    /// `models` object alone. `source` names the file in errors.
    public init(json data: Data, source: String) throws(CoreError) {
        let root: JSONValue
        do {
            root = try JSONValue(parsing: data)
        } catch {
            throw CoreError(.pricing, "\(source) is not JSON", underlying: error)
        }
        guard let object = root["models"]?.objectValue ?? (root["models"] == nil ? root.objectValue : nil) else {
            throw CoreError(.pricing, "\(source): expected {\"models\": {\"MODEL\": {\"input\": USD, \"output\": USD, …}}}")
        }
        var models: [String: ModelFacts] = [:]
        for (id, entry) in object where id != "about" {
            do {
                models[id] = try entry.decode(as: ModelFacts.self)
            } catch {
                throw CoreError(.pricing, "\(source): models.\(id): \(Self.reason(error))")
            }
        }
        self.models = models
    }

    /// Reads a table from a file.
    public init(contentsOf file: URL) throws(CoreError) {
        let data: Data
        do {
            data = try Data(contentsOf: file)
        } catch {
            throw CoreError(.pricing, "cannot read the price table \(file.path): \(Journal.describe(error))")
        }
        try self.init(json: data, source: file.path)
    }

    /// This catalog with `other`'s entries over it (an entry given there replaces the whole entry here, except that a
    /// context window or price it leaves out is kept).
    public func merging(_ other: ModelCatalog) -> ModelCatalog {
        var merged = self
        for (id, facts) in other.models {
            let old = merged.models[id]
            merged.models[id] = ModelFacts(price: facts.price ?? old?.price, contextWindow: facts.contextWindow ?? old?.contextWindow)
        }
        return merged
    }

    /// What is known of `model`, found as the type's documentation says.
    public func facts(for model: String) -> ModelFacts? {
        if let exact = models[model] { return exact }
        let bare = model.split(separator: "/").last.map(String.init) ?? model
        if let exact = models[bare] { return exact }
        let prefix = models.keys.filter { bare.hasPrefix($0 + "-") }.max { $0.count < $1.count }
        return prefix.flatMap { models[$0] }
    }

    /// What to say when a cost budget (`budget`, in words) meets `model` with no price: how to give one, and the
    /// `alternative` when there is one.
    package static func noPrice(for model: String, budget: String, alternative: String? = "or use a token budget (--max-tokens)") -> String {
        "\(budget) needs the price of \(model), which Errand does not know: give it in the spec (\"provider\": {\"pricing\": {\"input\": USD, \"cached_input\": USD, \"output\": USD}}, per million tokens) or with --pricing FILE\(alternative.map { ", \($0)" } ?? "")"
    }

    /// The price of `model`, when known.
    public func price(for model: String) -> ModelPrice? { facts(for: model)?.price }

    /// The context window of `model`, when known.
    public func contextWindow(for model: String) -> Int? { facts(for: model)?.contextWindow }

    private static func reason(_ error: any Error) -> String {
        if case DecodingError.dataCorrupted(let context) = error { return context.debugDescription }
        if case DecodingError.typeMismatch(_, let context) = error { return "expected a number: \(context.debugDescription)" }
        return "\(error)"
    }
}
