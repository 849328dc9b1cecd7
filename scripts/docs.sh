#!/usr/bin/env bash
# Builds the API reference from include/jzx/jzx.h with Doxygen into
# build-docs/html (warnings are errors), then checks what Doxygen itself does
# not: that every enum value, like every type, field, macro and function, has
# a description. Also checks that every code block in docs/*.md labelled with
# a source file ("/* src/<file> */", "/* include/<file> */") still appears in
# that file verbatim, compiles the complete programs quoted in the guides,
# checks every relative link and anchor in the Markdown and in the HTML
# (scripts/linkcheck.py), writes a man page per function of jzx.h and of
# jzx_nats.h as the build does (scripts/manpages.py) and checks those and the
# hand-written pages, jzx(3) and jzx_nats(3), with man --warnings; the
# programs in the hand-written pages' EXAMPLES must compile.
# Usage: scripts/docs.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh doxygen python3 man-db gcc

out=build-docs
rm -rf "$out"
version=$(sed -n 's/^#define JZX_VERSION_STRING "\(.*\)"$/\1/p' include/jzx/jzx.h)
# The XML is only for the check below; the HTML is the reference.
(
  cat docs/Doxyfile
  echo "OUTPUT_DIRECTORY = $out"
  echo "GENERATE_XML = YES"
) | JZX_VERSION=$version doxygen -

python3 - "$out/xml" <<'PY'
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

def described(node):
    return any("".join(node.find(tag).itertext()).strip()
               for tag in ("briefdescription", "detaileddescription")
               if node.find(tag) is not None)

missing, seen = [], 0
for path in sorted(Path(sys.argv[1]).glob("*.xml")):
    root = ET.parse(path).getroot()
    for compound in root.iter("compounddef"):
        name = compound.findtext("compoundname")
        kind = compound.get("kind")
        if kind not in ("file", "struct", "union") or (kind == "file" and not name.endswith(".h")):
            continue  # the Markdown pages are prose, not API
        seen += 1
        if not described(compound):
            missing.append(name)
        for member in compound.iter("memberdef"):
            seen += 1
            if not described(member):
                missing.append(f"{name}: {member.findtext('name')}")
            for value in member.iter("enumvalue"):
                seen += 1
                if not described(value):
                    missing.append(f"{name}: {member.findtext('name')}::{value.findtext('name')}")
if missing:
    print("docs: undocumented public symbols:", *missing, sep="\n  ", file=sys.stderr)
    sys.exit(1)
print(f"docs: {seen} public symbols, all documented")
PY

# A block whose first line names a file under src/ or include/ (optionally
# followed by ", what it shows") is a quote: the lines after that label must be
# a contiguous run of lines of the file, so the pages cannot drift from the code.
python3 - docs/*.md <<'PY'
import re
import sys
from pathlib import Path

label = re.compile(r"/\* ((?:src|include)/[\w./-]+)(?:,[^*]*)? \*/$")
stale, quotes = [], 0
for page in sys.argv[1:]:
    text = Path(page).read_text()
    for block in re.finditer(r"^```\w*\n(.*?)^```$", text, re.M | re.S):
        lines = block.group(1).split("\n")[:-1]
        name = label.match(lines[0]) if lines else None
        if not name:
            continue
        quotes += 1
        body, source = lines[1:], Path(name.group(1))
        src = source.read_text().split("\n") if source.is_file() else []
        n = len(body)
        if n == 0 or not any(src[i:i + n] == body for i in range(len(src) - n + 1)):
            line = text.count("\n", 0, block.start()) + 2
            stale.append(f"{page}:{line}: not verbatim in {source}")
if stale:
    print("docs: quoted code that no longer matches its source:", *stale, sep="\n  ", file=sys.stderr)
    sys.exit(1)
print(f"docs: {quotes} code blocks quoted from src/ and include/, all verbatim")
PY

