#!/usr/bin/env python3
"""Writes one man page, section 3, for every function a public header exports.

A function is a declaration `<API macro> <type> <name>(<params>);` with a
/** ... */ comment right above it; the comment is the page:
  NAME         the name and the comment's first clause, a `code` word in
               quotes (whatis and apropos drop fonts, and "create loops
               loops" would lose which word is the parameter)
  LIBRARY      the library and its link flag
  SYNOPSIS     the #include and the prototype
  DESCRIPTION  the comment, less what the two sections below take
  RETURN VALUE its "Returns ..." sentences (for a function returning the
               error enum without one: JZX_OK or a code from ERRORS)
  ERRORS       its "Errors: A (when), B, ..." sentence (or "Errors, in this
               order: ...", "Errors (a remark): ...", the remark kept as
               a lead-in), each code with the enum's own description;
               "Same errors." those of the first
               function the comment names
  SEE ALSO     the overview page, the functions in the same section of the
               header and those the comment names, and the HTML reference.
Nothing in here names a function: a function added to the header gets its
page from the next build (CMake runs this; see CMakeLists.txt).

Usage: scripts/manpages.py [options] OUTDIR HEADER [HEADER...]
  Pages are written for the first HEADER's functions; the others (jzx.h for
  a header that includes it) only lend error codes and names to refer to.
  OUTDIR is this script's own: its *.3 files are replaced.
"""

import argparse
import os
import re
import sys
import time
from pathlib import Path

BANNER = re.compile(r"/\*\s*-+\s*\*/\s*/\*\s*(.*?)\s*\*/\s*/\*\s*-+\s*\*/")
FUNCTION = re.compile(
    r"/\*\*((?:(?!\*/).)*)\*/\s*"  # the comment right above
    r"[A-Z][A-Z0-9_]*_API\s+([^;{}]*?)\b(\w+)\s*\(([^;{}]*)\)\s*;",  # JZX_API type name(params);
    re.S,
)
ENUM_VALUE = re.compile(r"\b([A-Z][A-Z0-9_]*)\s*=\s*-?\d+\s*,?\s*/\*\*<\s*(.*?)\s*\*/", re.S)


class Header:
    """What the pages need from the headers: functions (first header only),
    their sections, error codes and the error enum's type name."""

    def __init__(self, paths):
        text = paths[0].read_text()
        self.functions = []  # (name, return type, params, comment, section)
        for m in FUNCTION.finditer(text):
            sections = BANNER.findall(text, 0, m.start())
            ret, params = " ".join(m.group(2).split()), " ".join(m.group(4).split())
            section = sections[-1] if sections else ""
            self.functions.append((m.group(3), ret, params, comment_text(m.group(1)), section))
        self.names = {f[0] for f in self.functions}
        self.errors, self.err_type, self.version = {}, None, None
        for path in paths:
            other = path.read_text()
            self.names |= {m.group(3) for m in FUNCTION.finditer(other)}
            version = re.search(r"#define\s+\w*VERSION_STRING\s+\"([^\"]+)\"", other)
            self.version = self.version or (version and version.group(1))
            for enum in re.finditer(r"typedef\s+enum\s+\w*\s*\{(.*?)\}\s*(\w+)\s*;", other, re.S):
                values = dict(ENUM_VALUE.findall(enum.group(1)))
                if any("_ERR_" in v for v in values):
                    self.errors.update(values)
                    self.err_type = self.err_type or enum.group(2)

    def error_code(self, word):
        """INVALID_ARG or JZX_ERR_INVALID_ARG -> JZX_ERR_INVALID_ARG, if it is one."""
        return next((code for code in self.errors if word in (code, code.split("_ERR_")[-1])), None)


def comment_text(raw):
    """A /** */ comment's text: leading '*'s gone, paragraphs split by blank
    lines, the few Doxygen commands that fit in prose reduced to text."""
    lines = [re.sub(r"^\s*\*? ?", "", line).rstrip() for line in raw.strip().split("\n")]
    text = "\n".join(lines).strip()
    text = re.sub(r"[@\\][pca]\s+(\w+)", r"`\1`", text)  # @p arg: an argument or code word
    text = re.sub(r"[@\\](?:ref|brief)\s+", "", text)
    return [" ".join(p.split()) for p in re.split(r"\n\s*\n", text) if p.strip()]


def split_outside_parens(text, separator):
    """Split at `separator` where no parenthesis or code span is open."""
    parts, depth, code, start = [], 0, False, 0
    for i, ch in enumerate(text):
        code ^= ch == "`"
        depth += (ch == "(") - (ch == ")") if not code else 0
        if depth == 0 and not code and text.startswith(separator, i):
            parts.append(text[start:i])
            start = i + len(separator)
    return parts + [text[start:]]


