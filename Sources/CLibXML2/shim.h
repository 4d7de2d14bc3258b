#ifndef ERRAND_CLIBXML2_SHIM_H
#define ERRAND_CLIBXML2_SHIM_H

// Debian builds libxml2 with ICU, whose headers clash with the ICU inside Foundation. Nothing here touches the
// encoding-handler structs whose layout the macro changes, so the ICU parts are left out of the import.
#include <libxml/xmlversion.h>
#undef LIBXML_ICU_ENABLED
#include <libxml/HTMLparser.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <libxml/xmlerror.h>

/// xmlFree is a global function-pointer variable, which Swift 6 rejects as not concurrency-safe.
static inline void errand_xml_free(void *pointer) { xmlFree(pointer); }

/// Keeps XPath errors off stderr: the caller reports a failed expression itself.
static void errand_xpath_silence(void *user, xmlErrorPtr error) { (void)user; (void)error; }
static inline void errand_xpath_quiet(xmlXPathContextPtr context) { context->error = errand_xpath_silence; }

/// Parser options for untrusted HTML: recover from errors, report nothing, never touch the network.
static inline int errand_html_options(void) {
    return HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING | HTML_PARSE_NONET | HTML_PARSE_COMPACT;
}

#endif
