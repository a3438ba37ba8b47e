#!/usr/bin/env python3
"""Write src/tokenizer/unicode_tables.h: the Unicode data sdc's CLIP tokenizer needs.

Usage: python tools/reference/gen_unicode_tables.py   (from the pinned environment, about a
minute on one core; the output is byte-identical on rerun)

The CLIP tokenizer of transformers 4.44.2 without ftfy cleans text with BasicTokenizer (Python's
unicodedata: categories, NFC, str.lower, str.isspace) and then splits it with the pattern
  <\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+
compiled by the `regex` module with IGNORECASE. The two use different Unicode versions (Python
3.11's unicodedata is 14.0; regex ships its own, newer tables), and the pattern's classes under
IGNORECASE are not plain categories (U+0345 matches no class), so every property below is taken
from the very function transformers calls, code point by code point, not from the UCD files:

  props      ranges of per-code-point flags (and a direct table for U+0000..U+00FF): dropped by BasicTokenizer._clean_text, turned into
             a space by it (_is_whitespace), str.isspace, the pattern's letter / number / other
             classes, and the Final_Sigma context classes of str.lower (cased, case-ignorable)
  lower      str.lower() of one code point, as runs of equal offset (U+0130 is the only
             multi-code-point result and is handled in C)
  ccc        canonical combining classes (unicodedata.combining)
  decomp     canonical decompositions (unicodedata.decomposition, Hangul excluded: algorithmic)
  compose    the decompositions that NFC recomposes (primary composites), by (first, second)
  fold       non-ASCII code points the pattern's literals accept for an ASCII letter under
             IGNORECASE (needed for '<|startoftext|>' and the contractions)
"""

from __future__ import annotations

import sys
import unicodedata as ud
from pathlib import Path

import regex

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "src" / "tokenizer" / "unicode_tables.h"
MAX_CP = 0x110000

PROP_DROP = 0x01      # removed by _clean_text: U+0000, U+FFFD, category C* except \t \n \r
PROP_WS = 0x02        # replaced by " " in _clean_text: " ", \t, \n, \r, category Zs
PROP_SPACE = 0x04     # str.isspace(): where whitespace_tokenize splits
PROP_LETTER = 0x08    # [\p{L}] under IGNORECASE
PROP_NUMBER = 0x10    # [\p{N}] under IGNORECASE
PROP_OTHER = 0x20     # [^\s\p{L}\p{N}] under IGNORECASE
PROP_CASED = 0x40     # str.lower's Final_Sigma test: cased and not case-ignorable
PROP_CASE_IGN = 0x80  # case-ignorable (skipped by the Final_Sigma test)

FOLD_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def scalar_values():
    for cp in range(MAX_CP):
        if 0xD800 <= cp < 0xE000:
            continue
        yield cp


def regex_unicode_version() -> str:
    # regex does not report its Unicode version; probe letters added by each version.
    probes = [("17.0", 0x323B0), ("16.0", 0x1C89), ("15.1", 0x2EBF0), ("15.0", 0x31350),
              ("14.0", 0x0870)]
    for version, cp in probes:
        if regex.fullmatch(r"\p{L}", chr(cp)):
            return version
    return "13.0 or older"


def final_sigma_class(c: str) -> int:
    """Classify c by what str.lower() does to a capital sigma next to it."""
    after_cased = ("A" + c + "\u03a3").lower()[-1] == "\u03c2"  # c ignorable, or cased
    alone = (c + "\u03a3").lower()[-1] == "\u03c2"               # c cased, not ignorable
    before = ("A\u03a3" + c).lower()[1] == "\u03c2"              # c ignorable, or not cased
    if alone:
        assert after_cased and not before, hex(ord(c))
        return PROP_CASED
    if after_cased and before:
        return PROP_CASE_IGN
    assert not after_cased and before, hex(ord(c))
    return 0


