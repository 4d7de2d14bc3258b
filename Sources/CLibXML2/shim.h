#ifndef ERRAND_CLIBXML2_SHIM_H
#define ERRAND_CLIBXML2_SHIM_H

// Debian builds libxml2 with ICU, whose headers clash with the ICU inside Foundation. Nothing here touches the
// encoding-handler structs whose layout the macro changes, so the ICU parts are left out of the import.
#include <libxml/xmlversion.h>
#undef LIBXML_ICU_ENABLED
#include <libxml/HTMLparser.h>
#include <libxml/HTMLtree.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <libxml/xmlerror.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/// xmlFree is a global function-pointer variable, which Swift 6 rejects as not concurrency-safe.
static inline void errand_xml_free(void *pointer) { xmlFree(pointer); }

/// Keeps XPath errors off stderr: the caller reports a failed expression itself.
static void errand_xpath_silence(void *user, xmlErrorPtr error) { (void)user; (void)error; }
static inline void errand_xpath_quiet(xmlXPathContextPtr context) { context->error = errand_xpath_silence; }

/// Parser options for untrusted HTML: recover from errors, report nothing, never touch the network, and read the page
/// in the encoding errand names (found from the HTTP header, the page's `<meta>` and its BOM, or UTF-8 when errand
/// decoded it), never switching on a later `<meta charset>` of its own.
static inline int errand_html_options(void) {
    return HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING | HTML_PARSE_NONET | HTML_PARSE_COMPACT | HTML_PARSE_IGNORE_ENC;
}

/// libxml2's HTML tokenizer and tree-building rules with every SAX callback empty: nothing is built. The floor under
/// any tree errand could make from a page (benchmarks only).
static inline int errand_sax_parse_only(const char *buffer, int size, const char *encoding) {
    htmlParserCtxtPtr context = htmlCreateMemoryParserCtxt(buffer, size);
    if (context == NULL) return 0;
    memset(context->sax, 0, sizeof(htmlSAXHandler));
    if (encoding != NULL) {
        xmlCharEncodingHandlerPtr handler = xmlFindCharEncodingHandler(encoding);
        if (handler != NULL) xmlSwitchToEncoding(context, handler);
    }
    htmlCtxtUseOptions(context, errand_html_options());
    htmlParseDocument(context);
    if (context->myDoc != NULL) xmlFreeDoc(context->myDoc);
    htmlFreeParserCtxt(context);
    return 1;
}

/// Parses a page with `handler`'s callbacks (given the parser context, whose `_private` is `user`) instead of building a tree: the steps of
/// libxml2's own htmlReadMemory (2.9: an XML memory context, the SAX1-sized handler copied in, htmlDoRead's options,
/// encoding and URL), so that the events are exactly those its tree builder gets.
static inline int errand_sax_parse(const char *buffer, int size, const char *encoding, const char *url,
                                   const htmlSAXHandler *handler, void *user) {
#if LIBXML_VERSION >= 21000
    /* Not used there (errand_sax_reading_supported): the parser's internals it mirrors changed. */
    (void)buffer; (void)size; (void)encoding; (void)url; (void)handler; (void)user;
    return 0;
#else
    xmlParserCtxtPtr context = xmlCreateMemoryParserCtxt(buffer, size);
    if (context == NULL) return 0;
    if (context->sax != NULL) memcpy(context->sax, handler, sizeof(xmlSAXHandlerV1));
    context->_private = user;
    htmlCtxtUseOptions(context, errand_html_options());
    context->html = 1;
    if (encoding != NULL) {
        xmlCharEncodingHandlerPtr encoder = xmlFindCharEncodingHandler(encoding);
        if (encoder != NULL) {
            xmlSwitchToEncoding(context, encoder);
            if (context->input->encoding != NULL) xmlFree((xmlChar *) context->input->encoding);
            context->input->encoding = xmlStrdup((const xmlChar *) encoding);
        }
    }
    if ((url != NULL) && (context->input != NULL) && (context->input->filename == NULL))
        context->input->filename = (char *) xmlStrdup((const xmlChar *) url);
    htmlParseDocument(context);
    if (context->myDoc != NULL) {
        xmlFreeDoc(context->myDoc);
        context->myDoc = NULL;
    }
    xmlFreeParserCtxt(context);
    return 1;
#endif
}

/// Whether errand_sax_parse reproduces this libxml2's own reading: it mirrors 2.9's htmlReadMemory and tree builder,
/// checked node for node there; other versions read pages through the DOM.
static inline int errand_sax_reading_supported(void) {
    return LIBXML_VERSION >= 20900 && LIBXML_VERSION < 21000;
}

/// The deepest libxml2's tree builder nests elements (xmlParserMaxDepth, 256): past it, it stops the parse.
static inline unsigned int errand_max_depth(void) {
#if LIBXML_VERSION >= 21000
    return 256;
#else
    return xmlParserMaxDepth;
#endif
}

/// What libxml2 says while it parses a page. HTML_PARSE_NOERROR silences the parser's own errors, but libxml2 2.9
/// still reports encoding and I/O errors through its generic error function, which prints to stderr: that function is
/// pointed here, at a buffer of the page, for each parse (it is per thread).
typedef struct {
    char text[2048];
    size_t used;
    int count;
} errand_parse_messages;

static void errand_collect_message(void *context, const char *message, ...) {
    errand_parse_messages *messages = (errand_parse_messages *)context;
    if (messages == NULL || message == NULL) return;
    messages->count++;
    if (messages->used + 1 >= sizeof(messages->text)) return;
    va_list arguments;
    va_start(arguments, message);
    int written = vsnprintf(messages->text + messages->used, sizeof(messages->text) - messages->used, message, arguments);
    va_end(arguments);
    if (written > 0) {
        messages->used += (size_t)written;
        if (messages->used >= sizeof(messages->text)) messages->used = sizeof(messages->text) - 1;
    }
}

static void errand_drop_message(void *context, const char *message, ...) { (void)context; (void)message; }

/// Sends this thread's libxml2 messages to `messages` until `errand_end_parser_messages`.
static inline void errand_begin_parser_messages(errand_parse_messages *messages) {
    xmlSetGenericErrorFunc(messages, errand_collect_message);
}

/// Drops this thread's libxml2 messages from now on (never stderr).
static inline void errand_end_parser_messages(void) {
    xmlSetGenericErrorFunc(NULL, errand_drop_message);
}

#endif
