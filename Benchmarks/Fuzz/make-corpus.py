#!/usr/bin/env python3
"""Writes the seed corpora (corpus/<target>/) from the repository's tests, agents/, tools/ and a few pages of
/work/shared/extraction-dev (or EXTRACTION_DEV). Run from anywhere; it replaces the seed folders it writes."""
import gzip, hashlib, json, os, re, shutil, sys

here = os.path.dirname(os.path.abspath(__file__))
repo = os.path.abspath(os.path.join(here, "..", ".."))
corpus = os.path.join(here, "corpus")
pages = os.environ.get("EXTRACTION_DEV", "/work/shared/extraction-dev") + "/html"

def read(path):
    with open(os.path.join(repo, path), "rb") as f:
        return f.read()

def swift_strings(path):
    """The raw string literals #"…"# of a Swift test file, and its plain "…" literals, unescaped."""
    text = read(path).decode()
    found = [m.group(1) for m in re.finditer(r'#"(.*?)"#', text)]
    for m in re.finditer(r'(?<![#\\])"((?:[^"\\\n]|\\.)*)"', text):
        try:
            found.append(json.loads('"' + re.sub(r"\\u\{([0-9A-Fa-f]{1,4})\}", lambda u: "\\u" + u.group(1).rjust(4, "0"), m.group(1)) + '"'))
        except Exception:
            pass
    return found

def write(target, seeds):
    folder = os.path.join(corpus, target)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    seen = set()
    for seed in seeds:
        data = seed.encode() if isinstance(seed, str) else seed
        digest = hashlib.sha1(data).hexdigest()
        if digest in seen:
            continue
        seen.add(digest)
        with open(os.path.join(folder, digest), "wb") as f:
            f.write(data)
    print(f"{target}: {len(seen)} seeds, {sum(os.path.getsize(os.path.join(folder, n)) for n in os.listdir(folder))} bytes")

# The stream fixture: one JSON event per line.
events = [line for line in read("Tests/ResponsesAPITests/Fixtures/stream-events.jsonl").decode().splitlines() if line.strip()]
def sse(lines, end="\n", named=True):
    out = []
    for line in lines:
        kind = json.loads(line).get("type", "") if line.startswith("{") else ""
        out.append((f"event: {kind}{end}" if named and kind else "") + f"data: {line}{end}{end}")
    return "".join(out)

# SSE: the parser tests' inputs and the fixture as streams, each behind two chunking-seed bytes.
sse_inputs = [s for s in swift_strings("Tests/ResponsesAPITests/SSEParserTests.swift") if ":" in s or "\r" in s or "\n" in s]
sse_inputs += [sse(events[:6]), sse(events[:6], "\r\n"), sse(events[:6], "\r"), "\ufeff" + sse(events[:2]),
               "id: 1\nretry: 10\n: ping\nevent:\ndata\ndata:x\n\n", "data: a\r\n\r\ndata: b\r\rdata: c\n\n"]
seeds = []
for i, text in enumerate(sse_inputs):
    for prefix in (bytes([0, 0]), bytes([i & 0xFF, 7]), bytes([0x5A, 0x0F])):
        seeds.append(prefix + text.encode())
write("fuzz-sse", seeds)

