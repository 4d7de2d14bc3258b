import CLibXML2
import Foundation

/// Drops the bodies of `<script>`, `<style>` and `<svg>` elements before libxml2 sees the page.
///
/// On real pages those bodies are half the bytes (26% script and 28% style on the benchmark's development half), and
/// libxml2 copies them one character at a time into text nodes that extraction then throws away. This scan skips them
/// with `memchr`/`memmem` and hands libxml2 the rest. The elements stay (empty), JSON-LD scripts keep their body (the
/// metadata reads it), and the scan follows the tokenizer closely enough to never drop page text: comments are skipped
/// whole, a tag's attributes are read with their quotes (a `>` inside a quoted value does not end the tag), and a body
/// ends where libxml2 ends it in recovery mode, at `</script` or `</style` in any case.
///
/// Only for encodings in which `<`, `>`, quotes and ASCII letters are single bytes that never occur inside another
/// character (UTF-8, the Windows and ISO code pages, Shift_JIS, EUC, GBK, Big5): ``PageBytes`` decides, and hands it
/// nearly every page as UTF-8.
enum RawTextFilter {
    /// The page without script, style and SVG bodies, or nil when it has none to drop (or has markup the scan does not
    /// read as libxml2 does, which is then left to libxml2 whole).
    static func filter(_ input: UnsafeRawBufferPointer) -> [UInt8]? {
        guard let base = input.baseAddress.map({ UnsafePointer($0.assumingMemoryBound(to: UInt8.self)) }), input.count > 0 else { return nil }
        let end = base + input.count
        var output: [UInt8] = []
        var copied = base  // input before this is already in `output`
        var cursor = base
        scan: while cursor < end, let open = memchr(cursor, Int32(UInt8(ascii: "<")), end - cursor) {
            let tag = UnsafePointer(open.assumingMemoryBound(to: UInt8.self))
            cursor = tag + 1
            let name: UnsafeBufferPointer<UInt8>, tagEnd: UnsafePointer<UInt8>
            switch markup(at: tag, to: end) {
            case .text: continue
            case .skipped(let next, _):
                // A comment, end tag, doctype or processing instruction: a `<script>` inside one is not an element.
                cursor = next
                continue
            case .unclosed: break scan
            case .unclear: return nil
            case .start(let tagName, let close, let empty):
                cursor = close + 1
                // libxml2 closes any element written `<name … />` at once: such a tag has no body.
                if empty { continue }
                (name, tagEnd) = (tagName, close)
            }
            let isScript = equalsIgnoringCase(name, "script"), isStyle = !isScript && equalsIgnoringCase(name, "style")
            let isSVG = !isScript && !isStyle && equalsIgnoringCase(name, "svg")
            guard isScript || isStyle || isSVG else { continue }
            let bodyEnd: UnsafePointer<UInt8>
            if isSVG {
                // Drawing, never text (the tree skips it): its body runs to the `</svg` that closes it, nested ones
                // counted; when libxml2 might end it elsewhere, the scan goes on inside it.
                guard let close = closingSVG(from: cursor, to: end) else { continue }
                bodyEnd = close
            } else {
                let rawName = isScript ? "script" : "style"
                // libxml2 reads markup, not text, at the very start of a body: an end tag, which closes the element or
                // an open ancestor (and the element with it) or is dropped, or a start tag that closes the element.
                // The scan does not know the open elements: such a page is left to libxml2 whole.
                if startsWithMarkup(rawName, from: cursor, to: end) { return nil }
                // The body runs to `</script` or `</style`, matched in any case; an unclosed one runs to the end.
                let close = closing(rawName, from: cursor, to: end)
                // libxml2 stops there too, but then reads the whole name: a longer one (`</scripts`) may close an
                // ancestor, or be dropped and the body go on.
                if let close, end - close > 2 + rawName.utf8.count, isNameByte(close[2 + rawName.utf8.count]) { return nil }
                bodyEnd = close ?? end
                // JSON-LD keeps its body (the metadata reads it), which is text all the same: a `<style>` in it is not
                // an element.
                if isScript, contains(UnsafeBufferPointer(start: tag, count: tagEnd - tag), "ld+json") {
                    cursor = bodyEnd
                    continue
                }
            }
            if bodyEnd > cursor {
                if output.isEmpty { output.reserveCapacity(input.count / 2) }
                output.append(contentsOf: UnsafeBufferPointer(start: copied, count: cursor - copied))
                copied = bodyEnd
            }
            cursor = bodyEnd
        }
        guard copied != base else { return nil }
        output.append(contentsOf: UnsafeBufferPointer(start: copied, count: end - copied))
        return output
    }

