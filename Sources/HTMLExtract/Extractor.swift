import Foundation

/// What extraction finds in a page.
public struct Extraction: Sendable, Hashable, Codable {
    /// The title (Open Graph, else `<title>`, else the first `<h1>`).
    public var title: String
    /// The main content as plain text, one block per line.
    public var text: String
    /// The main content as Markdown.
    public var markdown: String
    /// The links of the main content, absolute, with their text.
    public var links: [Link]
    /// Canonical URL, author, published date, site name, description, language, when the page says.
    public var metadata: [String: String]

    /// A link.
    public struct Link: Sendable, Hashable, Codable {
        /// The link's text.
        public var text: String
        /// The absolute URL.
        public var url: String
    }
}

extension HTMLDocument {
    /// Extracts the main content.
    public func extract() -> Extraction {
        var extractor = Extractor(document: self)
        return extractor.run()
    }
}

/// Main-content extraction over the flat tree: paragraphs score their ancestors (in the spirit of Readability), scores
/// are weighed by link density and by general class/id/role/tag hints, the best container and its content-like siblings
/// are kept, and boilerplate inside them (navigation, share and related blocks, forms, hidden nodes) is dropped.
struct Extractor {
    let document: HTMLDocument
    var nodes: [PageNode] { document.nodes }
    var textLength: [Int] = []
    var linkLength: [Int] = []
    var commas: [Int] = []
    /// The letters of each subtree that sit in paragraphs (as ``isParagraph(_:)`` says, 25 letters or more).
    var paragraphLetters: [Int] = []
    var excluded: [Bool] = []
    var score: [Double] = []
    var scored: [Bool] = []
    /// The page's JSON-LD scripts, parsed once.
    lazy var jsonLD: [Any] = document.jsonLD.compactMap(Self.parseJSONLD)

    /// Whether class and id names may remove a subtree (the first attempt) and weigh scores (the first two).
    var stripUnlikely = true
    /// Whether comment threads are dropped though other class-name rules are off (an attempt run for missed prose).
    var stripComments = false
    var weighClasses = true
    /// Whether boilerplate tags and roles (`nav`, `aside`, `role=navigation`…) remove their subtree, and hidden
    /// elements theirs: the last attempts, made when the others found next to nothing, keep them.
    var stripTags = true
    var stripHidden = true

    /// Every subtree's letters with nothing excluded, and whether it holds the page's declared main content
    /// (`<main>`, `role=main`, `itemprop=articleBody`), found once: a page whose markup puts its article inside an
    /// `aside`, a `header` or a hidden streaming placeholder keeps it.
    var allText: [Int] = []
    var holdsMain: [Bool] = []
    /// The share of the page's letters inside hidden elements.
    var hiddenShare = 0.0
    /// Whether a subtree holds a node that names itself content (`post-content`, `article-body`) and holds half the
    /// page's letters: a wrapper around it whose own name looks like boilerplate (`above-footer`) is kept.
    var holdsNamedContent: [Bool] = []
    /// The letters in `p` elements of each subtree, nothing excluded.
    var paragraphText: [Int] = []

    init(document: HTMLDocument) {
        self.document = document
    }

    static let blockTags: Set<String> = [
        "p", "div", "section", "article", "main", "li", "ul", "ol", "dl", "dt", "dd", "h1", "h2", "h3", "h4", "h5", "h6", "pre",
        "blockquote", "table", "tr", "td", "th", "tbody", "thead", "figure", "figcaption", "header", "footer", "aside", "nav",
        "form", "fieldset", "address", "hr", "br", "center", "details", "summary",
    ]
    static let removedTags: Set<String> = [
        "nav", "aside", "footer", "header", "button", "select", "input", "textarea", "label", "option", "dialog", "menu", "fieldset",
    ]
    static let unlikely = [
        "-ad-", "ad-break", "adsense", "advert", "agegate", "banner", "breadcrumb", "combx", "comment", "community", "consent",
        "cookie", "cover-wrap", "disqus", "footer", "gdpr", "header", "legends", "menu", "modal", "newsletter", "outbrain",
        "pagination", "pager", "popup", "promo", "recommend", "related", "remark", "replies", "rss", "share", "sharing",
        "shoutbox", "sidebar", "signup", "skyscraper", "social", "sponsor", "subscribe", "supplemental", "taboola", "trending",
        "widget", "most-popular", "most-read", "read-more", "readmore", "toolbar", "byline", "author-bio", "tags",
    ]
    static let likely = ["and", "article", "body", "column", "content", "main", "post", "entry", "story", "text", "blog"]
    static let negative = [
        "-ad-", "hidden", "hid", "banner", "combx", "comment", "com-", "contact", "foot", "footer", "footnote", "gdpr", "masthead",
        "media", "meta", "outbrain", "promo", "related", "scroll", "share", "shoutbox", "sidebar", "skyscraper", "sponsor",
        "shopping", "tags", "tool", "widget", "social", "newsletter", "subscribe", "caption",
    ]
    static let positive = ["article", "body", "content", "entry", "hentry", "h-entry", "main", "page", "pagination", "post", "text", "blog", "story"]
    /// Tags never removed for their class or id names.
    static let classProofTags: Set<String> = ["body", "html", "article", "main", "a", "p", "table", "tbody", "tr", "td", "th"]
    static let removedRoles: Set<String> = ["navigation", "complementary", "banner", "contentinfo", "dialog", "search", "menu", "menubar", "alert"]

