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
        // A byte scan with ASCII case folding: a charset name is ASCII, and this runs on every page.
        head.withUnsafeBytes { raw -> String? in
            let bytes = raw.bindMemory(to: UInt8.self)
            func lower(_ index: Int) -> UInt8 {
                let byte = bytes[index]
                return byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte + 32 : byte
            }
            func matches(_ word: StaticString, at index: Int) -> Bool {
                guard index + word.utf8CodeUnitCount <= bytes.count else { return false }
                for offset in 0..<word.utf8CodeUnitCount where lower(index + offset) != word.utf8Start[offset] { return false }
                return true
            }
            var index = 0
            while index < bytes.count {
                guard bytes[index] == UInt8(ascii: "<"), matches("<meta", at: index) else {
                    index += 1
                    continue
                }
                var end = index + 5
                while end < bytes.count, bytes[end] != UInt8(ascii: ">") { end += 1 }
                guard end < bytes.count else { return nil }
                var at = index + 5
                while at + 7 <= end {
                    if matches("charset", at: at) {
                        var value = at + 7
                        while value < end, [UInt8(ascii: " "), UInt8(ascii: "="), UInt8(ascii: "\""), UInt8(ascii: "'")].contains(bytes[value]) { value += 1 }
                        var stop = value
                        while stop < end {
                            let byte = lower(stop)
                            let allowed = (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                                || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ":") || byte == UInt8(ascii: ".")
                            guard allowed else { break }
                            stop += 1
                        }
                        if stop > value { return String(decoding: (value..<stop).map(lower), as: UTF8.self) }
                        break
                    }
                    at += 1
                }
                index = end
            }
            return nil
        }
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