def props_table() -> list[tuple[int, int]]:
    flags = regex.IGNORECASE | regex.VERSION0
    letter = regex.compile(r"[\p{L}]", flags)
    number = regex.compile(r"[\p{N}]", flags)
    other = regex.compile(r"[^\s\p{L}\p{N}]", flags)
    runs: list[tuple[int, int]] = []
    for cp in range(MAX_CP):
        if 0xD800 <= cp < 0xE000:
            f = PROP_DROP  # never seen: the input is validated UTF-8
        else:
            c = chr(cp)
            cat = ud.category(c)
            f = 0
            if cp == 0 or cp == 0xFFFD or (cat.startswith("C") and c not in "\t\n\r"):
                f |= PROP_DROP
            if c in " \t\n\r" or cat == "Zs":
                f |= PROP_WS
            if c.isspace():
                f |= PROP_SPACE
            if letter.fullmatch(c):
                f |= PROP_LETTER
            if number.fullmatch(c):
                f |= PROP_NUMBER
            if other.fullmatch(c):
                f |= PROP_OTHER
            f |= final_sigma_class(c)
        if not runs or runs[-1][1] != f:
            runs.append((cp, f))
    return runs


def lower_table() -> list[tuple[int, int, int, int]]:
    runs: list[list[int]] = []  # first, last, delta, stride
    for cp in scalar_values():
        low = chr(cp).lower()
        if low == chr(cp):
            continue
        if len(low) != 1:
            assert cp == 0x130 and low == "i\u0307", hex(cp)
            continue
        delta = ord(low) - cp
        if runs:
            r = runs[-1]
            step = cp - r[1]
            if r[2] == delta and step in (1, 2) and r[3] in (0, step):
                r[1], r[3] = cp, step
                continue
        runs.append([cp, cp, delta, 0])
    return [(a, b, d, s or 1) for a, b, d, s in runs]


def ccc_table() -> list[tuple[int, int, int]]:
    runs: list[list[int]] = []
    for cp in scalar_values():
        k = ud.combining(chr(cp))
        if not k:
            continue
        if runs and runs[-1][1] == cp - 1 and runs[-1][2] == k:
            runs[-1][1] = cp
        else:
            runs.append([cp, cp, k])
    return [tuple(r) for r in runs]


def decomp_tables() -> tuple[list[tuple[int, int, int]], list[int]]:
    decomps = []
    for cp in scalar_values():
        if 0xAC00 <= cp <= 0xD7A3:
            continue
        d = ud.decomposition(chr(cp))
        if not d or d.startswith("<"):
            continue
        parts = [int(x, 16) for x in d.split()]
        assert 1 <= len(parts) <= 2, hex(cp)
        decomps.append((cp, parts[0], parts[1] if len(parts) == 2 else 0))
    # A two-part decomposition is recomposed by NFC unless the code point is a composition
    # exclusion (then NFC(c) != c).
    compose = [i for i, (cp, a, b) in enumerate(decomps)
               if b and ud.normalize("NFC", chr(cp)) == chr(cp)]
    compose.sort(key=lambda i: (decomps[i][1], decomps[i][2]))
    assert len(decomps) < 65536
    return decomps, compose


def fold_table() -> list[tuple[int, str]]:
    flags = regex.IGNORECASE | regex.VERSION0
    pats = {ch: regex.compile(regex.escape(ch), flags) for ch in FOLD_LETTERS}
    out = []
    for cp in scalar_values():
        if cp < 0x80:
            continue
        c = chr(cp)
        hits = [ch for ch, p in pats.items() if p.fullmatch(c)]
        assert len(hits) <= 1, hex(cp)
        if hits:
            out.append((cp, hits[0]))
    for ch in "<|>'":
        assert regex.compile(regex.escape(ch), flags).fullmatch(ch.upper())
    return out


