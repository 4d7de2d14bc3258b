import Foundation

/// Finds the character encoding of an HTML page: the HTTP `Content-Type` charset, then `<meta charset>` or
/// `http-equiv`, then a byte order mark, then UTF-8.
public enum Charset {
    /// The encoding's name (as libxml2 and iconv know it), and where it came from.
    public static func detect(_ data: Data, contentType: String? = nil) -> (name: String, source: String) {
        if let contentType, let name = charset(inContentType: contentType) { return (normalize(name), "http") }
        if let name = metaCharset(data.prefix(4096)) { return (normalize(name), "meta") }
        if data.starts(with: [0xEF, 0xBB, 0xBF]) { return ("UTF-8", "bom") }
        if data.starts(with: [0xFF, 0xFE]) { return ("UTF-16LE", "bom") }
        if data.starts(with: [0xFE, 0xFF]) { return ("UTF-16BE", "bom") }
        return ("UTF-8", "default")
    }

    /// The `charset=` parameter of a `Content-Type` value.
    static func charset(inContentType value: String) -> String? {
        for parameter in value.split(separator: ";").dropFirst() {
            let parts = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if parts.count == 2, parts[0].lowercased() == "charset" {
                let name = parts[1].trimmingCharacters(in: CharacterSet(charactersIn: "\"'"))
                return name.isEmpty ? nil : name
            }
        }
        return nil
    }

    /// The charset a `<meta>` tag declares in the first bytes (`<meta charset=…>` or `content="…; charset=…"`).
    static func metaCharset(_ head: Data) -> String? {
        // ASCII lowercasing over bytes: a charset name is ASCII, and Unicode lowercasing of 4 KB per page is costly.
        let bytes = head.map { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") ? $0 + 32 : $0 }
        let text = String(decoding: bytes, as: UTF8.self)
        var rest = text[...]
        while let start = rest.range(of: "<meta") {
            let tail = rest[start.upperBound...]
            guard let end = tail.firstIndex(of: ">") else { break }
            let tag = tail[..<end]
            if let range = tag.range(of: "charset") {
                var value = tag[range.upperBound...].drop { $0 == " " || $0 == "=" || $0 == "\"" || $0 == "'" }
                value = value.prefix { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == ":" || $0 == "." }
                if !value.isEmpty { return String(value) }
            }
            rest = tail[end...]
        }
        return nil
    }

    /// Maps names browsers treat as aliases to what iconv knows (`latin1` and `iso-8859-1` are read as windows-1252, as
    /// browsers do).
    static func normalize(_ name: String) -> String {
        switch name.lowercased() {
        case "utf8", "utf-8", "unicode-1-1-utf-8": "UTF-8"
        case "latin1", "iso-8859-1", "iso8859-1", "l1", "us-ascii", "ascii", "cp1252", "windows-1252", "x-cp1252": "WINDOWS-1252"
        case "shift_jis", "shift-jis", "sjis", "x-sjis", "ms_kanji", "windows-31j", "cp932": "SHIFT_JIS"
        case "gb2312", "gbk", "x-gbk": "GBK"
        case "euc-jp": "EUC-JP"
        case "euc-kr": "EUC-KR"
        case "big5": "BIG5"
        default: name.uppercased()
        }
    }
}
