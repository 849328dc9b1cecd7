#!/usr/bin/env python3
"""Checks that every relative link resolves, anchors included.

Usage: scripts/linkcheck.py PATH...
  a directory is generated HTML (Doxygen's): every href and src in its *.html
    must name a file inside that directory, and a #fragment an id or <a name>
    in the page it points to;
  a file is Markdown as GitHub renders it: every link and image (inline,
    reference-style or HTML) must name an existing file or directory, and a
    #fragment a heading's GitHub slug or an explicit anchor in the .md it
    points to (#L<n> in any other file: a line that exists).
Links with a scheme (https:, mailto:) are not followed: no network here.
Exits 1 after listing every broken link as file:line: link: why.
scripts/md2doxygen.py shares the Markdown reading below.
"""

import re
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

FENCE = re.compile(r"^ {0,3}(```|~~~).*?^ {0,3}\1[^\n]*$", re.M | re.S)
CODE_SPAN = re.compile(r"(`+)(?!`).*?(?<!`)\1(?!`)", re.S)
# [text](url "title") and ![alt](url); groups: "!" or "", text, url.
INLINE_LINK = re.compile(
    r"(!?)\[((?:[^\[\]]|\[[^\]]*\])*)\]"  # [text], one level of brackets inside
    r"\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)"  # (url "title")
)
REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:[ \t]*<?([^\s>]+)>?", re.M)  # [label]: url
HTML_LINK = re.compile(r"<(?:a|img)\s[^>]*?(?:href|src)=\"([^\"]*)\"")


def external(url):
    parts = urlsplit(url)
    return bool(parts.scheme or parts.netloc)


def blank(pattern, text):
    """The text with what `pattern` matches made spaces, newlines kept, so
    that offsets and line numbers stay those of the original."""
    return pattern.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)


def slug(heading):
    """GitHub's anchor for a heading: the rendered text, lowercased, without
    punctuation other than '-' and '_', spaces made hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link counts as its text
    text = re.sub(r"[`*]|<[^>]+>", "", text).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def headings(text):
    """(line index, level, text, anchor, labelled) of each ATX or setext
    heading outside code blocks; the anchor is its {#label} (Doxygen's syntax,
    labelled True) if it has one, else its GitHub slug, numbered -1, -2, ...
    when a slug repeats."""
    lines, seen = blank(FENCE, text).split("\n"), {}
    for i, line in enumerate(lines):
        atx = re.match(r" {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$", line)
        under = i + 1 < len(lines) and re.fullmatch(r" {0,3}(=+|-+)[ \t]*", lines[i + 1])
        if atx:
            level, title = len(atx.group(1)), atx.group(2) or ""
        elif under and line.strip() and not re.match(r" {0,3}([-*+>|#]|\d+\.)", line):
            level, title = 1 if under.group(1)[0] == "=" else 2, line.strip()
        else:
            continue
        label = re.search(r"[ \t]*\{#([\w-]+)\}$", title)
        if label:
            yield i, level, title[: label.start()], label.group(1), True
            continue
        base = slug(title)
        n = seen.get(base, 0)
        seen[base] = n + 1
        yield i, level, title, base if n == 0 else f"{base}-{n}", False


def md_anchors(path):
    text = path.read_text()
    anchors = {heading[3] for heading in headings(text)}
    return anchors | set(re.findall(r"<a\s+(?:name|id)=\"([^\"]+)\"", blank(FENCE, text)))


def md_links(text):
    """(offset, url) of every link and image outside code."""
    text = blank(CODE_SPAN, blank(FENCE, text))
    for pattern, group in ((INLINE_LINK, 3), (REFERENCE, 1), (HTML_LINK, 1)):
        for m in pattern.finditer(text):
            yield m.start(group), m.group(group)


def check_markdown(path):
    text, bad = path.read_text(), []
    for offset, url in md_links(text):
        if not url or external(url):
            continue
        target, _, fragment = url.partition("#")
        dest = (path.parent / unquote(target)) if target else path
        where = f"{path}:{text.count(chr(10), 0, offset) + 1}: {url}"
        if not dest.exists():
            bad.append(f"{where}: no such file or directory")
        elif not fragment:
            continue
        elif dest.suffix == ".md":
            if fragment not in md_anchors(dest):
                bad.append(f"{where}: no heading or anchor '{fragment}' in {dest.name}")
        elif not (dest.is_file() and (n := re.fullmatch(r"L(\d+)(?:-L(\d+))?", fragment))
                  and all(int(x) <= len(dest.read_text().splitlines()) for x in n.groups() if x)):
            bad.append(f"{where}: '{fragment}' is no line of {dest.name}")
    return bad


class Page(HTMLParser):
    """One HTML file: its anchors and its (line, url) links."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.anchors, self.links = set(), []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("id", "name") if tag == "a" else ("id",):
            if attrs.get(key):
                self.anchors.add(attrs[key])
        for key in ("href", "src"):
            if attrs.get(key):
                self.links.append((self.getpos()[0], attrs[key]))


def check_html(root):
    root = root.resolve()
    pages = {p: Page(p.read_text(errors="replace")) for p in root.rglob("*.html")}
    bad = []
    for path, page in pages.items():
        for line, url in page.links:
            if external(url):
                continue
            target, _, fragment = url.partition("#")
            dest = (path.parent / unquote(target)).resolve() if target else path
            where = f"{path}:{line}: {url}"
            if root not in dest.parents or not dest.exists():
                bad.append(f"{where}: no such file in {root}")
            elif fragment and dest.suffix == ".html" and (
                unquote(fragment) not in pages[dest].anchors
            ):
                bad.append(f"{where}: no anchor '{fragment}' in {dest.name}")
    return len(pages), bad


def main(paths):
    bad, counts, markdown = [], [], 0
    for arg in paths:
        path = Path(arg)
        if path.is_dir():
            n, errors = check_html(path)
            counts.append(f"{n} HTML pages in {path}")
            bad += errors
        else:
            markdown += 1
            bad += check_markdown(path)
    counts.append(f"{markdown} Markdown files")
    if bad:
        print(f"linkcheck: {len(bad)} broken links:", *bad, sep="\n  ", file=sys.stderr)
        return 1
    print(f"linkcheck: every relative link and anchor resolves ({', '.join(counts)})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
