import CLibXML2
import Foundation

/// What extraction needs to know of a tag, found once per tag name and page instead of by set lookups per node.
struct TagFlags: OptionSet {
    let rawValue: UInt16
    /// A run of text.
    static let text = TagFlags(rawValue: 1 << 0)
    /// Never page text (`script`, `style`, `svg`…): not read into the tree.
    static let skipped = TagFlags(rawValue: 1 << 1)
    /// A block-level element (paragraph structure).
    static let block = TagFlags(rawValue: 1 << 2)
    /// Boilerplate by its tag alone (`nav`, `aside`, form controls…).
    static let removed = TagFlags(rawValue: 1 << 3)
    /// Never removed for its class or id (`body`, `article`, `p`, table parts…).
    static let classProof = TagFlags(rawValue: 1 << 4)

    init(rawValue: UInt16) { self.rawValue = rawValue }

    init(tag: String) {
        var flags: TagFlags = []
        if tag == "#text" { flags.insert(.text) }
        if HTMLDocument.skipped.contains(tag) { flags.insert(.skipped) }
        if Extractor.blockTags.contains(tag) { flags.insert(.block) }
        if Extractor.removedTags.contains(tag) { flags.insert(.removed) }
        if Extractor.classProofTags.contains(tag) { flags.insert(.classProof) }
        self = flags
    }
}

/// One node of a parsed page, in a flat array: an element or a run of text.
struct PageNode {
    /// The lowercased tag name, or `#text`.
    var tag: String
    /// What the tag is, as flags.
    var flags: TagFlags
    /// The text of a text node, still in the libxml2 document (nil for blank text, which reads as one space). A
    /// Swift string is made only for the text that is rendered.
    var content: UnsafePointer<xmlChar>? = nil
    /// `class` and `id`, lowercased, space-separated (for boilerplate and content hints); empty when it has neither.
    var classAndID: String = ""
    /// The attributes kept for this tag (links, meta, time, images, language), without class, id and style.
    var attributes: [String: String] = [:]
    /// Whether the element hides itself (`hidden`, `aria-hidden`, `display:none`).
    var isHidden = false
    /// For a text node: its non-space bytes and its commas, counted once.
    var letters = 0
    var commas = 0
    /// The parent's index, -1 for the root.
    var parent: Int
    /// The first child's index, -1 for none.
    var firstChild = -1
    /// The next sibling's index, -1 for none.
    var nextSibling = -1

    var isText: Bool { flags.contains(.text) }
}

/// What a run of text (one text node) counts for: its non-space bytes and commas, and whether it is markup that reached
/// the tree as text (from a noscript or a broken page), which is not content. Blank text between tags is very common: it
/// only stands for a space (no letters).
struct TextRun {
    var letters = 0
    var commas = 0
    var isLeakedMarkup = false

    init(_ text: UnsafeBufferPointer<UInt8>) {
        var start = 0
        while start < text.count, text[start] <= 0x20 { start += 1 }
        var lastVisible: UInt8 = 0
        for byte in text[start...] {
            if byte > 0x20 {
                letters += 1
                lastVisible = byte
            }
            if byte == UInt8(ascii: ",") { commas += 1 }
        }
        isLeakedMarkup = start < text.count && text[start] == UInt8(ascii: "<") && lastVisible == UInt8(ascii: ">")
    }
}

/// The attributes of an element that extraction reads, as either reading meets them (``HTMLDocument/wantedKey(_:)``
/// names): class, id and style apart, the others kept.
struct ElementAttributes {
    var kept: [String: String] = [:]
    var classes = ""
    var id = ""
    var style = ""

    mutating func add(_ key: String, _ value: String) {
        switch key {
        case "class": classes = value
        case "id": id = value
        case "style": style = value
        default: kept[key] = value
        }
    }

    /// `class` and `id`, lowercased, space-separated; empty when there is neither.
    var classAndID: String { classes.isEmpty && id.isEmpty ? "" : (classes + " " + id).lowercased() }

    /// Whether the element hides itself (``HTMLDocument/hides(attributes:style:id:)``).
    var hides: Bool { HTMLDocument.hides(attributes: kept, style: style, id: id) }

    /// Whether a script holds JSON-LD.
    var isJSONLD: Bool { kept["type"].map { Extractor.matches($0.lowercased(), ["ld+json"]) } == true }

    /// The language an `<html>` declares.
    var language: String? { kept["lang"] ?? kept["xml:lang"] }
}

