import CLibXML2
import Foundation

/// Reads a page's SAX events straight into ``HTMLDocument``'s flat node array, without the DOM libxml2 would build
/// and ``HTMLDocument``'s DOM reading would then walk: the same nodes, field for field (the DOM reading is the oracle,
/// and `SAXAgreementTests` holds the two to it on every page at hand).
///
/// It follows what libxml2 2.9's tree builder (SAX2.c) does with the same events:
/// - an element starts under the current one, attributes as given (a boolean attribute without a value, `hidden`,
///   gets its own name as value);
/// - character data joins the text node before it when nothing came between (not an element, a comment or a
///   processing instruction), and CDATA (script and style bodies) joins only CDATA;
/// - text outside any element is dropped;
/// and what the DOM reading does with the tree: `head`'s elements are read as roots of their own (title, meta, link),
/// a skipped element (script, style, svg…) is not read below, the first `<title>` gives the title (its text without
/// what skipped elements hold), a JSON-LD script its text.
final class SAXReader {
    private unowned let page: HTMLDocument

    private enum Kind { case node, head, dropped }

    private struct Frame {
        var kind: Kind
        /// The node's index (`.node`).
        var index = -1
        /// The last child linked under it, -1 for none.
        var lastLinked = -1
        /// Whether this element is a skipped one inside the title being read.
        var skippedInTitle = false
    }

    private var frames: [Frame] = []
    /// Whether the page nested elements past libxml2's limit, which ended the parse.
    private(set) var tooDeep = false
    private var rootSeen = false
    private var rootIndex = -1
    /// The root's last linked child, once the root has ended (an element libxml2 then meets at the top goes under it).
    private var rootLastLinked = -1
    /// Whether the document's first child is something else than the root (a comment or processing instruction before
    /// it, a document type anywhere): libxml2's tree then puts elements met at the top after the root beside it, where
    /// nothing reads them.
    private var nodeBeforeRoot = false

    /// Character data not yet made a node, and whether it is CDATA.
    private var pending: [UInt8] = []
    private var pendingIsCDATA = false

    /// The first `<title>` while it is read: its frame depth, how many skipped elements are open inside it, its text, and
    /// the bytes of the text node being read (decoded one node at a time, as the DOM reading decodes each text node).
    private var title: (depth: Int, skipped: Int, text: String, run: [UInt8], runIsCDATA: Bool)?
    /// A JSON-LD script while it is read.
    private var script: (depth: Int, text: [UInt8])?

    init(page: HTMLDocument) {
        self.page = page
        pending.reserveCapacity(4096)
    }

    /// Parses `buffer` (in `encoding`) into the page.
    func parse(_ buffer: UnsafeRawBufferPointer, encoding: String, url: URL?) {
        var handler = htmlSAXHandler()
        handler.startElement = { context, name, attributes in
            guard let reader = SAXReader.of(context), let name else { return }
            reader.start(name, attributes, context: context!.assumingMemoryBound(to: xmlParserCtxt.self))
        }
        handler.endElement = { context, _ in
            SAXReader.of(context)?.end()
        }
        handler.characters = { context, bytes, length in
            guard let bytes, length > 0 else { return }
            SAXReader.of(context)?.characters(UnsafeBufferPointer(start: bytes, count: Int(length)), cdata: false)
        }
        handler.cdataBlock = { context, bytes, length in
            guard let bytes, length > 0 else { return }
            SAXReader.of(context)?.characters(UnsafeBufferPointer(start: bytes, count: Int(length)), cdata: true)
        }
        handler.comment = { context, _ in
            SAXReader.of(context)?.other()
        }
        handler.processingInstruction = { context, _, _ in
            SAXReader.of(context)?.other()
        }
        handler.internalSubset = { context, _, _, _ in
            // libxml2 makes the document type the document's first child, wherever it stands (not in the element
            // it is met in): it ends no text, but the root is no longer the first child.
            SAXReader.of(context)?.nodeBeforeRoot = true
        }
        handler.initialized = 1
        let user = Unmanaged.passUnretained(self).toOpaque()
        _ = withUnsafePointer(to: &handler) { handler in
            errand_sax_parse(buffer.baseAddress!.assumingMemoryBound(to: CChar.self), Int32(buffer.count), encoding, url?.absoluteString, handler, user)
        }
    }

