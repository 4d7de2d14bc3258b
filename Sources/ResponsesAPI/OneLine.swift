/// Text squashed onto one line for a message: a provider's multi-line error (a gateway's paragraphs, a stack trace, an
/// HTML page) must not break the one line a person reads. Every kind of white space becomes one space, and the text is
/// shortened to `limit` characters with an ellipsis.
public enum OneLine {
    /// `text` on one line, at most `limit` characters (`nil`: no limit).
    public static func squash(_ text: String, limit: Int? = nil) -> String {
        var line = ""
        line.reserveCapacity(min(text.utf8.count, (limit ?? Int.max / 2) + 1))
        var count = 0  // characters in `line`, kept as it grows: String.count walks the whole string
        var space = false
        for character in text {
            if character.isWhitespace {
                space = count > 0
                continue
            }
            if space {
                line.append(" ")
                count += 1
                space = false
            }
            line.append(character)
            count += 1
            if let limit, count > limit { break }
        }
        guard let limit, count > limit else { return line }
        return String(line.prefix(max(0, limit - 1))) + "…"
    }
}