/// The children of a node, in order, without an array.
struct ChildIndices: Sequence, IteratorProtocol {
    let nodes: [PageNode]
    var current: Int

    mutating func next() -> Int? {
        guard current >= 0 else { return nil }
        defer { current = nodes[current].nextSibling }
        return current
    }
}

extension Array where Element == PageNode {
    /// The children of the node at `index`.
    func children(of index: Int) -> ChildIndices { ChildIndices(nodes: self, current: self[index].firstChild) }
}

/// A parsed HTML page: a libxml2 document, read once into a flat Swift tree and kept for the document's lifetime (for
/// XPath), freed in `deinit`. Not `Sendable`; nothing
/// outside this module sees a C pointer. libxml2 parses with RECOVER, NOERROR, NOWARNING and NONET: it never touches
/// the network and never expands external entities.
public final class HTMLDocument {
    /// The largest page parsed; longer input is cut.
    public static let maxBytes = 16 << 20

    /// The encoding the page was read in, and where it came from (`http`, `meta`, `bom`, `default`).
    public let encoding: (name: String, source: String)
    /// The page's URL, for resolving relative links.
    public let url: URL?
    /// The libxml2 document, for `select`: parsed the first time it is asked for (a page read through SAX has none
    /// until then), kept until this object goes.
    var document: htmlDocPtr? {
        if !domParsed {
            domParsed = true
            dom = Self.parse(source, encoding: encoding.name, url: url).0
        }
        return dom
    }
    private var dom: htmlDocPtr?
    private var domParsed = false
    /// The page's bytes (at most ``maxBytes``), for the DOM when it is asked for.
    private let source: Data
    /// The text of text nodes read through SAX, in chunks that never move (nodes point into them).
    var textArena = TextArena()
    var nodes: [PageNode] = []
    var root = -1
    var titleText = ""
    var metas: [[String: String]] = []
    var linkTags: [[String: String]] = []
    var jsonLD: [String] = []
    var language: String?

    /// libxml2 set up once, before any thread parses: its documentation asks for `xmlInitParser` before documents
    /// are parsed on several threads at once (each document itself is used by one thread only).
    static let libraryReady: Void = xmlInitParser()

    /// How the page becomes the flat node array.
    package enum Reading {
        /// libxml2's SAX events straight into the array (``SAXReader``): no DOM unless `select` asks for one.
        case sax
        /// libxml2's DOM, then read into the array: the oracle the SAX reading must agree with.
        case dom

        /// SAX where it has been checked against the DOM (libxml2 2.9, as Debian and Ubuntu ship it), else the DOM.
        static let `default`: Reading = errand_sax_reading_supported() != 0 ? .sax : .dom
    }

    /// Parses HTML bytes; `contentType` is the HTTP header, whose charset wins.
    public convenience init(data: Data, url: URL? = nil, contentType: String? = nil) {
        self.init(data: data, url: url, contentType: contentType, reading: .default)
    }

    /// Parses HTML bytes through SAX or through a DOM (the two agree, node for node).
    package init(data: Data, url: URL? = nil, contentType: String? = nil, reading: Reading) {
        _ = Self.libraryReady
        self.url = url
        let input = data.count > Self.maxBytes ? data.prefix(Self.maxBytes) : data
        source = input
        encoding = Charset.detect(input, contentType: contentType)
        nodes.reserveCapacity(input.count / 48)
        switch reading {
        case .dom:
            let (document, messages) = Self.parse(input, encoding: encoding.name, url: url)
            parserMessages = messages
            domParsed = true
            guard let document else { return }
            dom = document
            if let element = xmlDocGetRootElement(document) { root = read(element, parent: -1) }
        case .sax:
            let reader = SAXReader(page: self)
            parserMessages = Self.withPreparedPage(input, encoding: encoding.name) { buffer, encoding in
                reader.parse(buffer, encoding: encoding, url: url)
            }.1
            reader.finish()
            if reader.tooDeep {
                parserMessages.append("elements nest deeper than \(errand_max_depth()): the page is read up to there, as libxml2 reads it")
            }
        }
    }

    deinit {
        if let dom { xmlFreeDoc(dom) }
        textArena.free()
    }

    /// What libxml2 said while it parsed the page (encoding and I/O errors it reports despite `HTML_PARSE_NOERROR`),
    /// line by line: kept here instead of reaching stderr.
    public private(set) var parserMessages: [String] = []