    /// The reader of a parser context (its `_private`).
    private static func of(_ context: UnsafeMutableRawPointer?) -> SAXReader? {
        guard let context, let reader = context.assumingMemoryBound(to: xmlParserCtxt.self).pointee._private else { return nil }
        return Unmanaged<SAXReader>.fromOpaque(reader).takeUnretainedValue()
    }

    /// A comment or processing instruction: a node of the tree, so it ends the text before it; at the top, before the
    /// root, it becomes the document's first child.
    private func other() {
        if frames.isEmpty, !rootSeen { nodeBeforeRoot = true }
        flush()
    }

    /// Ends the reading: what is still open is closed (libxml2 closes everything at the end; this is for a parse that
    /// stopped early).
    func finish() {
        while !frames.isEmpty { end() }
        page.root = rootIndex
    }

    private func start(_ name: UnsafePointer<xmlChar>, _ attributes: UnsafeMutablePointer<UnsafePointer<xmlChar>?>?, context: UnsafeMutablePointer<xmlParserCtxt>) {
        flush()
        // libxml2's tree builder stops the parse at an element nested deeper than its limit (nodePush): so does this,
        // which also keeps the flat tree as shallow as a DOM's.
        if frames.count > Int(errand_max_depth()) {
            tooDeep = true
            xmlStopParser(context)
            return
        }
        // libxml2's tree names an element `a:b` by its local part, `b` (xmlSplitQName).
        var split: UnsafeMutablePointer<xmlChar>?
        if strchr(UnsafeRawPointer(name).assumingMemoryBound(to: CChar.self), Int32(UInt8(ascii: ":"))) != nil {
            var prefix: UnsafeMutablePointer<xmlChar>?
            split = xmlSplitQName(context, name, &prefix)
            if let prefix { errand_xml_free(prefix) }
            guard split != nil else {
                frames.append(Frame(kind: .dropped))
                return
            }
        }
        defer { if let split { errand_xml_free(split) } }
        let name = split.map { UnsafePointer($0) } ?? name
        let known: (tag: String, flags: TagFlags)? = split.map { _ in
            let tag = HTMLDocument.name(name)
            return (tag, TagFlags(tag: tag))
        }
        guard let top = frames.last else {
            // The document's first element is the root. One met at the top after it goes under the root, when the root
            // is the document's first child; otherwise beside it, where nothing reads it.
            guard !rootSeen else {
                if !nodeBeforeRoot, rootIndex >= 0 {
                    frames.append(Frame(kind: .node, index: rootIndex, lastLinked: rootLastLinked))
                    visit(name, attributes, parent: rootIndex, isRoot: false, known: known)
                    let root = frames.remove(at: frames.count - 2)
                    rootLastLinked = root.lastLinked
                } else {
                    frames.append(Frame(kind: .dropped))
                }
                return
            }
            rootSeen = true
            visit(name, attributes, parent: -1, isRoot: true, known: known)
            return
        }
        switch top.kind {
        case .dropped:
            var frame = Frame(kind: .dropped)
            noteSkipped(name, known: known, in: &frame)
            frames.append(frame)
        case .head:
            visit(name, attributes, parent: -1, isRoot: false, known: known)
        case .node:
            visit(name, attributes, parent: top.index, isRoot: false, known: known)
        }
    }

    /// A skipped element inside the title being read: its text is not the title's.
    private func noteSkipped(_ name: UnsafePointer<xmlChar>, known: (tag: String, flags: TagFlags)?, in frame: inout Frame) {
        guard title != nil, (known ?? page.tagName(name)).flags.contains(.skipped) else { return }
        frame.skippedInTitle = true
        title!.skipped += 1
    }