def self_check(props: list[tuple[int, int]]) -> None:
    """The pattern itself, applied to one code point, must agree with the classes."""
    pat = regex.compile(r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|"""
                        r"""[\p{N}]|[^\s\p{L}\p{N}]+""", regex.IGNORECASE)
    starts = [s for s, _ in props]
    import bisect
    for cp in scalar_values():
        f = props[bisect.bisect_right(starts, cp) - 1][1]
        want = [chr(cp)] if f & (PROP_LETTER | PROP_NUMBER | PROP_OTHER) else []
        assert pat.findall(chr(cp)) == want, hex(cp)


def rows(items: list[str], per_line: int) -> str:
    lines = []
    for i in range(0, len(items), per_line):
        lines.append("    " + " ".join(items[i:i + per_line]))
    return "\n".join(lines)


def main() -> int:
    props = props_table()
    self_check(props)
    lower = lower_table()
    ccc = ccc_table()
    decomps, compose = decomp_tables()
    fold = fold_table()
    version = sys.version.split()[0]
    latin1 = [0] * 256
    for k, (start, f) in enumerate(props):
        end = props[k + 1][0] if k + 1 < len(props) else MAX_CP
        for cp in range(start, min(end, 256)):
            latin1[cp] = f
    text = f"""/*
 * unicode_tables.h — GENERATED by `python tools/reference/gen_unicode_tables.py`; do not edit.
 * Python {version} unicodedata (Unicode {ud.unidata_version}) and regex {regex.__version__}
 * (Unicode {regex_unicode_version()}), as transformers 4.44.2's CLIPTokenizer uses them without ftfy.
 * Included by src/tokenizer/unicode.c only; the generator's docstring explains each table.
 */
#ifndef SDC_TOKENIZER_UNICODE_TABLES_H
#define SDC_TOKENIZER_UNICODE_TABLES_H

#include <stdint.h>

#define UNI_DATA_VERSION "{ud.unidata_version}"
#define UNI_REGEX_VERSION "{regex.__version__}"

#define UNI_PROP_DROP     0x{PROP_DROP:02x}u
#define UNI_PROP_WS       0x{PROP_WS:02x}u
#define UNI_PROP_SPACE    0x{PROP_SPACE:02x}u
#define UNI_PROP_LETTER   0x{PROP_LETTER:02x}u
#define UNI_PROP_NUMBER   0x{PROP_NUMBER:02x}u
#define UNI_PROP_OTHER    0x{PROP_OTHER:02x}u
#define UNI_PROP_CASED    0x{PROP_CASED:02x}u
#define UNI_PROP_CASE_IGN 0x{PROP_CASE_IGN:02x}u

/* The flags of U+0000..U+00FF directly (most prompts are ASCII). */
static const uint8_t uni_props_latin1[256] = {{
{rows([f"0x{latin1[i]:02x}," for i in range(256)], 16)}
}};

/* (first code point << 8) | flags; the flags hold up to the next entry's first code point. */
static const uint32_t uni_props[{len(props)}] = {{
{rows([f"0x{(s << 8) | f:08x}," for s, f in props], 8)}
}};

/* str.lower(): code points first, first + stride, ..., last map to code point + delta. */
typedef struct uni_lower_run {{
    uint32_t first, last;
    int32_t delta;
    uint32_t stride;
}} uni_lower_run;

static const uni_lower_run uni_lower[{len(lower)}] = {{
{rows([f"{{0x{a:05x}, 0x{b:05x}, {d}, {s}}}," for a, b, d, s in lower], 3)}
}};

/* Canonical combining class of the code points first..last. */
typedef struct uni_ccc_run {{
    uint32_t first, last;
    uint8_t ccc;
}} uni_ccc_run;

static const uni_ccc_run uni_ccc[{len(ccc)}] = {{
{rows([f"{{0x{a:05x}, 0x{b:05x}, {k}}}," for a, b, k in ccc], 4)}
}};

/* Canonical decomposition of code point cp into first (+ second, 0 for a singleton), by cp. */
typedef struct uni_decomp {{
    uint32_t cp, first, second;
}} uni_decomp;

static const uni_decomp uni_decomps[{len(decomps)}] = {{
{rows([f"{{0x{c:05x}, 0x{a:05x}, 0x{b:05x}}}," for c, a, b in decomps], 4)}
}};

/* Indices into uni_decomps of the primary composites, sorted by (first, second). */
static const uint16_t uni_compose[{len(compose)}] = {{
{rows([f"{i}," for i in compose], 14)}
}};

/* Non-ASCII code points that the pattern's literal letters match under IGNORECASE. */
typedef struct uni_fold {{
    uint32_t cp;
    char ascii;
}} uni_fold;

static const uni_fold uni_folds[{max(len(fold), 1)}] = {{
{rows([f"{{0x{c:05x}, '{a}'}}," for c, a in fold], 6) if fold else "    {0, 0},"}
}};
#define UNI_N_FOLDS {len(fold)}

#endif /* SDC_TOKENIZER_UNICODE_TABLES_H */
"""
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT.relative_to(REPO)}: {len(props)} property runs, {len(lower)} lower-case "
          f"runs, {len(ccc)} ccc runs, {len(decomps)} decompositions, {len(compose)} compositions, "
          f"{len(fold)} case folds", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
