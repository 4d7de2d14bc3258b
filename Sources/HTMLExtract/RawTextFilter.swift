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
/// character (UTF-8, the Windows and ISO code pages, Shift_JIS, EUC, GBK, Big5); UTF-16 and UTF-32 pages are left alone.
enum RawTextFilter {
    /// Whether the scan is safe for `encoding` (a name `Charset.detect` returns).
    static func applies(to encoding: String) -> Bool {
        !encoding.hasPrefix("UTF-16") && !encoding.hasPrefix("UTF-32") && !encoding.hasPrefix("UCS")
    }

    /// The page without script, style and SVG bodies, or nil when it has none to drop.
    static func filter(_ input: UnsafeRawBufferPointer) -> [UInt8]? {
        guard let base = input.baseAddress.map({ UnsafePointer($0.assumingMemoryBound(to: UInt8.self)) }), input.count > 0 else { return nil }
        let end = base + input.count
        var output: [UInt8] = []
        var copied = base  // input before this is already in `output`
        var cursor = base
        while cursor < end, let open = memchr(cursor, Int32(UInt8(ascii: "<")), end - cursor) {
            let tag = UnsafePointer(open.assumingMemoryBound(to: UInt8.self))
            cursor = tag + 1
            guard cursor < end else { break }
            if cursor.pointee == UInt8(ascii: "!") {
                // A comment is skipped whole (a `<script>` inside one is not an element).
                if end - cursor >= 3, cursor[1] == UInt8(ascii: "-"), cursor[2] == UInt8(ascii: "-") {
                    guard let close = find("-->", from: cursor + 3, to: end) else { break }
                    cursor = close + 3
                }
                continue
            }
            guard isLetter(cursor.pointee) else { continue }
            let nameStart = cursor
            while cursor < end, !isSpace(cursor.pointee), cursor.pointee != UInt8(ascii: ">"), cursor.pointee != UInt8(ascii: "/") {
                cursor += 1
            }
            let name = UnsafeBufferPointer(start: nameStart, count: cursor - nameStart)
            let isScript = equalsIgnoringCase(name, "script"), isStyle = !isScript && equalsIgnoringCase(name, "style")
            let isSVG = !isScript && !isStyle && equalsIgnoringCase(name, "svg")
            guard let tagEnd = endOfTag(from: cursor, to: end) else { break }
            cursor = tagEnd + 1
            guard isScript || isStyle || isSVG else { continue }
            // libxml2 closes any element written `<name … />` at once: such a tag has no body.
            if tagEnd[-1] == UInt8(ascii: "/") { continue }
            if isScript, contains(UnsafeBufferPointer(start: tag, count: tagEnd - tag), "ld+json") { continue }
            let bodyEnd: UnsafePointer<UInt8>
            if isSVG {
                // Drawing, never text (the tree skips it): its body runs to the `</svg` that closes it, nested ones
                // counted.
                guard let close = closingSVG(from: cursor, to: end) else { continue }
                bodyEnd = close
            } else {
                // The body runs to `</script` or `</style`, matched in any case; an unclosed one runs to the end.
                bodyEnd = closing(isScript ? "script" : "style", from: cursor, to: end) ?? end
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

    /// The `</svg` that closes an `<svg>` whose body starts at `from`, or nil when it is not closed (then nothing is
    /// dropped, since the parser's recovery decides where it ends).
    private static func closingSVG(from start: UnsafePointer<UInt8>, to end: UnsafePointer<UInt8>) -> UnsafePointer<UInt8>? {
        var depth = 1
        var search = start
        while let candidate = find("<", from: search, to: end) {
            let closes = end - candidate > 1 && candidate[1] == UInt8(ascii: "/")
            let name = candidate + (closes ? 2 : 1)
            search = candidate + 1
            guard end - name > 3, equalsIgnoringCase(UnsafeBufferPointer(start: name, count: 3), "svg"),
                isSpace(name[3]) || name[3] == UInt8(ascii: ">") || name[3] == UInt8(ascii: "/")
            else { continue }
            if closes {
                depth -= 1
                if depth == 0 { return candidate }
            } else if let tagEnd = endOfTag(from: name + 3, to: end), tagEnd[-1] != UInt8(ascii: "/") {
                depth += 1
            }
        }
        return nil
    }

    /// The `>` that ends a start tag whose name ends at `from`, reading attribute values with their quotes.
    private static func endOfTag(from start: UnsafePointer<UInt8>, to end: UnsafePointer<UInt8>) -> UnsafePointer<UInt8>? {
        var cursor = start
        var afterEquals = false
        while cursor < end {
            let byte = cursor.pointee
            if byte == UInt8(ascii: ">") { return cursor }
            if afterEquals, byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'") {
                guard let close = memchr(cursor + 1, Int32(byte), end - cursor - 1) else { return nil }
                cursor = UnsafePointer(close.assumingMemoryBound(to: UInt8.self)) + 1
                afterEquals = false
                continue
            }
            if byte == UInt8(ascii: "=") {
                afterEquals = true
            } else if !isSpace(byte) {
                afterEquals = false
            }
            cursor += 1
        }
        return nil
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

    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0C || byte == 0x0D
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