    /// Parses the whole page (``PageBytes``: decoded to UTF-8, without NUL bytes), script and style bodies dropped
    /// first (``RawTextFilter``) where the scan is safe, with libxml2's messages collected instead of printed.
    private static func parse(_ input: Data, encoding: String, url: URL?) -> (htmlDocPtr?, [String]) {
        let (document, messages) = withPreparedPage(input, encoding: encoding) { buffer, encoding in
            htmlReadMemory(buffer.baseAddress!.assumingMemoryBound(to: CChar.self), Int32(buffer.count), url?.absoluteString, encoding, errand_html_options())
        }
        return (document ?? nil, messages)
    }

    /// Runs `parse` on the page as libxml2 is to see it (``PageBytes``, then ``RawTextFilter`` where it is safe), with
    /// the encoding to name, and collects what libxml2 says meanwhile; nil for an empty page.
    static func withPreparedPage<T>(_ input: Data, encoding: String, _ parse: (UnsafeRawBufferPointer, String) -> T) -> (T?, [String]) {
        input.withUnsafeBytes { original in
            let prepared = PageBytes.prepare(original, encoding: encoding)
            func run(_ buffer: UnsafeRawBufferPointer) -> (T?, [String]) {
                guard buffer.baseAddress != nil, buffer.count > 0 else { return (nil, []) }
                let messages = UnsafeMutablePointer<errand_parse_messages>.allocate(capacity: 1)
                messages.initialize(to: errand_parse_messages())
                defer { messages.deallocate() }
                errand_begin_parser_messages(messages)
                let result = parse(buffer, prepared.encoding)
                errand_end_parser_messages()
                guard messages.pointee.count > 0 else { return (result, []) }
                let text = withUnsafeBytes(of: &messages.pointee.text) { raw in
                    String(decoding: raw.prefix(messages.pointee.used), as: UTF8.self)
                }
                return (result, text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
            }
            func filtered(_ buffer: UnsafeRawBufferPointer) -> (T?, [String]) {
                // Script and style bodies are half of a typical page and never content: libxml2 is spared them.
                if prepared.scannable, let filtered = RawTextFilter.filter(buffer) { return filtered.withUnsafeBytes(run) }
                return run(buffer)
            }
            if let bytes = prepared.bytes { return bytes.withUnsafeBytes(filtered) }
            return filtered(original)
        }
    }

    /// Runs libxml2's HTML parser over the page with empty SAX callbacks (no tree at all): the floor under a parse
    /// straight into the flat node array (benchmarks only).
    package static func saxParseOnly(_ data: Data, contentType: String? = nil) -> Bool {
        let input = data.count > maxBytes ? data.prefix(maxBytes) : data
        let name = Charset.detect(input, contentType: contentType).name
        return input.withUnsafeBytes { buffer in
            guard let base = buffer.baseAddress, buffer.count > 0 else { return false }
            return errand_sax_parse_only(base.assumingMemoryBound(to: CChar.self), Int32(buffer.count), name) != 0
        }
    }

    /// Parses and frees a page without reading it, as the extractor's speed floor (benchmarks only); returns whether
    /// libxml2 produced a document.
    package static func parseOnly(_ data: Data, contentType: String? = nil) -> Bool {
        let input = data.count > maxBytes ? data.prefix(maxBytes) : data
        let name = Charset.detect(input, contentType: contentType).name
        let document: htmlDocPtr? = input.withUnsafeBytes { buffer in
            guard let base = buffer.baseAddress, buffer.count > 0 else { return nil }
            return htmlReadMemory(base.assumingMemoryBound(to: CChar.self), Int32(buffer.count), nil, name, errand_html_options())
        }
        guard let document else { return false }
        xmlFreeDoc(document)
        return true
    }

    /// The text of a text node.
    func text(_ index: Int) -> String {
        guard let content = nodes[index].content else { return " " }
        return String(cString: content)
    }

    /// Parses HTML text.
    public convenience init(html: String, url: URL? = nil) {
        self.init(data: Data(html.utf8), url: url, contentType: "text/html; charset=utf-8")
    }

    static func name(_ pointer: UnsafePointer<xmlChar>?) -> String {
        guard let pointer else { return "" }
        // libxml2's HTML parser lowercases element and attribute names already.
        return String(cString: pointer)
    }

    /// The attributes the extractor reads; others are never turned into Swift strings.
    private static let wanted: [(name: [UInt8], key: String)] = [
        "class", "id", "style", "hidden", "aria-hidden", "href", "src", "alt", "datetime", "itemprop", "role", "content", "lang",
        "xml:lang", "type", "name", "property", "rel", "http-equiv", "data-src", "data-lang",
    ].map { (Array($0.utf8) + [0], $0) }

    /// The wanted attribute names by first byte.
    private static let wantedByFirst: [[(name: [UInt8], key: String)]] = {
        var buckets = Array(repeating: [(name: [UInt8], key: String)](), count: 256)
        for entry in wanted { buckets[Int(entry.name[0])].append(entry) }
        return buckets
    }()

    static func wantedKey(_ name: UnsafePointer<xmlChar>) -> String? {
        let candidates = wantedByFirst[Int(name.pointee)]
        guard !candidates.isEmpty else { return nil }
        let cName = UnsafeRawPointer(name).assumingMemoryBound(to: CChar.self)
        for entry in candidates where entry.name.withUnsafeBufferPointer({ strcmp(cName, UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self)) == 0 }) {
            return entry.key
        }
        return nil
    }

