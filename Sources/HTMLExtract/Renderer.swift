import Foundation

/// Turns chosen nodes into text blocks and Markdown, skipping boilerplate and link lists inside them.
struct Renderer {
    let document: HTMLDocument
    let excluded: [Bool]
    let textLength: [Int]
    let linkLength: [Int]
    /// Whether each node's class or id names caption, credit, byline or date furniture.
    var furniture: [Bool] = []
    private(set) var links: [Extraction.Link] = []
    private var blocks: [(text: String, markdown: String, separator: String)] = []
    private var text = ""
    private var markdownLine = ""
    private var prefix = ""
    /// The start of the next block's first line when it is a list item's (its marker), instead of `prefix`.
    private var pendingLead: String?
    private var lists: [(ordered: Bool, counter: Int)] = []
    /// How many blocks were flushed: an inline element that contains a block cannot be wrapped in Markdown marks.
    private var flushes = 0
    /// The page's title: a heading that repeats it is the headline, not content.
    var title = ""
    /// Whether link lists and furniture are dropped inside what is rendered; the extractor's last resort keeps all.
    var dropsFurniture = true

    /// Class or id words of small blocks around the text rather than in it: captions, credits, bylines, dates.
    static let furniture = ["caption", "credit", "byline", "author", "dateline", "timestamp", "date", "time", "meta", "photo", "image", "share", "tag"]
    static let furnitureBytes = furniture.map { Array($0.utf8) }

    init(document: HTMLDocument, excluded: [Bool], textLength: [Int], linkLength: [Int]) {
        self.document = document
        self.excluded = excluded
        self.textLength = textLength
        self.linkLength = linkLength
    }

    private var nodes: [PageNode] { document.nodes }

    func plainText() -> String {
        kept.map(\.text).filter { !$0.isEmpty }.joined(separator: "\n")
    }

    func markdown() -> String {
        var output = ""
        for block in kept where !block.markdown.isEmpty {
            if !output.isEmpty { output += block.separator }
            output += block.markdown
        }
        return output
    }

    /// The blocks without the short lines that trail out of an article ("Advert", "Share this", "Sharing is caring!"):
    /// a short line counts as content only when a sentence-length block comes after it.
    private var kept: [(text: String, markdown: String, separator: String)] {
        func isSentence(_ text: String) -> Bool {
            let count = text.unicodeScalars.count
            guard count >= 40 || text.utf8.count >= 60 else { return false }
            return true
        }
        // List items, code and tables are content by their structure, wherever they stand.
        guard let last = blocks.lastIndex(where: { isSentence($0.text) || $0.markdown.hasPrefix("```") || $0.markdown.hasPrefix("|")
            || $0.separator == "\n" && ($0.markdown.contains("- ") || $0.markdown.first?.isNumber == true) })
        else { return blocks }
        return Array(blocks[...last])
    }

    private mutating func flush(_ markdownPrefix: String = "", separator: String = "\n\n") {
        let plain = Self.collapse(text)
        let marked = Self.collapse(markdownLine)
        if !plain.isEmpty || !marked.isEmpty {
            blocks.append((plain, (pendingLead ?? prefix) + markdownPrefix + marked, separator))
            pendingLead = nil
        }
        text = ""
        markdownLine = ""
        flushes += 1
    }

    /// Runs of white space become one space, and none is left at either end. Works on UTF-8 bytes: only a non-ASCII
    /// byte is decoded, to see whether its character is one of Unicode's spaces.
    static func collapse(_ value: String) -> String {
        var value = value
        return value.withUTF8 { bytes in
            String(unsafeUninitializedCapacity: bytes.count) { output in
                var count = 0
                var space = false
                var index = 0
                while index < bytes.count {
                    let byte = bytes[index]
                    var width = 1
                    var isWhite: Bool
                    if byte < 0x80 {
                        isWhite = byte == 0x20 || (byte >= 0x09 && byte <= 0x0D)
                    } else {
                        width = byte >= 0xF0 ? 4 : byte >= 0xE0 ? 3 : 2
                        width = min(width, bytes.count - index)
                        var scalar = UInt32(byte) & (width == 2 ? 0x1F : width == 3 ? 0x0F : 0x07)
                        for offset in 1..<max(width, 2) where offset < width { scalar = scalar << 6 | UInt32(bytes[index + offset] & 0x3F) }
                        isWhite = Unicode.Scalar(scalar).map(isSpace) ?? false
                    }
                    if isWhite {
                        space = true
                    } else {
                        if space, count > 0 {
                            output[count] = 0x20
                            count += 1
                        }
                        space = false
                        for offset in 0..<width {
                            output[count] = bytes[index + offset]
                            count += 1
                        }
                    }
                    index += width
                }
                return count
            }
        }
    }