# The complete programs in the guides (code blocks that open with
# "/* name.c") must compile against this jzx.h.
mkdir -p "$out/programs"
python3 - "$out/programs" docs/*.md <<'PY'
import re
import sys
from pathlib import Path

out = Path(sys.argv[1])
for page in sys.argv[2:]:
    for block in re.findall(r"^```c\n(.*?)^```$", Path(page).read_text(), re.M | re.S):
        name = re.match(r"/\* (\w+\.c)\b", block)
        if name:
            (out / name.group(1)).write_text(block)
PY
programs=("$out"/programs/*.c)
for program in "${programs[@]}"; do
  cc -std=c11 -Wall -Wextra -Wpedantic -Werror -Iinclude -fsyntax-only "$program"
done
echo "docs: ${#programs[@]} programs in the guides compile: $(cd "$out/programs" && echo *.c)"

# Every relative link resolves, anchors included: in the Markdown as GitHub
# shows it, and in the HTML Doxygen made of it. The header's comments send the
# reader to "Threading" and "Ownership", which are the page jzx_rules.
mapfile -t pages < <(git ls-files --cached --others --exclude-standard '*.md')
python3 scripts/linkcheck.py "$out/html" "${pages[@]}"
if ! grep -q 'href="jzx_rules.html"' "$out/html/jzx_8h.html"; then
  echo "docs: the header's page does not link jzx_rules.html (docs/header.dox)" >&2
  exit 1
fi

# A page for every function, no warnings from man, and a NAME line that
# lexgrog reads (whatis and apropos index it).
python3 scripts/manpages.py "$out/man3" include/jzx/jzx.h
want=$(grep -oE 'JZX_API [^(]*\bjzx_[a-z_]+\(' include/jzx/jzx.h | grep -oE 'jzx_[a-z_]+\($' | tr -d '(' | sort)
have=$(cd "$out/man3" && ls -- *.3 | sed 's/\.3$//' | sort)
if [ "$want" != "$have" ]; then
  echo "docs: the man pages do not match the header's JZX_API functions (a comment missing?)" >&2
  diff <(echo "$want") <(echo "$have") >&2 || true
  exit 1
fi
# The same for libjzx-nats's header, as cmake/JzxNats.cmake writes them.
python3 scripts/manpages.py --library libjzx-nats --overview 'jzx_nats(3)' "$out/man3-nats" \
  include/jzx/jzx_nats.h include/jzx/jzx.h
nats_want=$(grep -oE 'JZX_NATS_API [^(]*\bjzx_[a-z_]+\(' include/jzx/jzx_nats.h | grep -oE 'jzx_[a-z_]+\($' | tr -d '(' | sort)
nats_have=$(cd "$out/man3-nats" && ls -- *.3 | sed 's/\.3$//' | sort)
if [ "$nats_want" != "$nats_have" ]; then
  echo "docs: the man pages do not match jzx_nats.h's JZX_NATS_API functions (a comment missing?)" >&2
  diff <(echo "$nats_want") <(echo "$nats_have") >&2 || true
  exit 1
fi
# The hand-written pages' examples compile (roff's \- and \e undone).
mkdir -p "$out/man-examples"
for page in docs/man/*.[0-9]; do
  name=$(basename "$page")
  awk '/^\.EX$/ {on = 1; next} /^\.EE$/ {on = 0} on' "$page" | sed 's/\\-/-/g; s/\\e/\\/g' >"$out/man-examples/${name%.*}.c"
  if [ -s "$out/man-examples/${name%.*}.c" ]; then
    cc -std=c11 -Wall -Wextra -Wpedantic -Werror -Iinclude -fsyntax-only "$out/man-examples/${name%.*}.c"
  else
    rm "$out/man-examples/${name%.*}.c"
  fi
done
shopt -s nullglob
for page in docs/man/*.[0-9] "$out"/man3/*.3 "$out"/man3-nats/*.3; do
  warnings=$(LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z "$page" 2>&1 >/dev/null)
  if [ -n "$warnings" ] || ! lexgrog "$page" >/dev/null; then
    echo "docs: $page: ${warnings:-lexgrog finds no NAME line}" >&2
    exit 1
  fi
done
echo "docs: $(cd docs/man && echo *.[0-9]), $(echo "$have" | wc -l) + $(echo "$nats_have" | wc -l)" \
  "function pages pass man --warnings; the examples in $(cd "$out/man-examples" && echo *.c) compile"
echo "docs: API reference in $out/html/index.html"