    static func matches(_ text: String, _ words: [String]) -> Bool {
        guard text.utf8.count > 1 else { return false }
        return matches(Array(text.utf8), words.map { Array($0.utf8) })
    }

    /// Whether any of `words` occurs in `text` (bytes; class names are short, so a plain search is fastest).
    static func matches(_ text: [UInt8], _ words: [[UInt8]]) -> Bool {
        text.withUnsafeBufferPointer { haystack in
            for word in words where word.count <= haystack.count {
                let first = word[0]
                var start = 0
                let last = haystack.count - word.count
                while start <= last {
                    if haystack[start] == first {
                        var offset = 1
                        while offset < word.count, haystack[start + offset] == word[offset] { offset += 1 }
                        if offset == word.count { return true }
                    }
                    start += 1
                }
            }
            return false
        }
    }

    static let unlikelyBytes = unlikely.map { Array($0.utf8) }
    static let likelyBytes = likely.map { Array($0.utf8) }
    static let negativeBytes = negative.map { Array($0.utf8) }
    static let positiveBytes = positive.map { Array($0.utf8) }

    /// The class and id hints of each node, found once (they do not change between attempts).
    struct Hints {
        var unlikely = false, likely = false, negative = false, positive = false, furniture = false
        /// Named for a comment thread (``commentWords``).
        var comment = false
    }
    var hints: [Hints] = []

    /// The hint words bucketed by their first byte, each with the lists it belongs to (one bit per list).
    static let hintWords: [[(word: [UInt8], lists: UInt8)]] = {
        var buckets = Array(repeating: [(word: [UInt8], lists: UInt8)](), count: 256)
        var lists: [String: UInt8] = [:]
        for (bit, words) in [unlikely, likely, negative, positive, Renderer.furniture, commentWords].enumerated() {
            for word in words { lists[word, default: 0] |= 1 << UInt8(bit) }
        }
        for (word, bits) in lists {
            let bytes = Array(word.utf8)
            buckets[Int(bytes[0])].append((bytes, bits))
        }
        return buckets
    }()

    mutating func readHints() {
        hints = nodes.map { node in
            guard !node.classAndID.isEmpty else { return Hints() }
            var found: UInt8 = 0
            var text = node.classAndID
            text.withUTF8 { bytes in
                for start in bytes.indices {
                    for (word, lists) in Self.hintWords[Int(bytes[start])] where found & lists != lists && start + word.count <= bytes.count {
                        var offset = 1
                        while offset < word.count, bytes[start + offset] == word[offset] { offset += 1 }
                        if offset == word.count { found |= lists }
                    }
                }
            }
            return Hints(
                unlikely: found & 1 != 0, likely: found & 2 != 0, negative: found & 4 != 0, positive: found & 8 != 0, furniture: found & 16 != 0,
                comment: found & 32 != 0)
        }
    }

    mutating func readStructure() {
        let count = nodes.count
        if hints.count != count { readHints() }
        allText = Array(repeating: 0, count: count)
        paragraphText = Array(repeating: 0, count: count)
        holdsMain = Array(repeating: false, count: count)
        for index in stride(from: count - 1, through: 0, by: -1) {
            let node = nodes[index]
            if node.isText {
                allText[index] = node.letters
            } else if node.tag == "main" || node.attributes["role"]?.lowercased() == "main" || node.attributes["itemprop"] == "articleBody" {
                holdsMain[index] = true
            }
            if node.tag == "p" { paragraphText[index] = allText[index] }
            if node.parent >= 0 {
                allText[node.parent] += allText[index]
                paragraphText[node.parent] += paragraphText[index]
                if holdsMain[index] { holdsMain[node.parent] = true }
            }
        }
        holdsNamedContent = Array(repeating: false, count: count)
        let half = document.root >= 0 ? allText[document.root] / 2 : Int.max
        for index in stride(from: count - 1, through: 0, by: -1) {
            if hints[index].positive, !hints[index].unlikely, !hints[index].negative, allText[index] >= half, allText[index] > 0 {
                holdsNamedContent[index] = true
            }
            let parent = nodes[index].parent
            if parent >= 0, holdsNamedContent[index] { holdsNamedContent[parent] = true }
        }
        var hidden = 0
        var insideHidden = Array(repeating: false, count: count)
        for index in 0..<count {
            let parentHidden = nodes[index].parent >= 0 && insideHidden[nodes[index].parent]
            insideHidden[index] = parentHidden || nodes[index].isHidden
            if nodes[index].isHidden, !parentHidden { hidden += allText[index] }
        }
        if document.root >= 0, allText[document.root] > 0 { hiddenShare = Double(hidden) / Double(allText[document.root]) }
    }