    static func isSpace(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09...0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200B, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000, 0xFEFF: true
        default: false
        }
    }

    private func isLinkList(_ index: Int) -> Bool {
        guard textLength[index] > 0 else { return false }
        let density = Double(linkLength[index]) / Double(textLength[index])
        switch nodes[index].tag {
        case "ul", "ol", "div", "section", "table", "dl": return density > 0.5
        case "p", "li": return density > 0.9 && textLength[index] < 80
        default: return false
        }
    }

    /// Ends the text of inline content left open (text straight in the body), so that it counts as a block.
    mutating func finish() {
        if !text.isEmpty || !markdownLine.isEmpty { flush() }
    }

    mutating func render(_ index: Int) {
        guard index >= 0, index < nodes.count else { return }
        let node = nodes[index]
        if node.isText {
            let value = document.text(index)
            text += value
            markdownLine += Self.escape(value)
            return
        }
        if excluded[index] { return }
        if dropsFurniture && (isLinkList(index) || isFurniture(index)) {
            // A caption or credit goes, but the picture it frames stays in the Markdown.
            if !isLinkList(index) { images(in: index) }
            return
        }
        switch node.tag {
        case "figcaption" where dropsFurniture:
            return
        case "h1", "h2", "h3", "h4", "h5", "h6":
            if Self.sameText(rawText(index), title) { return }
            flush()
            children(of: node)
            let level = Int(node.tag.dropFirst()) ?? 2
            flush(String(repeating: "#", count: level) + " ")
        case "p", "div", "section", "article", "main", "figure", "figcaption", "dt", "dd", "address", "center", "details", "summary", "tr":
            flush()
            children(of: node)
            flush()
        case "br":
            flush(separator: "\n")
        case "hr":
            flush()
            blocks.append(("", "---", "\n\n"))
        case "ul", "ol":
            flush()
            lists.append((node.tag == "ol", 0))
            let start = blocks.count
            children(of: node)
            flush()
            lists.removeLast()
            // A list is a block of its own after a paragraph; its items are one line apart.
            if lists.isEmpty, blocks.count > start, start > 0 { blocks[start].separator = "\n\n" }
        case "li":
            flush()
            var marker = "- "
            if let last = lists.last, last.ordered {
                lists[lists.count - 1].counter += 1
                marker = "\(lists[lists.count - 1].counter). "
            }
            // The item's first line carries the marker; what it holds on further lines (a nested list, a second
            // paragraph) is indented to the marker's width, as CommonMark reads a list item's content.
            let saved = prefix
            pendingLead = saved + marker
            prefix = saved + String(repeating: " ", count: marker.count)
            let start = blocks.count
            children(of: node)
            flush(separator: "\n")
            pendingLead = nil
            for block in blocks.indices.dropFirst(start) where blocks[block].separator == "\n\n" { blocks[block].separator = "\n" }
            if blocks.count > start { blocks[start].separator = "\n" }
            prefix = saved
        case "blockquote":
            flush()
            let saved = prefix
            prefix = saved + "> "
            let start = blocks.count
            children(of: node)
            flush()
            // Paragraphs of one quote are joined by a quoted blank line, or Markdown would end the quote between them.
            let quoted = "\n" + String(prefix.dropLast()) + "\n"
            for block in blocks.indices.dropFirst(start + 1) where blocks[block].separator == "\n\n" { blocks[block].separator = quoted }
            prefix = saved
        case "pre":
            flush()
            let code = rawText(index)
            if !code.trimmingSpace.isEmpty {
                let body = code.trimmingCharacters(in: .newlines)
                // A fence longer than any run of backticks in the code, so that the code cannot close it.
                var fence = "```"
                while body.contains(fence) { fence += "`" }
                blocks.append((code, prefix + fence + (codeLanguage(index) ?? "") + "\n" + body + "\n" + fence, "\n\n"))
            }
        case "table":
            flush()
            renderTable(index)
        case "a":
            let before = markdownLine
            let flushed = flushes
            children(of: node)
            guard flushes == flushed else { return }
            let label = Self.collapse(String(markdownLine.utf8.dropFirst(before.utf8.count)) ?? "")
            if let href = node.attributes["href"], !href.hasPrefix("#"), !href.lowercased().hasPrefix("javascript:"), !label.isEmpty {
                let url = document.absolute(href)
                links.append(Extraction.Link(text: Self.collapse(rawText(index)), url: url))
                markdownLine = before + " [\(label)](\(url)) "
            }
        case "em", "i":
            wrap(node, "*")
        case "strong", "b":
            wrap(node, "**")
        case "code", "kbd", "samp":
            if !containsBlock(index) {
                let value = Self.collapse(rawText(index))
                guard !value.isEmpty else { return }
                text += rawText(index)
                markdownLine += value.contains("`") ? "`` \(value) ``" : "`\(value)`"
            } else {
                children(of: node)
            }
        case "img":
            if let image = imageMarkdown(index) { markdownLine += " \(image) " }
        default:
            children(of: node)
        }
    }

    /// `![alt](absolute URL)` for an image with a source (`src`, or `data-src` for lazy loading; never a data URI).
    func imageMarkdown(_ index: Int) -> String? {
        let attributes = nodes[index].attributes
        let candidates = [attributes["src"], attributes["data-src"]].compactMap { $0?.trimmingSpace }
        guard let source = candidates.first(where: { !$0.isEmpty && !$0.lowercased().hasPrefix("data:") }) else { return nil }
        var alt = Self.collapse(attributes["alt"] ?? "")
        if alt.utf8.contains(where: { $0 == UInt8(ascii: "[") || $0 == UInt8(ascii: "]") }) {
            alt = String(alt.flatMap { $0 == "[" || $0 == "]" ? ["\\", $0] : [$0] })
        }
        var url = document.absolute(source)
        if url.utf8.contains(where: { $0 == 0x20 || $0 == UInt8(ascii: ")") }) {
            url = String(url.flatMap { $0 == " " ? Array("%20") : $0 == ")" ? Array("%29") : [$0] })
        }
        return "![\(alt)](\(url))"
    }

    /// The images of a subtree, each as its own Markdown block.
    private mutating func images(in index: Int) {
        var stack = [index]
        var found: [String] = []
        while let current = stack.popLast() {
            if nodes[current].tag == "img", let image = imageMarkdown(current) { found.append(image) }
            stack.append(contentsOf: Array(nodes.children(of: current)).reversed())
        }
        guard !found.isEmpty else { return }
        flush()
        for image in found { blocks.append(("", prefix + image, "\n\n")) }
    }

    /// Whether a subtree holds a block element.
    func containsBlock(_ index: Int) -> Bool {
        nodes.children(of: index).contains { nodes[$0].flags.contains(.block) || containsBlock($0) }
    }

    /// The language of a code block, from `language-X` or `lang-X` class names (or `data-lang`) on the `pre`, its
    /// `code`, or the two elements around it, as highlighters write them; nil when none says.
    func codeLanguage(_ index: Int) -> String? {
        var candidates = [index]
        if let code = nodes.children(of: index).first(where: { nodes[$0].tag == "code" }) { candidates.insert(code, at: 0) }
        var ancestor = nodes[index].parent
        for _ in 0..<2 where ancestor >= 0 {
            candidates.append(ancestor)
            ancestor = nodes[ancestor].parent
        }
        for candidate in candidates {
            if let language = nodes[candidate].attributes["data-lang"], let name = Self.languageName(language) { return name }
            for word in nodes[candidate].classAndID.split(separator: " ") {
                for marker in ["language-", "lang-", "highlight-source-", "brush:"] where word.hasPrefix(marker) {
                    if let name = Self.languageName(String(word.dropFirst(marker.count))) { return name }
                }
            }
        }
        return nil
    }

    static func languageName(_ raw: String) -> String? {
        let name = raw.lowercased().filter { $0.isLetter || $0.isNumber || "+#-_.".contains($0) }
        guard !name.isEmpty, name.count <= 20, name != "none" else { return nil }
        return name
    }

    /// A short block whose class or id says it is a caption, credit, byline, date or similar.
    private func isFurniture(_ index: Int) -> Bool {
        let node = nodes[index]
        guard node.tag != "p", node.tag != "a", textLength[index] < 300, !node.classAndID.isEmpty else { return false }
        return furniture[index]
    }

    /// Whether two texts are the same but for spacing and case (or one is the other with the site's name added).
    static func sameText(_ a: String, _ b: String) -> Bool {
        let x = collapse(a).lowercased(), y = collapse(b).lowercased()
        guard !x.isEmpty, !y.isEmpty else { return false }
        return x == y || (x.count > 20 && y.hasPrefix(x)) || (y.count > 20 && x.hasPrefix(y))
    }

    private mutating func children(of node: PageNode) {
        var child = node.firstChild
        while child >= 0 {
            render(child)
            child = nodes[child].nextSibling
        }
    }

    private mutating func wrap(_ node: PageNode, _ mark: String) {
        let before = markdownLine
        let flushed = flushes
        children(of: node)
        guard flushes == flushed else { return }
        let inner = Self.collapse(String(markdownLine.utf8.dropFirst(before.utf8.count)) ?? "")
        markdownLine = inner.isEmpty ? before : before + " \(mark)\(inner)\(mark) "
    }

    private mutating func renderTable(_ index: Int) {
        var rows: [[String]] = []
        func collect(_ current: Int) {
            for child in nodes.children(of: current) where !excluded[child] {
                switch nodes[child].tag {
                case "tr":
                    rows.append(nodes.children(of: child).filter { ["td", "th"].contains(nodes[$0].tag) }.map { Self.collapse(rawText($0)) })
                case "thead", "tbody", "tfoot":
                    collect(child)
                default:
                    break
                }
            }
        }
        collect(index)
        rows = rows.filter { !$0.allSatisfy(\.isEmpty) }
        guard !rows.isEmpty else { return }
        let width = rows.map(\.count).max() ?? 0
        let padded = rows.map { $0 + Array(repeating: "", count: width - $0.count) }
        let plain = padded.map { $0.filter { !$0.isEmpty }.joined(separator: " ") }.joined(separator: "\n")
        var markdown = prefix + "| " + padded[0].map { $0.replacingOccurrences(of: "|", with: "\\|") }.joined(separator: " | ") + " |\n" + prefix + "|"
            + String(repeating: " --- |", count: width)
        for row in padded.dropFirst() { markdown += "\n" + prefix + "| " + row.map { $0.replacingOccurrences(of: "|", with: "\\|") }.joined(separator: " | ") + " |" }
        blocks.append((plain, markdown, "\n\n"))
    }

    /// The text under a node, as written.
    func rawText(_ index: Int) -> String {
        if nodes[index].isText { return document.text(index) }
        if excluded[index] { return "" }
        return nodes.children(of: index).map(rawText).joined()
    }

    static func isSpecial(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: "*") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "`") || byte == UInt8(ascii: "[") || byte == UInt8(ascii: "]")
    }

    static func escape(_ text: String) -> String {
        guard text.utf8.contains(where: isSpecial) else { return text }
        var result = ""
        for character in text {
            if "*_`[]".contains(character) { result.append("\\") }
            result.append(character)
        }
        return result
    }
}