def sentences(paragraph):
    """The paragraph's sentences, split at '. ' outside parentheses."""
    out = []
    for part in split_outside_parens(paragraph, ". "):
        if out and not re.match(r"[A-Z0-9`\"]|jzx_", part):
            out[-1] += ". " + part  # "e.g. foo": no new sentence
        else:
            out.append(part)
    return [s if s.endswith((".", "!", "?", ":")) else s + "." for s in out if s.strip()]


def roff(text, header):
    """Prose to roff: escapes, `code` in italics, constants in bold, a
    function of the headers bold with ()."""
    text = text.replace("\\", "\\e")
    text = re.sub(r"`([^`]+)`", lambda m: "\\fI" + m.group(1) + "\\fP", text)
    names = "|".join(sorted(header.names, key=len, reverse=True))
    if names:
        text = re.sub(rf"\b({names})\b(\(\))?", r"\\fB\1\\fP()", text)
    text = re.sub(r"(?<![\w\\])([A-Z][A-Z0-9]*_[A-Z0-9_]+)\b", r"\\fB\1\\fP", text)
    return "\\&" + text if text.startswith((".", "'")) else text


def brief(paragraph):
    """The first clause, as the NAME line wants it: roff without font
    changes, no parentheses, a capitalised first word lowercased, and each
    `code` span (a parameter name, mostly) in typographic quotes, which
    survive into whatis and apropos where fonts do not."""
    first = split_outside_parens(paragraph, ". ")[0]
    for separator in ("; ", ": "):
        first = split_outside_parens(first, separator)[0]
    first = re.sub(r"\s*\([^()]*\)", "", first.rstrip("."))
    if re.match(r"[A-Z][a-z]*\b", first):
        first = first[0].lower() + first[1:]
    first = first.replace("\\", "\\e")
    return re.sub(r"`([^`]+)`", r"\\(lq\1\\(rq", first)


def pointers(declaration):
    """'char* p', 'char *p', 'jzx_nats** out' -> the stars against the name."""
    return re.sub(r"\s*(\*+)\s*", r" \1", declaration)


def synopsis(name, ret, params):
    """The prototype as man-pages write it: types bold, parameter names
    italic, one parameter per line."""
    head = pointers(f"{ret}{'' if ret.endswith('*') else ' '}{name}(")
    if params.strip() in ("", "void"):
        return [f'.B "{head}void);"']
    lines, args = [], split_outside_parens(params, ",")
    for i, param in enumerate(args):
        lead = head if i == 0 else " " * len(head)
        end = ");" if i == len(args) - 1 else ","
        m = re.fullmatch(r"(.*?[\w*\s])(\w+)", param.strip())
        if m and m.group(1).strip() and "(" not in param:
            kind = pointers(m.group(1).strip())
            kind += "" if kind.endswith("*") else " "
            lines.append(f'.BI "{lead}{kind}" {m.group(2)} "{end}"')
        else:  # a function pointer or array: no single name to set apart
            lines.append(f'.B "{lead}{param.strip()}{end}"')
    return lines


def errors_sentence(sentence):
    """(remark, code list) of an "Errors: ...", "Errors, in this order: ..."
    or "Errors (remark): ..." sentence; None for any other sentence."""
    if not re.match(r"Errors\b", sentence):
        return None
    parts = split_outside_parens(sentence, ": ")
    if len(parts) < 2:
        return None
    remark = parts[0][len("Errors") :].strip(" ,")
    remark = remark[1:-1] if remark.startswith("(") and remark.endswith(")") else remark
    return remark, ": ".join(parts[1:]).strip().rstrip(".")


def errors_of(paragraphs):
    """(remark, code list) of each of a comment's "Errors ..." sentences."""
    return [e for p in paragraphs for s in sentences(p) if (e := errors_sentence(s))]


def error_items(sentence, header):
    """.TP items for "A (when), B, C": each code with the enum's description
    and the when; plain text if any item is not an error code."""
    items = [sentence]
    for separator in (",", " or ", " and "):
        items = [i.strip() for item in items for i in split_outside_parens(item, separator)]
    items = [re.sub(r"^(or|and)\s+", "", i) for i in items if i]
    parsed = [re.fullmatch(r"(\w+)(?:\s+\((.*)\))?", i) for i in items]
    if not all(p and header.error_code(p.group(1)) for p in parsed):
        return [roff(sentence + ".", header)]
    out = []
    for p in parsed:
        code = header.error_code(p.group(1))
        why = header.errors[code] + (f" ({p.group(2)})" if p.group(2) else "")
        out += [".TP", f".B {code}", roff(why[0].upper() + why[1:] + ".", header)]
    return out