    /// Whether a subtree that a tag, a role, a class or `hidden` marks as boilerplate is in fact where the page's
    /// content is: it holds the page's `<main>` (or `role=main`, `itemprop=articleBody`), or most of its text.
    /// Broken markup does this: an `aside` or `header` left open swallows the rest of the page.
    func holdsContent(_ index: Int, share: Double?) -> Bool {
        if holdsMain[index], nodes[index].tag != "main", nodes[index].attributes["role"]?.lowercased() != "main" { return true }
        guard let share, document.root >= 0, allText[document.root] > 0 else { return false }
        return Double(allText[index]) > share * Double(allText[document.root])
    }

    /// Page chrome that never holds most of a page's text unless broken markup left it open: an `aside` or a
    /// `role=complementary` block may (comments often outweigh the article), so they count on `<main>` alone.
    static let chromeTags: Set<String> = ["header", "footer", "nav"]

    /// Attempts with fewer class-name rules until one finds enough text (as Readability retries): page builders and
    /// content systems put words like "widget" or "share" on the wrappers of the article itself. When all of them
    /// find next to nothing, later attempts keep boilerplate tags and then hidden elements, and the last resort is
    /// the page's whole text: a page with visible text never comes out empty.
    mutating func run() -> Extraction {
        let metadata = readMetadata()
        guard document.root >= 0 else {
            return Extraction(title: metadata["title"] ?? document.title, text: "", markdown: "", links: [], metadata: metadata)
        }
        var best: Renderer?
        var bestText = ""
        var bestLength = -1
        readStructure()
        var prose: Int?  // found only when the first attempt's text is short enough to ask
        for attempt in 0..<5 {
            // Attempts 1 and 2 run when the first found little, 3 when all found next to nothing. Hidden elements count
            // when nothing else is there, or when they hold most of the page's text and what is visible is short (a
            // page whose server rendering parks the article in hidden placeholders for a script to move into place).
            // A page with a long visible article and more hidden (menus, a second copy, other stories) keeps the first.
            let hiddenHeavy = hiddenShare > 0.6 && bestLength < 500
            // The first attempt also missed the page's prose when it found a short text and most of the paragraph text
            // outside comment threads lies elsewhere (an article built from blocks named like boilerplate: product
            // widgets).
            var missedProse = false
            if (1...2).contains(attempt), (500..<2000).contains(bestLength) {
                if prose == nil { prose = proseOutsideComments() }
                missedProse = Double(prose!) > 3 * Double(bestLength)
            }
            if (1...2).contains(attempt), bestLength >= 500, !missedProse {
                if hiddenHeavy { continue } else { break }
            }
            // A looser attempt run only for the missed prose must keep what the first found, and add to it.
            let extendsOnly = (1...2).contains(attempt) && bestLength >= 500
            if attempt == 3, bestLength >= Self.nearlyEmpty {
                if hiddenHeavy { continue } else { break }
            }
            if attempt == 4, bestLength >= Self.nearlyEmpty, !hiddenHeavy { break }
            stripUnlikely = attempt == 0
            stripComments = extendsOnly
            weighClasses = attempt < 2
            stripTags = attempt < 3
            stripHidden = attempt < 4
            measure()
            let chosen = choose()
            var renderer = Renderer(document: document, excluded: excluded, textLength: textLength, linkLength: linkLength)
            renderer.title = metadata["title"] ?? document.title
            renderer.furniture = hints.map(\.furniture)
            for index in chosen { renderer.render(index) }
            renderer.finish()
            let text = renderer.plainText()
            let length = text.unicodeScalars.count
            // A looser attempt wins only when it finds much more: on a short article it would mostly add boilerplate.
            if best == nil || Double(length) > Double(bestLength) * 1.5, !extendsOnly || text.contains(bestText.prefix(200)) {
                best = renderer
                bestText = text
                bestLength = length
            }
        }
        if bestLength < Self.nearlyEmpty, let whole = wholeText(), whole.renderedLength > bestLength {
            best = whole.renderer
            bestText = whole.text
            bestLength = whole.renderedLength
        }
        var text = bestText
        var markdown = best?.markdown() ?? ""
        if let body = articleBodyFromJSONLD(), body.unicodeScalars.count > text.unicodeScalars.count * 2 || text.unicodeScalars.count < 200, body.unicodeScalars.count > 200 {
            text = body
            markdown = body
        }
        let title = metadata["title"] ?? document.title
        var meta = metadata
        meta.removeValue(forKey: "title")
        return Extraction(title: title, text: text, markdown: markdown, links: best?.links ?? [], metadata: meta)
    }

