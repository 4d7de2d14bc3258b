import CLibXML2
import Foundation

/// A node an XPath expression selected, copied out of libxml2 into Swift values.
public struct HTMLNode: Sendable, Hashable {
    /// The element's name (lowercased), an attribute's name, or `#text` / `#comment`.
    public var name: String
    /// An element's attributes.
    public var attributes: [String: String]
    /// The text under the node (an attribute's value for an attribute).
    public var text: String
}

extension HTMLDocument {
    /// Why an XPath expression gave nothing.
    public struct XPathError: Error, CustomStringConvertible, Sendable {
        public var expression: String
        public var description: String { "not a valid XPath expression: \(expression)" }
    }

    /// The nodes `expression` selects (`//article//p`, `//a/@href`, `//meta[@name='author']`…). An expression whose
    /// result is not a node set (`count(//p)`) gives its value as one `#value` node. Script, style and SVG bodies are
    /// not in the document (they are dropped before parsing), so `//script` finds the elements without their text,
    /// JSON-LD aside.
    public func select(_ expression: String) throws(XPathError) -> [HTMLNode] {
        guard let document, let context = xmlXPathNewContext(document) else { return [] }
        defer { xmlXPathFreeContext(context) }
        errand_xpath_quiet(context)
        guard let result = xmlXPathEvalExpression(expression, context) else { throw XPathError(expression: expression) }
        defer { xmlXPathFreeObject(result) }
        switch result.pointee.type {
        case XPATH_NODESET:
            guard let set = result.pointee.nodesetval, set.pointee.nodeNr > 0, let table = set.pointee.nodeTab else { return [] }
            return (0..<Int(set.pointee.nodeNr)).compactMap { table[$0].map(Self.snapshot) }
        default:
            guard let value = xmlXPathCastToString(result) else { return [] }
            defer { errand_xml_free(value) }
            return [HTMLNode(name: "#value", attributes: [:], text: String(cString: value))]
        }
    }

    private static func snapshot(_ node: xmlNodePtr) -> HTMLNode {
        let name: String
        switch node.pointee.type {
        case XML_TEXT_NODE, XML_CDATA_SECTION_NODE: name = "#text"
        case XML_COMMENT_NODE: name = "#comment"
        default: name = node.pointee.name.map { String(cString: $0) } ?? ""
        }
        var attributes: [String: String] = [:]
        if node.pointee.type == XML_ELEMENT_NODE {
            var property = node.pointee.properties
            while let attribute = property {
                if let key = attribute.pointee.name {
                    attributes[String(cString: key)] = attribute.pointee.children?.pointee.content.map { String(cString: $0) } ?? ""
                }
                property = attribute.pointee.next
            }
        }
        var text = ""
        if let content = xmlNodeGetContent(node) {
            text = String(cString: content)
            errand_xml_free(content)
        }
        return HTMLNode(name: name, attributes: attributes, text: text)
    }
}