    /// Tags whose content is never text of the page.
    static let skipped: Set<String> = ["script", "style", "noscript", "template", "svg", "canvas", "iframe", "object", "embed", "head", "math"]

    /// Reads `element` and its subtree; returns its index, or -1 when it is skipped.
    /// Element names by the pointer libxml2 interns them at, so that each name becomes a string, with its flags,
    /// once per page.
    private var names: [UnsafePointer<xmlChar>: (tag: String, flags: TagFlags)] = [:]
    /// Names of up to 8 bytes (nearly every tag) by their bytes packed into an integer, in a small direct-mapped table:
    /// libxml2 copies each element's name unless it interns them, so the pointer alone does not find a known name.
    private var shortNames = [(key: UInt64, tag: String, flags: TagFlags)](repeating: (0, "", []), count: 256)

    func tagName(_ pointer: UnsafePointer<xmlChar>) -> (tag: String, flags: TagFlags) {
        var key: UInt64 = 0
        var length = 0
        while length < 8, pointer[length] != 0 {
            key |= UInt64(pointer[length]) << (8 * UInt64(length))
            length += 1
        }
        if length > 0, pointer[length] == 0 {
            let slot = Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> 56)
            if shortNames[slot].key == key { return (shortNames[slot].tag, shortNames[slot].flags) }
            let tag = Self.name(pointer)
            let flags = TagFlags(tag: tag)
            shortNames[slot] = (key, tag, flags)
            return (tag, flags)
        }
        if let known = names[pointer] { return known }
        let tag = Self.name(pointer)
        let flags = TagFlags(tag: tag)
        names[pointer] = (tag, flags)
        return (tag, flags)
    }
    static let textFlags = TagFlags(tag: "#text")

    private func read(_ element: xmlNodePtr, parent: Int) -> Int {
        let tag: String
        let flags: TagFlags
        if let pointer = element.pointee.name {
            (tag, flags) = tagName(pointer)
        } else {
            (tag, flags) = ("", [])
        }
        var found = ElementAttributes()
        var property = element.pointee.properties
        while let attribute = property {
            if let name = attribute.pointee.name, let key = Self.wantedKey(name) {
                found.add(key, attribute.pointee.children?.pointee.content.map { String(cString: $0) } ?? "")
            }
            property = attribute.pointee.next
        }
        let attributes = found.kept
        switch tag {
        case "title" where titleText.isEmpty:
            titleText = Self.visibleText(of: element)
        case "meta":
            metas.append(attributes)
        case "link":
            linkTags.append(attributes)
        case "script" where found.isJSONLD:
            jsonLD.append(Self.text(of: element))
        case "html":
            language = found.language
        default:
            break
        }
        if tag == "head" {
            // Walk it for title, meta and link, keep none of it as content.
            var child = element.pointee.children
            while let node = child {
                if node.pointee.type == XML_ELEMENT_NODE { _ = read(node, parent: -1) }
                child = node.pointee.next
            }
            return -1
        }
        if flags.contains(.skipped) || parent == -1 && root != -1 && tag != "html" && tag != "body" {
            if parent == -1 { return -1 }
        }
        if flags.contains(.skipped) { return -1 }
        let index = nodes.count
        nodes.append(PageNode(tag: tag, flags: flags, classAndID: found.classAndID, attributes: attributes, isHidden: found.hides, parent: parent))
        var previous = -1
        func link(_ child: Int) {
            if previous < 0 { nodes[index].firstChild = child } else { nodes[previous].nextSibling = child }
            previous = child
        }
        var child = element.pointee.children
        while let node = child {
            switch node.pointee.type {
            case XML_ELEMENT_NODE:
                let childIndex = read(node, parent: index)
                if childIndex >= 0 { link(childIndex) }
            case XML_TEXT_NODE, XML_CDATA_SECTION_NODE:
                if let content = node.pointee.content, content.pointee != 0 {
                    let text = TextRun(UnsafeBufferPointer(start: content, count: strlen(UnsafeRawPointer(content).assumingMemoryBound(to: CChar.self))))
                    if !text.isLeakedMarkup {
                        nodes.append(PageNode(
                            tag: "#text", flags: Self.textFlags, content: text.letters == 0 ? nil : UnsafePointer(content), letters: text.letters,
                            commas: text.commas, parent: index))
                        link(nodes.count - 1)
                    }
                }
            default:
                break
            }
            child = node.pointee.next
        }
        return index
    }

    /// Whether an element hides itself: `hidden`, `aria-hidden="true"`, or an inline style. React's streamed segments
    /// (`<div hidden id="S:1a">`, the server's HTML for a part of the page that a script then moves into place, as
    /// Next.js sends articles) are not hidden: they are the page.
    static func hides(attributes: [String: String], style: String, id: String) -> Bool {
        if attributes["hidden"] != nil, !isStreamedSegment(id) { return true }
        if attributes["aria-hidden"]?.lowercased() == "true" { return true }
        return !style.isEmpty && stylesHide(style)
    }

    /// React's id for a streamed segment: `S:` and a base-32 number.
    static func isStreamedSegment(_ id: String) -> Bool {
        let bytes = Array(id.utf8)
        guard bytes.count > 2, bytes[0] == UInt8(ascii: "S"), bytes[1] == UInt8(ascii: ":") else { return false }
        return bytes[2...].allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x7A) }
    }

    /// Whether an inline style hides its element (`display: none`, `visibility: hidden`), read on bytes: spaces and
    /// case do not matter.
    static func stylesHide(_ style: String) -> Bool {
        var compact: [UInt8] = []
        compact.reserveCapacity(style.utf8.count)
        for byte in style.utf8 where byte != 0x20 && byte != 0x09 && byte != 0x0A && byte != 0x0D {
            compact.append(byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte)
        }
        return compact.contains(subsequence: "display:none".utf8) || compact.contains(subsequence: "visibility:hidden".utf8)
    }

    /// All text under a node (for title and scripts).
    private static func text(of element: xmlNodePtr) -> String {
        guard let content = xmlNodeGetContent(element) else { return "" }
        defer { errand_xml_free(content) }
        return String(cString: content)
    }

    /// The text under `element` without what skipped elements hold: libxml2 nests a script or style in a `<title>`
    /// left open, and their code is not the title (nor is it there once the raw-text filter has emptied them).
    private static func visibleText(of element: xmlNodePtr) -> String {
        var text = ""
        var child = element.pointee.children
        while let node = child {
            switch node.pointee.type {
            case XML_TEXT_NODE, XML_CDATA_SECTION_NODE:
                if let content = node.pointee.content { text += String(cString: content) }
            case XML_ELEMENT_NODE where !skipped.contains(name(node.pointee.name)):
                text += visibleText(of: node)
            default:
                break
            }
            child = node.pointee.next
        }
        return text
    }

    /// The page's `<title>`.
    public var title: String { titleText.trimmingSpace }

    /// An absolute URL for `reference`, resolved against the page's URL (or its `<base>`).
    func absolute(_ reference: String) -> String {
        let trimmed = reference.trimmingSpace
        guard let base = url, let resolved = URL(string: trimmed, relativeTo: base) else { return trimmed }
        return resolved.absoluteString
    }
}

extension Collection where Element == UInt8 {
    /// Whether `needle` occurs in these bytes.
    func contains(subsequence needle: some Collection<UInt8>) -> Bool {
        let haystack = Array(self), word = Array(needle)
        guard !word.isEmpty, word.count <= haystack.count else { return word.isEmpty }
        return Extractor.matches(haystack, [word])
    }
}

extension String {
    /// The string without white space at either end (Unicode's spaces, as `Renderer.isSpace` knows them), without
    /// going through Foundation's `NSString`.
    var trimmingSpace: String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !Renderer.isSpace($0) }) else { return "" }
        let last = scalars.lastIndex(where: { !Renderer.isSpace($0) })!
        return String(scalars[first...last])
    }
}