    /// The page's paragraph text (letters in `<p>`) outside comment threads (elements named for comments, replies or
    /// responses, and what they hold).
    func proseOutsideComments() -> Int {
        guard document.root >= 0 else { return 0 }
        // Nodes come parents first: one pass marks what lies in a thread, and counts each thread's top once.
        var inThread = [Bool](repeating: false, count: nodes.count)
        var inComments = 0
        for index in nodes.indices where !nodes[index].isText {
            let parent = nodes[index].parent
            if parent >= 0, inThread[parent] {
                inThread[index] = true
                continue
            }
            if hints[index].comment {
                inThread[index] = true
                inComments += paragraphText[index]
            }
        }
        return paragraphText[document.root] - inComments
    }

    static let commentWords = ["comment", "disqus", "repl", "respon", "remark", "discussion"]

    /// Below this many characters an extraction counts as empty and the looser attempts run.
    static let nearlyEmpty = 50

    /// The last resort: the body's text with only hidden elements and nothing else removed, or with them when that is
    /// all there is.
    mutating func wholeText() -> (renderer: Renderer, text: String, renderedLength: Int)? {
        guard let body = nodes.indices.first(where: { nodes[$0].tag == "body" }) ?? (document.root >= 0 ? document.root : nil) else { return nil }
        for keepHidden in [false, true] {
            stripUnlikely = false
            weighClasses = false
            stripTags = false
            stripHidden = !keepHidden
            measure()
            var renderer = Renderer(document: document, excluded: excluded, textLength: textLength, linkLength: linkLength)
            renderer.title = document.title
            renderer.dropsFurniture = false
            renderer.render(body)
            renderer.finish()
            let text = renderer.plainText()
            if !text.isEmpty { return (renderer, text, text.unicodeScalars.count) }
        }
        return nil
    }

    /// Text and link lengths and commas for every subtree, and which subtrees are boilerplate.
    mutating func measure() {
        let count = nodes.count
        textLength = Array(repeating: 0, count: count)
        linkLength = Array(repeating: 0, count: count)
        commas = Array(repeating: 0, count: count)
        excluded = Array(repeating: false, count: count)
        score = Array(repeating: 0, count: count)
        scored = Array(repeating: false, count: count)
        if hints.count != count { readHints() }
        for index in 0..<count where !nodes[index].isText {
            let node = nodes[index]
            let parentExcluded = node.parent >= 0 && excluded[node.parent]
            excluded[index] = parentExcluded || isBoilerplate(index)
        }
        for index in stride(from: count - 1, through: 0, by: -1) {
            let node = nodes[index]
            if node.isText {
                textLength[index] = node.letters
                commas[index] = node.commas
            } else if node.tag == "a" {
                linkLength[index] = textLength[index]
            }
            if node.parent >= 0, !(excluded[index] && !excluded[node.parent]) {
                textLength[node.parent] += textLength[index]
                linkLength[node.parent] += linkLength[index]
                commas[node.parent] += commas[index]
            }
        }
    }

    func isBoilerplate(_ index: Int) -> Bool {
        let node = nodes[index]
        if node.isHidden { return stripHidden }
        if node.flags.contains(.removed) || node.attributes["role"].map({ Self.removedRoles.contains($0.lowercased()) }) == true {
            // A header inside an article that carries paragraphs is the article's opening, not the site's masthead.
            if node.tag == "header", paragraphText[index] >= 300 { return false }
            return stripTags && !holdsContent(index, share: Self.chromeTags.contains(node.tag) ? 0.5 : nil)
        }
        if stripComments, hints[index].comment, !node.flags.contains(.classProof) {
            return true
        }
        if !stripUnlikely || node.flags.contains(.classProof) { return false }
        return hints[index].unlikely && !hints[index].likely && node.attributes["itemprop"] != "articleBody" && !holdsContent(index, share: nil)
            && !holdsNamedContent[index]
    }

    func linkDensity(_ index: Int) -> Double {
        textLength[index] == 0 ? 0 : Double(linkLength[index]) / Double(textLength[index])
    }