# Events: the whole fixture, halves, each event alone, CRLF, [DONE], chat-style data-only streams.
seeds = [sse(events), sse(events, "\r\n"), sse(events[:len(events) // 2]), sse(events[len(events) // 2:], named=False)]
seeds += [sse([line]) for line in events]
seeds += [sse(events[3:12]) + "data: [DONE]\n\n", "data: " + '{"type":"response.output_text.delta","delta":"hi","output_index":0,"content_index":0}' + "\n\ndata: [DONE]\n\n"]
write("fuzz-events", seeds)

# Specs: agents/*.json with their manifests and workspace pointed at the fuzz target's folder, and the spec tests' JSON.
seeds = []
for name in sorted(os.listdir(os.path.join(repo, "agents"))):
    if name.endswith(".json"):
        text = read("agents/" + name).decode()
        text = re.sub(r'"\.\./tools/([a-z_]+\.json)"', r'"tools/\1"', text).replace('"root": ".."', '"root": "work"')
        text = text.replace("git_log.json", "jq.json")
        seeds.append(text)
seeds += [s for s in swift_strings("Tests/ErrandSpecTests/SpecDecodingTests.swift") if s.lstrip().startswith(("{", "["))]
seeds += ['{"name": "a", "instructions_file": "instructions.md", "tools": [{"manifest": "tools/word_count.json", "idempotent": true}, {"mcp": {"name": "m", "command": ["sh"], "env": {"A": "${FUZZ_VALUE}-${NONE}"}, "cwd": "work"}}], "tool_choice": {"type": "function", "name": "word_count"}}']
write("fuzz-spec", seeds)

# Manifests: tools/*.json and the manifest tests' JSON.
seeds = [read("tools/" + n) for n in sorted(os.listdir(os.path.join(repo, "tools"))) if n.endswith(".json")]
seeds += [s for s in swift_strings("Tests/ErrandSpecTests/CommandToolTests.swift") if s.lstrip().startswith("{") and '"command"' in s]
write("fuzz-manifest", seeds)

# Arguments: schema, 0x00, arguments. Schemas from the manifests and the tests; arguments from ToolArgumentsTests.
strict_read = {"type": "object", "properties": {"path": {"type": "string"}, "offset": {"type": ["integer", "null"]}, "limit": {"type": ["integer", "null"]}}, "required": ["path", "offset", "limit"], "additionalProperties": False}
schemas = [strict_read, {"type": "object", "properties": {}, "additionalProperties": False},
           {"type": "object", "properties": {"items": {"type": "array", "items": {"type": "object", "properties": {"id": {"type": "integer"}, "note": {"anyOf": [{"type": "string"}, {"type": "null"}]}}, "required": ["id", "note"]}}, "mode": {"enum": ["a", "b", None]}}, "required": ["items", "mode"]}]
for n in sorted(os.listdir(os.path.join(repo, "tools"))):
    if n.endswith(".json"):
        params = json.loads(read("tools/" + n)).get("parameters")
        if params:
            schemas.append(params)
arguments = [s for s in swift_strings("Tests/ErrandCoreTests/ToolArgumentsTests.swift") if s.strip().startswith(("{", '"{', "[", "null")) or s.strip() == ""]
arguments += ['{"path": "a", "offset": 1.5, "limit": null, "extra": [1, {"x": true}]}', '"{\\"items\\": [{\\"id\\": 1}], \\"mode\\": \\"c\\"}"']
seeds = []
for i, schema in enumerate(schemas):
    for args in arguments[i % 3::3]:
        seeds.append(json.dumps(schema).encode() + b"\0" + args.encode())
seeds += [a.encode() for a in arguments[:6]]
write("fuzz-arguments", seeds)

# HTML: the extraction tests' pages and a few real pages under 50 KB (smaller ones whole, larger ones cut).
html = [s for f in sorted(os.listdir(os.path.join(repo, "Tests/HTMLExtractTests")))
        for s in swift_strings("Tests/HTMLExtractTests/" + f) if "<" in s and ">" in s and len(s) > 20]
text = "\n".join(read("Tests/HTMLExtractTests/" + f).decode() for f in sorted(os.listdir(os.path.join(repo, "Tests/HTMLExtractTests"))))
html += [m.group(1) for m in re.finditer(r'"""\n(.*?)"""', text, re.S) if "<" in m.group(1)]
seeds = [s.encode() for s in html[:60]]
if os.path.isdir(pages):
    sized = sorted((len(gzip.open(os.path.join(pages, n)).read()), n) for n in sorted(os.listdir(pages)))
    for size, name in sized[:8]:
        seeds.append(gzip.open(os.path.join(pages, name)).read()[:48000])
    for size, name in sized[40:46]:
        seeds.append(gzip.open(os.path.join(pages, name)).read()[:24000])
write("fuzz-html", seeds)