    /// What `HTMLDocument.read(_:parent:)` does for an element, up to its children.
    private func visit(
        _ name: UnsafePointer<xmlChar>, _ atts: UnsafeMutablePointer<UnsafePointer<xmlChar>?>?, parent: Int, isRoot: Bool,
        known: (tag: String, flags: TagFlags)?
    ) {
        let (tag, flags) = known ?? page.tagName(name)
        var found = ElementAttributes()
        if let atts {
            var index = 0
            while let attributeName = atts[index] {
                if let key = HTMLDocument.wantedKey(attributeName) {
                    if let raw = atts[index + 1] {
                        found.add(key, String(cString: raw))
                    } else {
                        // libxml2's tree gives a boolean attribute written without a value its own name.
                        found.add(key, htmlIsBooleanAttr(attributeName) != 0 ? String(cString: attributeName) : "")
                    }
                }
                index += 2
            }
        }
        let attributes = found.kept
        var frame = Frame(kind: .node)
        noteSkipped(name, known: known, in: &frame)
        switch tag {
        case "title" where page.titleText.isEmpty && title == nil:
            title = (frames.count + 1, 0, "", [], false)
        case "meta":
            page.metas.append(attributes)
        case "link":
            page.linkTags.append(attributes)
        case "script" where found.isJSONLD:
            script = (frames.count + 1, [])
        case "html":
            page.language = found.language
        default:
            break
        }
        if tag == "head" {
            frame.kind = .head
            frames.append(frame)
            return
        }
        if flags.contains(.skipped) {
            frame.kind = .dropped
            frames.append(frame)
            return
        }
        let index = page.nodes.count
        page.nodes.append(PageNode(tag: tag, flags: flags, classAndID: found.classAndID, attributes: attributes, isHidden: found.hides, parent: parent))
        if parent >= 0 { link(index) }
        if isRoot { rootIndex = index }
        frame.index = index
        frames.append(frame)
    }

    /// Links `child` as the last child of the current node.
    private func link(_ child: Int) {
        let top = frames.count - 1
        let previous = frames[top].lastLinked
        if previous < 0 { page.nodes[frames[top].index].firstChild = child } else { page.nodes[previous].nextSibling = child }
        frames[top].lastLinked = child
    }

    private func end() {
        flush()
        guard let frame = frames.popLast() else { return }
        if frame.skippedInTitle { title?.skipped -= 1 }
        if frames.isEmpty, frame.kind == .node, frame.index == rootIndex { rootLastLinked = frame.lastLinked }
        let depth = frames.count + 1
        if let read = title, read.depth == depth {
            page.titleText = read.text
            title = nil
        }
        if let read = script, read.depth == depth {
            page.jsonLD.append(String(decoding: read.text, as: UTF8.self))
            script = nil
        }
    }

    private func characters(_ bytes: UnsafeBufferPointer<UInt8>, cdata: Bool) {
        if title != nil, title!.skipped == 0 {
            if title!.runIsCDATA != cdata { endTitleRun() }
            title!.runIsCDATA = cdata
            title!.run.append(contentsOf: bytes)
        }
        if script != nil { script!.text.append(contentsOf: bytes) }
        guard let top = frames.last, top.kind == .node else { return }
        if !pending.isEmpty, pendingIsCDATA != cdata { flush() }
        pendingIsCDATA = cdata
        pending.append(contentsOf: bytes)
    }

    /// Ends the title's text node being read: its bytes join the title's text.
    private func endTitleRun() {
        guard title != nil, !title!.run.isEmpty else { return }
        title!.text += String(decoding: title!.run, as: UTF8.self)
        title!.run.removeAll(keepingCapacity: true)
    }

    /// Makes the pending character data a text node of the current node, as the DOM reading does with a text node;
    /// the title's text node ends too.
    private func flush() {
        endTitleRun()
        guard !pending.isEmpty else { return }
        defer { pending.removeAll(keepingCapacity: true) }
        guard let top = frames.last, top.kind == .node else { return }
        pending.withUnsafeBufferPointer { bytes in
            let text = TextRun(bytes)
            guard !text.isLeakedMarkup else { return }
            let content = text.letters == 0 ? nil : page.textArena.store(bytes)
            page.nodes.append(PageNode(
                tag: "#text", flags: HTMLDocument.textFlags, content: content, letters: text.letters, commas: text.commas, parent: top.index))
            link(page.nodes.count - 1)
        }
    }
}