    func classWeight(_ index: Int) -> Double {
        guard weighClasses else { return 0 }
        let node = nodes[index]
        var weight = 0.0
        if hints[index].negative { weight -= 25 }
        if hints[index].positive { weight += 25 }
        if node.attributes["itemprop"] == "articleBody" { weight += 50 }
        if node.tag == "article" || node.tag == "main" || node.attributes["role"] == "main" { weight += 10 }
        return weight
    }

    mutating func initialize(_ index: Int) {
        guard !scored[index] else { return }
        scored[index] = true
        let node = nodes[index]
        var base = 0.0
        switch node.tag {
        case "div", "article", "main", "section": base = 5
        case "pre", "td", "blockquote": base = 3
        case "address", "ol", "ul", "dl", "dd", "dt", "li", "form": base = -3
        case "h1", "h2", "h3", "h4", "h5", "h6", "th": base = -5
        default: break
        }
        score[index] = base + classWeight(index)
    }

    /// Whether a node is a paragraph to score: a `p`-like element, or a container holding text but no blocks.
    func isParagraph(_ index: Int) -> Bool {
        let node = nodes[index]
        switch node.tag {
        case "p", "pre", "blockquote", "td", "dd": return true
        case "div", "section", "span", "font", "center":
            // Text with <br> line breaks is still one paragraph-like block.
            return !nodes.children(of: index).contains { nodes[$0].tag != "br" && nodes[$0].flags.contains(.block) }
                && nodes.children(of: index).contains { nodes[$0].isText && textLength[$0] > 0 }
        default: return false
        }
    }

    /// Whether `parent`'s text beyond `child`'s is more of the same article: mostly paragraphs, few links, and held by
    /// siblings built like `child` (the same tag and first class: the repeated blocks of a page builder) or by bare
    /// content elements. A comment thread or a list of teasers beside an article is built differently, or says what
    /// it is in its class names.
    func continuesArticle(_ parent: Int, from child: Int) -> Bool {
        let extra = textLength[parent] - textLength[child]
        guard extra > 0 else { return true }
        let extraParagraphs = paragraphLetters[parent] - paragraphLetters[child]
        let extraLinks = linkLength[parent] - linkLength[child]
        guard Double(extraParagraphs) >= 0.7 * Double(extra), Double(extraLinks) <= 0.2 * Double(extra) else { return false }
        let kind = Self.firstClass(nodes[child].classAndID)
        var alike = 0
        for sibling in nodes.children(of: parent) where sibling != child && !excluded[sibling] {
            let node = nodes[sibling]
            if hints[sibling].negative || hints[sibling].unlikely { continue }
            if node.isText || Self.contentTags.contains(node.tag) || node.tag == nodes[child].tag && Self.firstClass(node.classAndID) == kind {
                alike += textLength[sibling]
            }
        }
        return Double(alike) >= 0.8 * Double(extra)
    }