def page(fn, header, args):
    name, ret, params, paragraphs, section = fn
    description, returns, same = [], [], None
    for paragraph in paragraphs:
        kept = []
        for s in sentences(paragraph):
            if errors_sentence(s):
                continue
            if re.match(r"Returns?\b", s):
                returns.append(s)
            elif s.startswith("Same errors") and not same:
                same = s
            else:
                kept.append(s)
        if kept:
            description.append(kept)
    words = re.findall(r"\w+", " ".join(paragraphs))
    named = [w for w in dict.fromkeys(words) if w in header.names and w != name]
    errors = errors_of(paragraphs)
    if same and not errors and named:  # "Like jzx_actor_stop, ... Same errors."
        errors = errors_of(next((f[3] for f in header.functions if f[0] == named[0]), []))
    if same and not errors:
        description.append([same])

    library = args.library.removeprefix("lib")
    out = [
        f'.\\" Generated by scripts/manpages.py from the comments in {args.include}.',
        f'.TH {name.upper()} 3 {args.date} "{args.source}" "Library Functions Manual"',
        ".SH NAME",
        f"{name} \\- " + (brief(paragraphs[0]) if paragraphs else name),
        ".SH LIBRARY",
        f"{args.library} (\\fI\\-l{library}\\fP, or \\fBpkg\\-config \\-\\-libs {library}\\fP)",
        ".SH SYNOPSIS",
        ".nf",
        f".B #include <{args.include}>",
        ".PP",
        *synopsis(name, ret, params),
        ".fi",
        ".SH DESCRIPTION",
    ]
    for i, kept in enumerate(description):
        out += ([".PP"] if i else []) + [roff(s, header) for s in kept]
    if returns or ret == header.err_type:
        out.append(".SH RETURN VALUE")
        out += [roff(s, header) for s in returns] or [roff(
            "JZX_OK (0) on success, else one of the negative codes "
            + ("under ERRORS" if errors else "the DESCRIPTION names")
            + "; jzx_strerror gives a code's text.", header)]
    if errors:
        out.append(".SH ERRORS")
        for i, (remark, sentence) in enumerate(errors):
            if remark:
                out += ([".PP"] if i else []) + [roff(remark[0].upper() + remark[1:] + ":", header)]
            out += error_items(sentence, header)
    related = [f[0] for f in header.functions
               if f[0] != name and (f[4] == section or f[0] in named)]
    see = [args.overview] + [f"{n}(3)" for n in related]
    out.append(".SH SEE ALSO")
    for i, ref in enumerate(see):
        m = re.fullmatch(r"(.+)\((\w+)\)", ref)
        out.append(f".BR {m.group(1)} ({m.group(2)}){',' if i < len(see) - 1 else ''}")
    html = f"{args.doc_dir}/html/index.html".replace("-", "\\-")
    out += [".PP", "The API reference with the guides, as HTML:", ".RS", f".I {html}", ".RE"]
    return "\n".join(out) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("outdir", type=Path)
    parser.add_argument("headers", type=Path, nargs="+")
    parser.add_argument("--library", default="libjzx", help="its file name's stem (libjzx)")
    parser.add_argument("--overview", default="jzx(3)", help="the overview page (jzx(3))")
    parser.add_argument("--doc-dir", default="/usr/share/doc/libjzx-doc",
                        help="where the HTML reference is installed")
    parser.add_argument("--source", help='the footer (default "libjzx <header version>")')
    args = parser.parse_args()

    header = Header(args.headers)
    if not header.functions:
        sys.exit(f"manpages: no documented functions in {args.headers[0]}")
    # The include line: the path below the last include/, else the file name.
    parts = args.headers[0].resolve().parts
    below = len(parts) - parts[::-1].index("include") if "include" in parts else len(parts) - 1
    args.include = "/".join(parts[below:])
    args.source = args.source or f"libjzx {header.version}"
    # Reproducible: the date dpkg-buildpackage fixes, else the header's.
    stamp = os.environ.get("SOURCE_DATE_EPOCH") or max(p.stat().st_mtime for p in args.headers)
    args.date = time.strftime("%Y-%m-%d", time.gmtime(float(stamp)))
    args.outdir.mkdir(parents=True, exist_ok=True)
    for old in args.outdir.glob("*.3"):
        old.unlink()
    for fn in header.functions:
        (args.outdir / f"{fn[0]}.3").write_text(page(fn, header, args))
    print(f"manpages: {len(header.functions)} pages from {args.headers[0]} in {args.outdir}")


if __name__ == "__main__":
    main()
