#!/usr/bin/env python3
"""Generates src/tokenizer/unicode_tables.cpp: per-codepoint General_Category class and the
White_Space property, which the BPE pre-tokenizers need for \\p{L}, \\p{N}, \\s, ... .

Source of truth, in order of preference:
  1. --ucd DIR: the Unicode Character Database files UnicodeData.txt and PropList.txt, the files
     llama.cpp builds its own tables from (Debian's `unicode-data` puts them in /usr/share/unicode).
  2. The `unicodedata2` package (PyPI; a backport of unicodedata for a chosen Unicode release) for
     General_Category, with White_Space from PropList.txt when /usr/share/unicode has it.
  3. /usr/share/unicode's UCD files.
  4. Python's own `unicodedata` (see white_space_from_python()).
Pick the Unicode release llama.cpp's src/unicode-data.cpp was made from, so that pre-tokenization
of newly assigned characters agrees too (llama.cpp v0.5.0: Unicode 15.1, i.e. unicodedata2==15.1.0:
  pip install --target /tmp/ud2 unicodedata2==15.1.0
  PYTHONPATH=/tmp/ud2 python3 scripts/gen-unicode-tables.py > src/tokenizer/unicode_tables.cpp).

Usage: python3 scripts/gen-unicode-tables.py [--ucd DIR] > src/tokenizer/unicode_tables.cpp
The output is deterministic for a given source; do not edit it by hand.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import unicodedata

MAX_CODEPOINTS = 0x110000
BLOCK = 256  # codepoints per second-level block

# Category classes; must match enum class UnicodeClass in src/tokenizer/unicode.h.
CLASS_OF_MAJOR = {
    "C": 7,  # control, format, private use, surrogate (Cn is handled separately)
    "N": 1,
    "L": 2,
    "Z": 3,
    "M": 4,
    "P": 5,
    "S": 6,
}
CLASS_UNDEFINED = 0  # Cn: unassigned
FLAG_WHITESPACE = 0x08


def class_of(category: str) -> int:
    if category == "Cn":
        return CLASS_UNDEFINED
    return CLASS_OF_MAJOR[category[0]]


def load_ucd(folder: str):
    classes = [CLASS_UNDEFINED] * MAX_CODEPOINTS
    first = None
    with open(os.path.join(folder, "UnicodeData.txt"), encoding="utf-8") as f:
        for line in f:
            fields = line.rstrip("\n").split(";")
            cp = int(fields[0], 16)
            name, category = fields[1], fields[2]
            if name.endswith(", First>"):
                first = cp
                continue
            if name.endswith(", Last>"):
                for c in range(first, cp + 1):
                    classes[c] = class_of(category)
                first = None
                continue
            classes[cp] = class_of(category)
    white = set()
    version = "?"
    with open(os.path.join(folder, "PropList.txt"), encoding="utf-8") as f:
        for line in f:
            m = re.match(r"# PropList-(\S+)\.txt", line)
            if m:
                version = m.group(1)
            body = line.split("#", 1)[0].strip()
            if not body:
                continue
            cps, prop = [s.strip() for s in body.split(";")]
            if prop != "White_Space":
                continue
            if ".." in cps:
                lo, hi = (int(x, 16) for x in cps.split(".."))
            else:
                lo = hi = int(cps, 16)
            white.update(range(lo, hi + 1))
    return classes, white, f"Unicode Character Database {version} ({folder})"


def white_space_from_python():
    # Python's str.isspace() is "bidirectional class WS, B or S, or category Zs". That adds the
    # four information separators U+001C..U+001F (bidi classes B and S) to Unicode's White_Space
    # property, which PropList.txt defines and llama.cpp uses; take them out again.
    return {cp for cp in range(MAX_CODEPOINTS) if chr(cp).isspace()} - set(range(0x1C, 0x20))


def load_python(module, name, proplist_folder):
    classes = [class_of(module.category(chr(cp))) for cp in range(MAX_CODEPOINTS)]
    source = f"Python {name} {module.unidata_version}"
    if proplist_folder:
        # White_Space has not changed since Unicode 6; any recent PropList.txt gives it.
        _, white, ucd = load_ucd(proplist_folder)
        return classes, white, f"{source}, White_Space from {ucd}"
    return classes, white_space_from_python(), source


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ucd", help="folder with UnicodeData.txt and PropList.txt")
    args = parser.parse_args()
    system_ucd = "/usr/share/unicode"
    has_system_ucd = all(os.path.isfile(os.path.join(system_ucd, f)) for f in ("UnicodeData.txt", "PropList.txt"))
    try:
        import unicodedata2
    except ImportError:
        unicodedata2 = None
    if args.ucd:
        classes, white, source = load_ucd(args.ucd)
    elif unicodedata2 is not None:
        classes, white, source = load_python(unicodedata2, "unicodedata2", system_ucd if has_system_ucd else None)
    elif has_system_ucd:
        classes, white, source = load_ucd(system_ucd)
    else:
        classes, white, source = load_python(unicodedata, "unicodedata", None)

    flags = [c | (FLAG_WHITESPACE if cp in white else 0) for cp, c in enumerate(classes)]

    blocks: list[tuple[int, ...]] = []
    block_index: dict[tuple[int, ...], int] = {}
    stage1 = []
    for start in range(0, MAX_CODEPOINTS, BLOCK):
        block = tuple(flags[start:start + BLOCK])
        if block not in block_index:
            block_index[block] = len(blocks)
            blocks.append(block)
        stage1.append(block_index[block])
    assert len(blocks) < 65536

    out = sys.stdout
    out.write("// clang-format off\n")
    out.write("// Generated by scripts/gen-unicode-tables.py from " + source + ". Do not edit.\n")
    out.write("// Per codepoint: bits 0-2 the General_Category class (UnicodeClass), bit 3 White_Space.\n")
    out.write("// Two-level lookup: kUnicodeStage2[kUnicodeStage1[cp >> 8] * 256 + (cp & 255)].\n")
    out.write('#include "tokenizer/unicode.h"\n\n')
    out.write("namespace lathe::tokenizer::unicode_detail {\n\n")
    out.write(f"const uint16_t kUnicodeStage1[{len(stage1)}] = {{\n")
    for i in range(0, len(stage1), 16):
        out.write(",".join(str(v) for v in stage1[i:i + 16]) + ",\n")
    out.write("};\n\n")
    out.write(f"const uint8_t kUnicodeStage2[{len(blocks) * BLOCK}] = {{\n")
    for block in blocks:
        for i in range(0, BLOCK, 64):
            out.write(",".join(str(v) for v in block[i:i + 64]) + ",\n")
    out.write("};\n\n")
    out.write(f"const char kUnicodeTablesSource[] = \"{source}\";\n\n")
    out.write("}  // namespace lathe::tokenizer::unicode_detail\n")


if __name__ == "__main__":
    main()