    /// Elements that are article content wherever they stand.
    static let contentTags: Set<String> = ["p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "dl", "blockquote", "pre", "figure", "table", "hr", "br", "img", "picture"]

    /// The first class name (or the id when there is no class) of a `classAndID`.
    static func firstClass(_ classAndID: String) -> Substring {
        classAndID.split(separator: " ", maxSplits: 1).first ?? ""
    }

    /// The node indices to render: the best container and its content-like siblings.
    mutating func choose() -> [Int] {
        // Which nodes are paragraphs is asked twice below (scoring and the climb's letters): found once.
        var paragraph = Array(repeating: false, count: nodes.count)
        paragraphLetters = Array(repeating: 0, count: nodes.count)
        for index in stride(from: nodes.count - 1, through: 0, by: -1) {
            if !nodes[index].isText, !excluded[index], isParagraph(index) {
                paragraph[index] = true
                if textLength[index] >= 25 { paragraphLetters[index] = textLength[index] }
            }
            let parent = nodes[index].parent
            if parent >= 0, !excluded[index] { paragraphLetters[parent] += paragraphLetters[index] }
        }
        for index in nodes.indices where !excluded[index] && !nodes[index].isText {
            var length: Int
            var marks: Int
            var ancestor: Int
            if paragraph[index] {
                (length, marks, ancestor) = (textLength[index], commas[index], nodes[index].parent)
            } else {
                // Text written straight into a container between its blocks is a paragraph of that container.
                length = 0
                marks = 0
                for child in nodes.children(of: index) where !excluded[child] && !nodes[child].flags.contains(.block) {
                    length += textLength[child]
                    marks += commas[child]
                }
                ancestor = index
                if length < 25 || nodes[index].tag == "body" || nodes[index].tag == "a" { continue }
            }
            guard length >= 25 else { continue }
            let points = 1 + Double(marks) + min(Double(length / 100), 3)
            var level = 0
            while ancestor >= 0, level < 5 {
                initialize(ancestor)
                let divider = level == 0 ? 1 : level == 1 ? 2 : Double(level) * 3
                score[ancestor] += points / divider
                ancestor = nodes[ancestor].parent
                level += 1
            }
        }
        var best = -1
        var bestScore = -Double.infinity
        for index in nodes.indices where scored[index] && !excluded[index] {
            let adjusted = score[index] * (1 - linkDensity(index))
            score[index] = adjusted
            if adjusted > bestScore {
                best = index
                bestScore = adjusted
            }
        }
        guard best >= 0 else { return [document.root] }
        // A container holding the best one whose text is hardly larger is the better choice (wrapper divs). So is one
        // whose extra text is paragraphs with few links: an article split into sibling blocks (a page builder's
        // sections, each with its own wrappers) has its paragraphs spread under a common ancestor.
        var top = best
        while nodes[top].parent >= 0 {
            let parent = nodes[top].parent
            if excluded[parent] || nodes[parent].tag == "body" || nodes[parent].tag == "html" { break }
            let wrapper = Double(textLength[parent]) * (1 - linkDensity(parent)) <= Double(textLength[top]) * 1.35
                && !(scored[parent] && score[parent] < bestScore * 0.6)
            if wrapper || continuesArticle(parent, from: top) {
                top = parent
            } else {
                break
            }
        }
        guard nodes[top].parent >= 0 else { return [top] }
        let threshold = max(10, bestScore * 0.3)
        var chosen: [Int] = []
        for sibling in nodes.children(of: nodes[top].parent) {
            if sibling == top {
                chosen.append(sibling)
                continue
            }
            guard !excluded[sibling], !nodes[sibling].isText else { continue }
            var bonus = 0.0
            if !nodes[top].classAndID.isEmpty, nodes[sibling].classAndID == nodes[top].classAndID {
                bonus = bestScore * 0.2
            }
            let length = textLength[sibling]
            let density = linkDensity(sibling)
            if scored[sibling], score[sibling] + bonus >= threshold {
                chosen.append(sibling)
            } else if nodes[sibling].tag == "p" {
                if length > 80, density < 0.25 { chosen.append(sibling) }
            }
        }
        return chosen
    }

    /// What the page says about itself, each field from the most specific source that has it: JSON-LD (schema.org
    /// `Article` and kin), then Open Graph and `article:` properties, then other meta tags, then the visible page
    /// (`<time>`, `itemprop`, `rel=author`, a byline). Keys: `title`, `author` (several joined with ", "),
    /// `published`, `modified`, `site_name`, `language`, `canonical`, `url`, `description`, `image` (absolute URLs).
    mutating func readMetadata() -> [String: String] {
        var result: [String: String] = [:]
        func set(_ key: String, _ value: String?) {
            guard result[key] == nil, let value = value?.trimmingSpace, !value.isEmpty else { return }
            result[key] = value
        }
        // JSON-LD first: the most deliberate statement a page makes about itself. Articles before other objects.
        let objects = jsonLD.flatMap(Self.objects(in:)).sorted { Self.isArticle($0) && !Self.isArticle($1) }
        var headline: String?
        for object in objects {
            let article = Self.isArticle(object)
            if article || object["author"] != nil, let author = object["author"] {
                let names = Self.names(in: author)
                set("author", names.isEmpty ? nil : names.joined(separator: ", "))
            }
            if article {
                // Open Graph's title comes first: it is what the page shows as its title (a headline may be shortened).
                headline = headline ?? object["headline"] as? String
                set("published", object["datePublished"] as? String)
                set("modified", object["dateModified"] as? String)
                set("description", object["description"] as? String)
                set("image", Self.imageURL(in: object["image"]).map(document.absolute))
                if let publisher = object["publisher"] { set("site_name", Self.names(in: publisher).first) }
                set("language", object["inLanguage"] as? String)
            } else if (object["@type"] as? String) == "WebSite" {
                set("site_name", object["name"] as? String)
            }
        }
        for meta in document.metas {
            let name = (meta["property"] ?? meta["name"] ?? meta["itemprop"] ?? "").lowercased()
            let content = meta["content"]
            switch name {
            case "og:title", "twitter:title": set("title", content)
            case "og:site_name", "application-name": set("site_name", content)
            case "author", "article:author", "parsely-author", "dc.creator", "sailthru.author", "byl":
                // article:author is often a profile URL rather than a name.
                if let content, !content.hasPrefix("http") { set("author", content.hasPrefix("By ") ? String(content.dropFirst(3)) : content) }
            case "article:published_time", "datepublished", "date", "dc.date", "dc.date.issued", "parsely-pub-date", "publish-date", "pubdate", "sailthru.date":
                set("published", content)
            case "article:modified_time", "og:updated_time", "datemodified", "last-modified", "dc.date.modified":
                set("modified", content)
            case "description", "og:description", "twitter:description", "dc.description": set("description", content)
            case "og:image", "og:image:url", "og:image:secure_url", "twitter:image", "twitter:image:src", "thumbnailurl":
                set("image", content.map(document.absolute))
            case "og:url": set("url", content.map(document.absolute))
            case "og:locale": set("locale", content)
            case "language", "dc.language": set("language", content)
            default:
                if meta["http-equiv"]?.lowercased() == "content-language" { set("language", content) }
            }
        }
        for link in document.linkTags {
            let relations = link["rel"]?.lowercased().split(separator: " ") ?? []
            if relations.contains("canonical") { set("canonical", link["href"].map(document.absolute)) }
            if relations.contains("image_src") { set("image", link["href"].map(document.absolute)) }
        }
        set("title", headline)
        set("language", document.language)
        if let locale = result.removeValue(forKey: "locale") { set("language", locale.replacingOccurrences(of: "_", with: "-")) }
        readVisibleMetadata(into: &result)
        if result["title"] == nil, document.title.isEmpty, let heading = nodes.indices.first(where: { nodes[$0].tag == "h1" }) {
            set("title", visibleText(heading, limit: 300))
        }
        return result
    }

    /// Dates, authors and the lead image from the page itself, for what the head did not say.
    func readVisibleMetadata(into result: inout [String: String]) {
        func set(_ key: String, _ value: String?) {
            guard result[key] == nil, let value = value?.trimmingSpace, !value.isEmpty else { return }
            result[key] = value
        }
        var bylines: [String] = []
        // Most nodes carry none of the attributes looked at here: the scan skips them after one count.
        let wantsAuthor = result["author"] == nil
        if wantsAuthor || result["published"] == nil || result["modified"] == nil {
            for index in nodes.indices where !nodes[index].attributes.isEmpty {
                let node = nodes[index]
                if let itemprop = node.attributes["itemprop"] {
                    if itemprop.caseInsensitiveEquals("datePublished") {
                        set("published", node.attributes["datetime"] ?? node.attributes["content"] ?? visibleText(index, limit: 60))
                    } else if itemprop.caseInsensitiveEquals("dateModified") {
                        set("modified", node.attributes["datetime"] ?? node.attributes["content"] ?? visibleText(index, limit: 60))
                    } else if wantsAuthor, itemprop.caseInsensitiveEquals("author") {
                        // The name is the element's text, or that of its itemprop=name child.
                        let named = nodes.children(of: index).first { nodes[$0].attributes["itemprop"]?.caseInsensitiveEquals("name") == true }
                        if let name = visibleText(named ?? index, limit: 80) { bylines.append(name) }
                    }
                }
                if node.tag == "time", let stamp = node.attributes["datetime"] {
                    set("published", stamp)
                }
                if wantsAuthor, node.tag == "a", let rel = node.attributes["rel"], rel.lowercased().split(separator: " ").contains("author"),
                    let name = visibleText(index, limit: 80)
                {
                    bylines.append(name)
                }
            }
        }
        if result["author"] == nil, bylines.isEmpty {
            // A short block whose class or id says byline (or author), as in "By Ada Writer".
            for index in nodes.indices where !nodes[index].isText && Self.isBylineName(nodes[index].classAndID) {
                if let text = visibleText(index, limit: 80), let name = Self.byline(text) {
                    bylines.append(name)
                    break
                }
            }
        }
        var unique: [String] = []
        for name in bylines.map(Self.byline).compactMap({ $0 }) where !unique.contains(name) { unique.append(name) }
        if !unique.isEmpty { set("author", unique.joined(separator: ", ")) }
        if result["image"] == nil {
            // The first sizeable image inside the page's article or main, if it has one.
            let scope = nodes.indices.first { nodes[$0].tag == "article" || nodes[$0].tag == "main" }
            var index = scope ?? -1
            let end = scope.map { lastDescendant(of: $0) } ?? -1
            while index >= 0, index <= end {
                if nodes[index].tag == "img", let source = nodes[index].attributes["src"], !source.hasPrefix("data:") {
                    set("image", document.absolute(source))
                    break
                }
                index += 1
            }
        }
    }

    static func isBylineName(_ classAndID: String) -> Bool {
        // classAndID is lowercased already.
        !classAndID.isEmpty && matches(classAndID, ["byline", "author-name", "article-author"])
    }

    /// A byline's name: "By Ada Writer" and "by Ada Writer and Bo Reporter" lose their "By"; a line too long for a
    /// name (a sentence) is not one.
    static func byline(_ text: String) -> String? {
        var name = text.trimmingSpace
        for prefix in ["By ", "by ", "BY ", "Von ", "von ", "Par ", "par ", "Por ", "por ", "Door ", "door "] where name.hasPrefix(prefix) {
            name = String(name.dropFirst(prefix.count)).trimmingSpace
            break
        }
        guard !name.isEmpty, name.unicodeScalars.count <= 80, name.split(separator: " ").count <= 8, !name.contains("http") else { return nil }
        return name
    }

    /// The last node inside `index`'s subtree (nodes are stored in document order).
    func lastDescendant(of index: Int) -> Int {
        var last = index
        var current = index
        while true {
            var child = nodes[current].firstChild
            var lastChild = -1
            while child >= 0 {
                lastChild = child
                child = nodes[child].nextSibling
            }
            guard lastChild >= 0 else { return last }
            last = lastChild
            current = lastChild
        }
    }

    /// The text under a node, spaces collapsed, or nil when it is empty or longer than `limit` characters.
    func visibleText(_ index: Int, limit: Int) -> String? {
        var text = ""
        var stack = [index]
        while let current = stack.popLast() {
            if nodes[current].isText {
                text += document.text(current)
                if text.utf8.count > limit * 4 { return nil }
            } else if !nodes[current].isHidden {
                stack.append(contentsOf: Array(nodes.children(of: current)).reversed())
            }
        }
        let collapsed = Renderer.collapse(text)
        guard !collapsed.isEmpty, collapsed.unicodeScalars.count <= limit else { return nil }
        return collapsed
    }

    /// Whether a JSON-LD object is an article of some kind (`Article`, `NewsArticle`, `BlogPosting`, `Report`…).
    static func isArticle(_ object: [String: Any]) -> Bool {
        let types = (object["@type"] as? [Any])?.compactMap { $0 as? String } ?? [(object["@type"] as? String) ?? ""]
        return types.contains { $0.hasSuffix("Article") || $0 == "BlogPosting" || $0 == "Report" }
    }

    /// The names in a JSON-LD author or publisher: a string, an object with `name`, or a list of either.
    static func names(in value: Any) -> [String] {
        if let name = value as? String { return name.hasPrefix("http") ? [] : [name] }
        if let list = value as? [Any] { return list.flatMap { names(in: $0) } }
        if let object = value as? [String: Any], let name = object["name"] { return names(in: name) }
        return []
    }

    /// The URL of a JSON-LD image: a string, an `ImageObject` (`url` or `contentUrl`), or the first of a list.
    static func imageURL(in value: Any?) -> String? {
        if let url = value as? String { return url }
        if let list = value as? [Any] { return list.lazy.compactMap { imageURL(in: $0) }.first }
        if let object = value as? [String: Any] { return (object["url"] ?? object["contentUrl"]).flatMap { imageURL(in: $0) } }
        return nil
    }

    /// The `articleBody` of the page's JSON-LD, when it has one.
    mutating func articleBodyFromJSONLD() -> String? {
        for json in jsonLD {
            for object in Self.objects(in: json) {
                if let body = object["articleBody"] as? String { return body.trimmingSpace }
            }
        }
        return nil
    }

    /// Parses a JSON-LD script. Pages often put raw line breaks and tabs inside its strings, which JSON forbids; as
    /// whitespace between tokens they mean nothing, so they become spaces. A wrapping CDATA or HTML comment goes too.
    static func parseJSONLD(_ script: String) -> Any? {
        var text = script.trimmingSpace
        for (open, close) in [("<![CDATA[", "]]>"), ("<!--", "-->")] where text.hasPrefix(open) && text.hasSuffix(close) {
            text = String(text.dropFirst(open.count).dropLast(close.count))
        }
        return try? JSONSerialization.jsonObject(with: Data(text.utf8.map { $0 < 0x20 ? 0x20 : $0 }))
    }

    /// Every JSON object in a JSON-LD value, `@graph` included.
    static func objects(in value: Any) -> [[String: Any]] {
        if let array = value as? [Any] { return array.flatMap { objects(in: $0) } }
        guard let object = value as? [String: Any] else { return [] }
        return [object] + (object["@graph"].map { objects(in: $0) } ?? [])
    }
}


extension String {
    /// ASCII case-insensitive equality, without making lowercased copies.
    func caseInsensitiveEquals(_ other: String) -> Bool {
        guard utf8.count == other.utf8.count else { return false }
        return zip(utf8, other.utf8).allSatisfy { a, b in a == b || a | 0x20 == b | 0x20 && (a | 0x20) >= 0x61 && (a | 0x20) <= 0x7A }
    }
}
