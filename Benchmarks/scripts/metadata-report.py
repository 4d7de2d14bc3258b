#!/usr/bin/env python3
"""Metadata found by `errand extract --jsonl` on the development corpora: per corpus, how many pages have each field,
and, where the corpus has a truth for it, how often it agrees (title and language from extraction-dev2's readability
pages, canonical URL against each page's URL).
Usage: metadata-report.py GROUND_TRUTH.json EXTRACTED.jsonl [GROUND_TRUTH.json EXTRACTED.jsonl ...]"""
import json, os, sys, re
from urllib.parse import urlsplit

FIELDS = ["title", "author", "published", "modified", "site_name", "language", "canonical", "description", "image"]

def norm_url(u):
    parts = urlsplit(u or "")
    return (parts.netloc.lower().removeprefix("www."), parts.path.rstrip("/"))

def words(t):
    return " ".join(re.findall(r"\w+", (t or "").lower()))

args = sys.argv[1:]
for truth_path, lines_path in zip(args[::2], args[1::2]):
    truth = json.load(open(truth_path))
    rows = [json.loads(l) for l in open(lines_path)]
    have = {f: 0 for f in FIELDS}
    agree = {"title": [0, 0], "language": [0, 0], "canonical": [0, 0]}
    for row in rows:
        page = os.path.basename(row["input"])[: -len(".html")]
        meta = dict(row.get("metadata", {}), title=row.get("title", ""))
        for f in FIELDS:
            have[f] += bool(meta.get(f))
        t = truth.get(page, {})
        if t.get("title"):
            agree["title"][1] += 1
            agree["title"][0] += words(t["title"]) in words(meta.get("title")) or words(meta.get("title")) in words(t["title"]) and bool(meta.get("title"))
        if t.get("lang"):
            agree["language"][1] += 1
            agree["language"][0] += (meta.get("language") or "").lower()[:2] == t["lang"].lower()[:2]
        if meta.get("canonical") and t.get("url"):
            agree["canonical"][1] += 1
            agree["canonical"][0] += norm_url(meta["canonical"]) == norm_url(t["url"])
    print(f"{os.path.dirname(truth_path)}: {len(rows)} pages")
    print("  found: " + ", ".join(f"{f} {have[f]}" for f in FIELDS))
    print("  agrees with the truth: " + ", ".join(f"{k} {a}/{n}" for k, (a, n) in agree.items() if n))