/// Text kept for a page's text nodes, NUL-terminated, in chunks that never move: nodes point into them.
struct TextArena {
    private var chunks: [UnsafeMutablePointer<UInt8>] = []
    private var used = 0
    private var capacity = 0

    /// Copies `bytes` in, with a NUL after them; their address.
    mutating func store(_ bytes: UnsafeBufferPointer<UInt8>) -> UnsafePointer<UInt8> {
        let need = bytes.count + 1
        if chunks.isEmpty || capacity - used < need {
            let size = max(need, 64 << 10)
            chunks.append(UnsafeMutablePointer<UInt8>.allocate(capacity: size))
            used = 0
            capacity = size
        }
        let start = chunks[chunks.count - 1] + used
        if let base = bytes.baseAddress { start.update(from: base, count: bytes.count) }
        start[bytes.count] = 0
        used += need
        return UnsafePointer(start)
    }

    /// Frees every chunk.
    func free() {
        for chunk in chunks { chunk.deallocate() }
    }
}

extension HTMLDocument {
    /// Whether pages are read through SAX here (libxml2 2.9), not through the DOM.
    @_spi(Agreement) public static var readsThroughSAX: Bool { Reading.default == .sax }

    /// Where the SAX reading and the DOM reading of `data` differ (the first difference, in words), or nil when they
    /// agree node for node and in title, metadata tags, JSON-LD and language: for the agreement test and its fuzz
    /// target.
    @_spi(Agreement) public static func readingsDisagree(_ data: Data, contentType: String? = nil) -> String? {
        let sax = HTMLDocument(data: data, contentType: contentType, reading: .sax)
        let dom = HTMLDocument(data: data, contentType: contentType, reading: .dom)
        if sax.root != dom.root { return "root: \(sax.root) vs \(dom.root)" }
        if sax.titleText != dom.titleText { return "title: \(sax.titleText.debugDescription) vs \(dom.titleText.debugDescription)" }
        if sax.metas != dom.metas { return "meta tags: \(sax.metas.count) vs \(dom.metas.count)" }
        if sax.linkTags != dom.linkTags { return "link tags: \(sax.linkTags.count) vs \(dom.linkTags.count)" }
        if sax.jsonLD != dom.jsonLD { return "JSON-LD: \(sax.jsonLD.map(\.count)) vs \(dom.jsonLD.map(\.count))" }
        if sax.language != dom.language { return "language: \(sax.language ?? "nil") vs \(dom.language ?? "nil")" }
        for index in 0..<min(sax.nodes.count, dom.nodes.count) {
            let (a, b) = (sax.nodes[index], dom.nodes[index])
            let textA = a.isText ? sax.text(index) : "", textB = b.isText ? dom.text(index) : ""
            if a.tag != b.tag || a.flags.rawValue != b.flags.rawValue || a.classAndID != b.classAndID || a.attributes != b.attributes
                || a.isHidden != b.isHidden || a.letters != b.letters || a.commas != b.commas || a.parent != b.parent
                || a.firstChild != b.firstChild || a.nextSibling != b.nextSibling || textA != textB {
                let parentTag = a.parent >= 0 ? sax.nodes[a.parent].tag : "-"
                return "node \(index) (under \(parentTag)): \(a.tag) parent \(a.parent) first \(a.firstChild) next \(a.nextSibling) \(textA.prefix(60).debugDescription)"
                    + " vs \(b.tag) parent \(b.parent) first \(b.firstChild) next \(b.nextSibling) \(textB.prefix(60).debugDescription)"
            }
        }
        if sax.nodes.count != dom.nodes.count { return "nodes: \(sax.nodes.count) vs \(dom.nodes.count)" }
        return nil
    }
}

