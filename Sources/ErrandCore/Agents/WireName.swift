/// Names the API (and a journal's file name) accepts: `^[a-zA-Z0-9_-]{1,limit}$`.
public enum WireName {
    /// `text` with every character but ASCII letters, digits, `-` and `_` made `_`, cut at `limit`: a tool's name made
    /// from an agent's (`transfer_to_…`, an agent used as a tool), a format's name made from a spec's or a file's.
    public static func of(_ text: String, limit: Int = 64) -> String {
        String(text.map { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") ? $0 : "_" }.prefix(limit))
    }
}
