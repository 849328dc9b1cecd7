#!/usr/bin/env python3
"""Doxygen's input filter for the Markdown pages (FILTER_PATTERNS in
docs/Doxyfile).

The pages are written for GitHub: they link other pages by path and heading
slug (loop.md#the-tick) and the sources by path (../src, ../examples/demo.c).
Doxygen 1.9 resolves a link to a page only without a #fragment, gives
headings no slugs, and its HTML holds no sources. So, on the fly and line for
line (the files themselves stay as they are):
  - every heading but the page's title gets a Doxygen label, <page>-<slug>
    (a heading's own {#label} is kept);
  - an inline link to a page, a heading in one or a directory with a
    README.md becomes an @ref to those labels, one to a header an @ref to its
    documented file;
  - an image keeps only its file name (Doxygen copies it from IMAGE_PATH);
  - a link to any other file, which the HTML does not hold, keeps its text.
A link to nothing that exists is left alone, for Doxygen's warnings and
scripts/linkcheck.py to report.
Usage (by Doxygen): scripts/md2doxygen.py MAINPAGE FILE.md
  MAINPAGE: USE_MDFILE_AS_MAINPAGE, relative to the top of the tree.
"""

import re
import sys
from pathlib import Path
from urllib.parse import unquote

from linkcheck import CODE_SPAN, FENCE, INLINE_LINK, blank, external, headings

ROOT = Path(__file__).resolve().parents[1]
IMAGES = {".png", ".svg", ".jpg", ".jpeg", ".gif"}


def labels(path, mainpage):
    """(page name, {anchor: Doxygen label}, {line index: label to add}) for
    one .md file. Doxygen names a page after the label of its title (a first
    line that is a level-1 heading), else md_ and the file's path with every
    non-word character made '_'; the main page is 'index'."""
    text = path.read_text()
    first = next((i for i, line in enumerate(text.split("\n")) if line.strip()), None)
    page = "md_" + re.sub(r"\W", "_", str(path.relative_to(ROOT).with_suffix("")))
    page = "index" if path == mainpage else page
    anchors, add = {}, {}
    for i, level, _, anchor, labelled in headings(text):
        if i == first and level == 1:
            if labelled and path != mainpage:
                page = anchor
            anchors[anchor] = page
        elif labelled:
            anchors[anchor] = anchor
        else:
            anchors[anchor] = add[i] = f"{page}-{anchor}"
    return page, anchors, add


def target(url, here, is_image, mainpage):
    """What a link's url becomes: None to keep it, "" to keep only its text."""
    if not url or external(url):
        return None
    path, _, fragment = url.partition("#")
    dest = (here.parent / unquote(path)).resolve() if path else here
    if dest.is_dir() and (dest / "README.md").is_file():
        dest = dest / "README.md"
    if not dest.exists():
        return None
    if dest.suffix == ".md":
        page, anchors, _ = labels(dest, mainpage)
        return "@ref " + (anchors.get(fragment, f"{page}-{fragment}") if fragment else page)
    if dest.suffix == ".h":
        return "@ref " + dest.name
    if is_image and dest.suffix.lower() in IMAGES:
        return dest.name
    return ""


def main(mainpage, file):
    mainpage, here = (ROOT / mainpage).resolve(), Path(file).resolve()
    text = here.read_text()
    masked = blank(CODE_SPAN, blank(FENCE, text))
    # Right to left, so that the offsets of the links still to do hold.
    for m in reversed(list(INLINE_LINK.finditer(masked))):
        new = target(m.group(3), here, m.group(1) == "!", mainpage)
        if new == "":
            text = text[: m.start()] + text[m.start(2) : m.end(2)] + text[m.end() :]
        elif new is not None:
            text = text[: m.start(3)] + new + text[m.end(3) :]
    lines = text.split("\n")
    for i, label in labels(here, mainpage)[2].items():
        lines[i] = re.sub(r"([ \t]+#+)?[ \t]*$", f" {{#{label}}}", lines[i], count=1)
    sys.stdout.write("\n".join(lines))


if __name__ == "__main__":
    main(*sys.argv[1:])