    /// What libxml2 2.9 reads at a `<` outside script and style bodies, in recovery mode.
    enum Markup {
        /// Text, or something libxml2 drops without effect (`</` or `<?` without a name, `<!` that starts neither a
        /// comment nor a doctype): what follows the `<` is read as usual.
        case text
        /// A comment (to `-->` or `--!>`), an end tag (to the first `>`, quotes or not), a doctype or a processing
        /// instruction (to the first `>`), ending before `next`; an end tag's name.
        case skipped(next: UnsafePointer<UInt8>, endTag: UnsafeBufferPointer<UInt8>?)
        /// A start tag: its name, the `>` that ends it, and whether that is `/>` (an element without content).
        case start(name: UnsafeBufferPointer<UInt8>, end: UnsafePointer<UInt8>, empty: Bool)
        /// Something that runs to the end of the input: nothing after it is markup.
        case unclosed
        /// Something the scan does not follow: a doctype whose first `>` may be inside a quoted literal, a processing
        /// instruction whose target may be a non-ASCII name.
        case unclear
    }

    /// The markup that starts at `tag` (a `<`).
    static func markup(at tag: UnsafePointer<UInt8>, to end: UnsafePointer<UInt8>) -> Markup {
        let next = tag + 1
        guard next < end else { return .text }
        switch next.pointee {
        case UInt8(ascii: "!"):
            if end - next >= 3, next[1] == UInt8(ascii: "-"), next[2] == UInt8(ascii: "-") {
                guard let close = find("-->", from: next + 3, to: end) else {
                    guard let bang = find("--!>", from: next + 3, to: end) else { return .unclosed }
                    return .skipped(next: bang + 4, endTag: nil)
                }
                if let bang = find("--!>", from: next + 3, to: close + 3) { return .skipped(next: bang + 4, endTag: nil) }
                return .skipped(next: close + 3, endTag: nil)
            }
            guard end - next >= 8, equalsIgnoringCase(UnsafeBufferPointer(start: next + 1, count: 7), "doctype") else { return .text }
            guard let close = firstByte(UInt8(ascii: ">"), from: next, to: end) else { return .unclosed }
            // It ends at the first `>` unless that is inside a system literal: with a quote open before it, unclear.
            var quote: UInt8? = nil
            for byte in UnsafeBufferPointer(start: next, count: close - next) where byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'") {
                if quote == nil { quote = byte } else if quote == byte { quote = nil }
            }
            return quote == nil ? .skipped(next: close + 1, endTag: nil) : .unclear
        case UInt8(ascii: "?"):
            guard end - next >= 2 else { return .text }
            let first = next[1]
            guard first < 0x80 else { return .unclear }
            guard isLetter(first) || first == UInt8(ascii: "_") || first == UInt8(ascii: ":") else { return .text }
            guard let close = firstByte(UInt8(ascii: ">"), from: next + 1, to: end) else { return .unclosed }
            return .skipped(next: close + 1, endTag: nil)
        case UInt8(ascii: "/"):
            let nameStart = next + 1
            guard nameStart < end, isNameStart(nameStart.pointee) else { return .text }
            let nameEnd = endOfName(from: nameStart, to: end)
            guard let close = firstByte(UInt8(ascii: ">"), from: nameEnd, to: end) else { return .unclosed }
            return .skipped(next: close + 1, endTag: UnsafeBufferPointer(start: nameStart, count: nameEnd - nameStart))
        default:
            guard isLetter(next.pointee) else { return .text }
            let nameEnd = endOfName(from: next, to: end)
            guard let (close, empty) = endOfTag(from: nameEnd, to: end) else { return .unclosed }
            return .start(name: UnsafeBufferPointer(start: next, count: nameEnd - next), end: close, empty: empty)
        }
    }

    /// The `</name` that ends a raw text body starting at `from`.
    private static func closing(_ name: String, from start: UnsafePointer<UInt8>, to end: UnsafePointer<UInt8>) -> UnsafePointer<UInt8>? {
        var search = start
        while let candidate = find("</", from: search, to: end) {
            let after = candidate + 2
            if end - after >= name.utf8.count, equalsIgnoringCase(UnsafeBufferPointer(start: after, count: name.utf8.count), name) {
                return candidate
            }
            search = after
        }
        return nil
    }

    /// Whether libxml2 reads the start of a script or style body as markup: an end tag other than the element's own,
    /// or a start tag that closes the element (libxml2 2.9: `<noscript>` closes a script, `<body>` and `<frameset>` a
    /// style); or a NUL byte, which ends its parse there (further in, it reads one as a space).
    private static func startsWithMarkup(_ name: String, from start: UnsafePointer<UInt8>, to end: UnsafePointer<UInt8>) -> Bool {
        guard start < end else { return false }
        if start[0] == 0 { return true }
        guard end - start >= 2, start[0] == UInt8(ascii: "<") else { return false }
        if start[1] == UInt8(ascii: "/") {
            // The element's own end tag: an empty body.
            let nameStart = start + 2
            return !equalsIgnoringCase(UnsafeBufferPointer(start: nameStart, count: endOfName(from: nameStart, to: end) - nameStart), name)
        }
        guard isLetter(start[1]) else { return false }
        let tag = UnsafeBufferPointer(start: start + 1, count: endOfName(from: start + 1, to: end) - start - 1)
        return name == "script" ? equalsIgnoringCase(tag, "noscript") : equalsIgnoringCase(tag, "body") || equalsIgnoringCase(tag, "frameset")
    }

    /// The `</svg` that closes an `<svg>` whose body starts at `from`, or nil when it is not closed or libxml2 might
    /// close it elsewhere (then nothing is dropped): the elements inside must close in order, none of them a script or
    /// style, and no element libxml2 knows may open inside another it knows (it may close it, as `<div>` closes `<p>`).
    private static func closingSVG(from start: UnsafePointer<UInt8>, to end: UnsafePointer<UInt8>) -> UnsafePointer<UInt8>? {
        var open: [(name: UnsafeBufferPointer<UInt8>, known: Bool)] = []
        var cursor = start
        while cursor < end, let found = memchr(cursor, Int32(UInt8(ascii: "<")), end - cursor) {
            let tag = UnsafePointer(found.assumingMemoryBound(to: UInt8.self))
            cursor = tag + 1
            switch markup(at: tag, to: end) {
            case .text:
                continue
            case .unclosed, .unclear:
                return nil
            case .skipped(let next, let endTag):
                cursor = next
                guard let endTag else { continue }
                // An end tag that does not close the innermost element may close the drawing, or be dropped.
                guard let last = open.last else {
                    // A NUL byte in a drawing would have ended libxml2's parse there.
                    guard equalsIgnoringCase(endTag, "svg"), memchr(start, 0, tag - start) == nil else { return nil }
                    return tag
                }
                guard endTag.count == last.name.count, zip(endTag, last.name).allSatisfy({ ($0 | 0x20) == ($1 | 0x20) }) else { return nil }
                open.removeLast()
            case .start(let name, let tagEnd, let empty):
                cursor = tagEnd + 1
                if equalsIgnoringCase(name, "script") || equalsIgnoringCase(name, "style") { return nil }
                let known = isHTMLElement(name)
                if known, open.last?.known == true { return nil }
                if !empty { open.append((name, known)) }
            }
        }
        return nil
    }

    /// Whether libxml2 knows `name` as an HTML element (it then applies its rules for closing and empty elements).
    private static func isHTMLElement(_ name: UnsafeBufferPointer<UInt8>) -> Bool {
        guard name.count < 16 else { return false }
        var lowered = name.map { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") ? $0 + 32 : $0 }
        lowered.append(0)
        return htmlTagLookup(lowered) != nil
    }

    /// The end of a tag name starting at `from` as libxml2 2.9 reads one: at most 100 letters, digits, `:`, `-`, `_`
    /// and `.` (the rest is read as what follows the name).
    private static func endOfName(from start: UnsafePointer<UInt8>, to end: UnsafePointer<UInt8>) -> UnsafePointer<UInt8> {
        var cursor = start
        while cursor < end, cursor - start < 100, isNameByte(cursor.pointee) { cursor += 1 }
        return cursor
    }

    /// The `>` that ends a start tag whose name ends at `from`, its attributes read as libxml2 2.9 reads them: a name (a
    /// letter, `_`, `:` or `.` first), maybe `=` and a value, quoted (to the closing quote, `>` and all) or not (to a
    /// space or `>`); anything else is skipped to a space or the end of the tag. And whether it ends with `/>`.
    private static func endOfTag(from start: UnsafePointer<UInt8>, to end: UnsafePointer<UInt8>) -> (end: UnsafePointer<UInt8>, empty: Bool)? {
        func endsTag(_ at: UnsafePointer<UInt8>) -> Bool {
            at.pointee == UInt8(ascii: ">") || (at.pointee == UInt8(ascii: "/") && end - at > 1 && at[1] == UInt8(ascii: ">"))
        }
        var cursor = start
        while true {
            while cursor < end, isSpace(cursor.pointee) { cursor += 1 }
            guard cursor < end else { return nil }
            if cursor.pointee == UInt8(ascii: ">") { return (cursor, false) }
            if endsTag(cursor) { return (cursor + 1, true) }
            guard isNameStart(cursor.pointee) else {
                // Not an attribute: skipped to a space or the end of the tag.
                while cursor < end, !isSpace(cursor.pointee), !endsTag(cursor) { cursor += 1 }
                continue
            }
            cursor = endOfName(from: cursor, to: end)
            var next = cursor
            while next < end, isSpace(next.pointee) { next += 1 }
            guard next < end, next.pointee == UInt8(ascii: "=") else {
                cursor = next
                continue
            }
            cursor = next + 1
            while cursor < end, isSpace(cursor.pointee) { cursor += 1 }
            guard cursor < end else { return nil }
            let quote = cursor.pointee
            if quote == UInt8(ascii: "\"") || quote == UInt8(ascii: "'") {
                guard let close = firstByte(quote, from: cursor + 1, to: end) else { return nil }
                cursor = close + 1
            } else {
                while cursor < end, !isSpace(cursor.pointee), cursor.pointee != UInt8(ascii: ">") { cursor += 1 }
            }
        }
    }

    private static func firstByte(_ byte: UInt8, from start: UnsafePointer<UInt8>, to end: UnsafePointer<UInt8>) -> UnsafePointer<UInt8>? {
        guard start < end, let found = memchr(start, Int32(byte), end - start) else { return nil }
        return UnsafePointer(found.assumingMemoryBound(to: UInt8.self))
    }

    private static func find(_ needle: StaticString, from start: UnsafePointer<UInt8>, to end: UnsafePointer<UInt8>) -> UnsafePointer<UInt8>? {
        // memchr for the first byte, then a compare (memmem is a GNU extension Swift does not see).
        let count = needle.utf8CodeUnitCount, first = Int32(needle.utf8Start.pointee)
        var cursor = start
        while end - cursor >= count, let found = memchr(cursor, first, end - cursor - count + 1) {
            let candidate = UnsafePointer(found.assumingMemoryBound(to: UInt8.self))
            if memcmp(candidate, needle.utf8Start, count) == 0 { return candidate }
            cursor = candidate + 1
        }
        return nil
    }

    private static func isLetter(_ byte: UInt8) -> Bool { (byte | 0x20) >= UInt8(ascii: "a") && (byte | 0x20) <= UInt8(ascii: "z") }

    /// A blank as libxml2 reads one in tags (not form feed).
    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }

    /// The first byte of a name libxml2 2.9 reads in a tag: a letter, `_`, `:` or `.`.
    private static func isNameStart(_ byte: UInt8) -> Bool {
        isLetter(byte) || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ":") || byte == UInt8(ascii: ".")
    }

    /// A byte of a tag name as libxml2 2.9 reads one: letters, digits, `:`, `-`, `_` and `.`.
    private static func isNameByte(_ byte: UInt8) -> Bool {
        isNameStart(byte) || byte == UInt8(ascii: "-") || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
    }

    private static func equalsIgnoringCase(_ bytes: UnsafeBufferPointer<UInt8>, _ word: String) -> Bool {
        bytes.count == word.utf8.count && zip(bytes, word.utf8).allSatisfy { ($0 | 0x20) == $1 }
    }

    private static func contains(_ bytes: UnsafeBufferPointer<UInt8>, _ word: String) -> Bool {
        let word = Array(word.utf8)
        guard bytes.count >= word.count else { return false }
        for start in 0...(bytes.count - word.count) where (bytes[start] | 0x20) == word[0] {
            if (0..<word.count).allSatisfy({ (bytes[start + $0] | 0x20) == word[$0] }) { return true }
        }
        return false
    }
}
