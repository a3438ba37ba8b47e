"""CLIP BPE tokenizer reference: token ids and BPE strings for a corpus of hard prompts.

The tokenizer is transformers' slow `CLIPTokenizer` (the class every SD pipeline uses), loaded
with `from_pretrained` from a folder holding tests/data/clip/vocab.json and merges.txt plus a
tokenizer_config.json and special_tokens_map.json written the way the SD model folders ship
them (recorded verbatim in the entry's `tokenizer_config` / `special_tokens_map`). Two
conventions are recorded: pad "<|endoftext|>" (SD 1.x `tokenizer/`, id 49407) and pad "!"
(SD 2.x `tokenizer/`, SDXL `tokenizer_2/`, id 0).

ftfy is NOT installed (the generator refuses to run if it is), so CLIPTokenizer uses its
fallback: transformers' BasicTokenizer(strip_accents=False, do_split_on_punc=False) — drop
control/format characters (Unicode category C*, U+0000, U+FFFD), turn whitespace into spaces,
put spaces around CJK ideographs, NFC-normalise, lowercase, split on whitespace — then the CLIP
regex, the byte-to-unicode map and BPE. That fallback is what sdc reproduces. With ftfy
installed the text would also be "fixed" (HTML entities unescaped, mojibake repaired, ...).

Two effects of transformers' added-token handling are part of the recorded behaviour: the
literal strings "<|startoftext|>" and "<|endoftext|>" inside a prompt are split out as the
special tokens 49406/49407; and with pad "!" the pad token is an added special token too, so
every "!" in a prompt becomes its own token, id 0 (no "</w>"), instead of being merged by BPE
("!!!" -> three ids 0, where the SD 1.x tokenizer gives the single BPE token "!!!</w>").

The pipelines call `tokenizer(prompt, padding="max_length", max_length=77, truncation=True,
return_tensors="np")`: truncation keeps <|startoftext|>, the first 75 tokens and puts
<|endoftext|> last; padding fills with the pad id. Attention masks are not used by SD and are
not stored.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np

import common

OUT = common.FIXTURES / "tokenizer"
CLIP_DATA = common.REPO / "tests" / "data" / "clip"
MAX_LENGTH = 77

CONVENTIONS = {
    # name: (pad token, where it is used)
    "pad_eot": ("<|endoftext|>", "SD 1.x tokenizer/ (pad id 49407)"),
    "pad_excl": ("!", "SD 2.x tokenizer/, SDXL tokenizer_2/ (pad id 0)"),
}


def _added_token(content: str) -> dict:
    return {"__type": "AddedToken", "content": content, "lstrip": False, "normalized": True,
            "rstrip": False, "single_word": False}


def tokenizer_files(pad_token: str) -> tuple[dict, dict]:
    """tokenizer_config.json and special_tokens_map.json as the SD model folders have them."""
    config = {
        "add_prefix_space": False,
        "bos_token": _added_token("<|startoftext|>"),
        "do_lower_case": True,
        "eos_token": _added_token("<|endoftext|>"),
        "errors": "replace",
        "model_max_length": MAX_LENGTH,
        "pad_token": pad_token,
        "tokenizer_class": "CLIPTokenizer",
        "unk_token": _added_token("<|endoftext|>"),
    }
    special = {}
    for key in ["bos_token", "eos_token", "pad_token", "unk_token"]:
        v = config[key]
        special[key] = {k: x for k, x in v.items() if k != "__type"} if isinstance(v, dict) else v
    return config, special


def load_tokenizer(folder: Path, pad_token: str):
    from transformers import CLIPTokenizer

    for name in ["vocab.json", "merges.txt"]:
        shutil.copyfile(CLIP_DATA / name, folder / name)
    config, special = tokenizer_files(pad_token)
    common.write_json(folder / "tokenizer_config.json", config)
    common.write_json(folder / "special_tokens_map.json", special)
    tok = CLIPTokenizer.from_pretrained(str(folder))
    assert tok.fix_text is None, "ftfy path active"
    assert tok.model_max_length == MAX_LENGTH
    assert tok.bos_token_id == 49406 and tok.eos_token_id == 49407 and tok.unk_token_id == 49407
    return tok


# ----------------------------------------------------------------------------------------
# The corpus. Every prompt has a category so a failing case is easy to place.

HAND: list[tuple[str, str]] = [
    # plain
    ("plain", "a photo of an astronaut riding a horse on mars"),
    ("plain", "A photograph of an astronaut riding a horse"),
    ("plain", "a beautiful landscape painting of mountains at sunset, highly detailed, 4k"),
    ("plain", "portrait of a cat wearing a wizard hat, digital art, trending on artstation"),
    ("plain", "The quick brown fox jumps over the lazy dog."),
    ("plain", "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG"),
    ("plain", "cyberpunk city street at night, neon lights, rain, reflections, octane render"),
    ("plain", "a bowl of fruit"),
    ("plain", "x"),
    ("plain", "I"),
    # empty and whitespace only
    ("empty", ""),
    ("whitespace", " "),
    ("whitespace", "   "),
    ("whitespace", "\t"),
    ("whitespace", "\n"),
    ("whitespace", "\r\n"),
    ("whitespace", " \t \n \r "),
    ("whitespace", "  leading spaces"),
    ("whitespace", "trailing spaces   "),
    ("whitespace", "   both ends   "),
    ("whitespace", "multiple    spaces     between    words"),
    ("whitespace", "tab\tseparated\twords"),
    ("whitespace", "line one\nline two\nline three"),
    ("whitespace", "windows\r\nline\r\nendings"),
    ("whitespace", "old mac\rline endings"),
    ("whitespace", "\n\n\nnewlines first"),
    ("whitespace", "no\u00a0break\u00a0space"),
    ("whitespace", "ideographic\u3000space"),
    ("whitespace", "en\u2002em\u2003thin\u2009hair\u200aspaces"),
    ("whitespace", "line\u2028separator and paragraph\u2029separator"),
    ("whitespace", "vertical\x0btab and form\x0cfeed"),
    ("whitespace", "next\x85line"),
    ("whitespace", "file\x1cgroup\x1drecord\x1eunit\x1fseparators"),
    # control and format characters
    ("control", "nul\x00char"),
    ("control", "\x00"),
    ("control", "bell\x07ring"),
    ("control", "escape \x1b[31mred\x1b[0m text"),
    ("control", "del\x7fete"),
    ("control", "c1\x80\x9fcontrols"),
    ("control", "zero\u200bwidth\u200bspace"),
    ("control", "zero\u200cwidth\u200dnon joiner and joiner"),
    ("control", "soft\u00adhyphen"),
    ("control", "\ufeffbyte order mark"),
    ("control", "right\u202eto left override"),
    ("control", "word\u2060joiner"),
    ("control", "replacement \ufffd char"),
    ("control", "private use \ue000\uf8ff chars"),
    ("control", "unassigned \u0378 code point"),
    ("control", "supplementary private \U000f0000 plane"),
    # special-token strings
    ("special", "<|startoftext|>"),
    ("special", "<|endoftext|>"),
    ("special", "<|startoftext|><|endoftext|>"),
    ("special", "<|startoftext|>a photo of a cat<|endoftext|>"),
    ("special", "a cat <|endoftext|> a dog"),
    ("special", "before<|endoftext|>after"),
    ("special", "<|endoftext|><|endoftext|><|endoftext|>"),
    ("special", "<|ENDOFTEXT|>"),
    ("special", "<|StartOfText|> mixed case"),
    ("special", "< |endoftext| >"),
    ("special", "<|endoftext"),
    ("special", "endoftext|>"),
    ("special", "<|endoftext|"),
    ("special", "<||>"),
    ("special", "<|>"),
    ("special", "<s> </s> <pad> <unk> [CLS] [SEP] [MASK]"),
    # exclamation marks (pad "!" is an added special token in the SD 2.x tokenizer)
    ("exclamation", "!"),
    ("exclamation", "!!"),
    ("exclamation", "!!!"),
    ("exclamation", "wow!"),
    ("exclamation", "hello! world!"),
    ("exclamation", "!important"),
    ("exclamation", "what?!"),
    ("exclamation", "!?!?!?"),
    ("exclamation", "a!b!c"),
    ("exclamation", "(!)"),
    ("exclamation", "\u00a1hola!"),
    ("exclamation", "\uff01 fullwidth exclamation"),
    # punctuation runs
    ("punctuation", "..."),
    ("punctuation", "......"),
    ("punctuation", "hello, world."),
    ("punctuation", "a,b,c,d"),
    ("punctuation", "a, b, c, d"),
    ("punctuation", "wait... what???"),
    ("punctuation", "--- *** ___ ==="),
    ("punctuation", "((((masterpiece))))"),
    ("punctuation", "(masterpiece:1.2), (best quality:1.4), [blurry], {detailed}"),
    ("punctuation", "<lora:add_detail:0.8> a portrait"),
    ("punctuation", "[cat|dog] in a field"),
    ("punctuation", "a photo BREAK a painting"),
    ("punctuation", "#sunset #beach @photographer"),
    ("punctuation", "https://example.com/path/to/page?query=1&other=two#frag"),
    ("punctuation", "user.name+tag@example.co.uk"),
    ("punctuation", "C:\\Users\\me\\Pictures\\img.png"),
    ("punctuation", "/usr/local/bin/sdc --seed 42"),
    ("punctuation", "print('hello, world')"),
    ("punctuation", "x^2 + y^2 = z^2; f(x) = 3*x - 1/2"),
    ("punctuation", "snake_case_name and kebab-case-name and CamelCaseName"),
    ("punctuation", "\"double quoted\" and 'single quoted'"),
    ("punctuation", "!@#$%^&*()_+-=[]{}|;:,.<>?/`~"),
    ("punctuation", "\u2026 ellipsis \u2014 em dash \u2013 en dash"),
    ("punctuation", "\u00ab guillemets \u00bb \u2039single\u203a"),
    ("punctuation", "\u00bfqu\u00e9? \u00a1s\u00ed!"),
    ("punctuation", "\u2122 \u00a9 \u00ae \u00b0C 25\u00b0 \u00b1 \u00d7 \u00f7"),
    ("punctuation", "\u2192 \u2190 \u2191 \u2193 \u21d2 \u2194"),
    ("punctuation", "\u2211 \u222b \u221a \u221e \u2248 \u2260 \u2264 \u2265"),
    ("punctuation", "\u2022 bullet \u00b7 middle dot \u2023 triangle"),
    ("punctuation", "\u300c\u65e5\u672c\u300d\u3002\u3001"),
    # HTML entities (ftfy would unescape these; the fallback does not)
    ("html", "fish &amp; chips"),
    ("html", "&lt;b&gt;bold&lt;/b&gt;"),
    ("html", "&quot;quoted&quot; &#39;apos&#39; &nbsp; &copy; &#x263A;"),
    ("html", "<b>bold</b> <i>italic</i> <br/>"),
    ("html", "AT&T and R&D"),
    # apostrophes and contractions
    ("contraction", "it's a dog's life"),
    ("contraction", "don't won't can't shouldn't"),
    ("contraction", "they're we're you're"),
    ("contraction", "I've we've they've"),
    ("contraction", "I'm"),
    ("contraction", "I'll we'll she'll"),
    ("contraction", "I'd he'd they'd"),
    ("contraction", "IT'S DON'T THEY'RE I'VE I'M I'LL I'D"),
    ("contraction", "It'S DoN'T tHeY'rE"),
    ("contraction", "'s 't 're 've 'm 'll 'd"),
    ("contraction", "'S 'T 'RE 'VE 'M 'LL 'D"),
    ("contraction", "'sup 'tis 'twas 'em 'round"),
    ("contraction", "rock 'n' roll"),
    ("contraction", "ma'am o'clock y'all"),
    ("contraction", "the dogs' bones and James's hat"),
    ("contraction", "''s '''d ''"),
    ("contraction", "'"),
    ("contraction", "'s"),
    ("contraction", "s'"),
    ("contraction", "x'sy"),
    ("contraction", "don\u2019t it\u2019s they\u2019re I\u2019ve I\u2019m I\u2019ll I\u2019d"),
    ("contraction", "\u2018single curly\u2019 \u201cdouble curly\u201d"),
    ("contraction", "\u201elow double\u201c \u201asingle low\u2018"),
    ("contraction", "prime \u2032 double prime \u2033 modifier \u02bc apostrophe"),
    ("contraction", "fullwidth \uff07s apostrophe"),
    ("contraction", "backtick `s and acute \u00b4s"),
    # digits and numbers
    ("number", "0"),
    ("number", "7"),
    ("number", "42"),
    ("number", "1234567890"),
    ("number", "3141592653589793238462643383279502884197"),
    ("number", "3.14159"),
    ("number", "1,000,000"),
    ("number", "-273.15"),
    ("number", "1e-5 and 6.02e23"),
    ("number", "0x1F 0b1010 0o17"),
    ("number", "2024-01-15T12:34:56Z"),
    ("number", "version 2.0.1"),
    ("number", "10% off, $99.99, \u20ac5, \u00a3100, \u00a5500"),
    ("number", "1st 2nd 3rd 4th 21st"),
    ("number", "4k 8k 1080p 16:9 3:2"),
    ("number", "a1b2c3d4"),
    ("number", "R2D2 C3PO"),
    ("number", "\u00bd \u00bc \u00be \u2153"),
    ("number", "x\u00b2 y\u00b3 10\u2076 H\u2082O"),
    ("number", "\u2460\u2461\u2462 circled"),
    ("number", "\u2160\u2161\u2162\u216b roman numerals"),
    ("number", "\u0661\u0662\u0663 arabic-indic digits"),
    ("number", "\u0967\u0968\u0969 devanagari digits"),
    ("number", "\uff11\uff12\uff13 fullwidth digits"),
    ("number", "\u4e00\u4e8c\u4e09 \u5341 \u767e chinese numerals"),
    ("number", "\U0001d7ce\U0001d7cf mathematical digits"),
    # accents and case folding
    ("accent", "caf\u00e9"),
    ("accent", "cafe\u0301 (decomposed)"),
    ("accent", "na\u00efve"),
    ("accent", "\u00c5ngstr\u00f6m"),
    ("accent", "\u212bngstr\u00f6m (angstrom sign)"),
    ("accent", "A\u030angstro\u0308m (combining)"),
    ("accent", "r\u00e9sum\u00e9 jalape\u00f1o Z\u00fcrich"),
    ("accent", "cr\u00e8me br\u00fbl\u00e9e fa\u00e7ade"),
    ("accent", "Dvo\u0159\u00e1k \u0141\u00f3d\u017a Ki\u015fi"),
    ("accent", "CAF\u00c9 NA\u00cfVE \u00c5NGSTR\u00d6M"),
    ("accent", "Stra\u00dfe STRASSE \u1e9e"),
    ("accent", "\u0130stanbul \u0131\u0131 I\u0307"),
    ("accent", "\u039f\u0394\u039f\u03a3 \u03a3\u039f\u03a6\u0399\u0391 \u03c3\u03bf\u03c6\u03af\u03b1"),
    ("accent", "\ufb01nancial \ufb02ower \ufb00 ligatures"),
    ("accent", "\u01c4 \u01c5 \u01c6 digraphs"),
    ("accent", "\u00c6sir \u0152uvre \u00d8resund"),
    ("accent", "\u1ebfn \u1ec7 Vi\u1ec7t Nam"),
    ("accent", "e\u0301\u0302\u0303\u0304 stacked marks"),
    ("accent", "\u0332u\u0332n\u0332d\u0332e\u0332r\u0332l\u0332i\u0332n\u0332e"),
    ("accent", "\uff26\uff35\uff2c\uff2c\uff37\uff29\uff24\uff34\uff28 fullwidth"),
    ("accent", "\U0001d400\U0001d401\U0001d402 math bold"),
    # emoji
    ("emoji", "\U0001f600"),
    ("emoji", "a cat \U0001f431 and a dog \U0001f436"),
    ("emoji", "\U0001f600\U0001f603\U0001f604\U0001f601"),
    ("emoji", "\U0001f44d\U0001f3fd thumbs up medium skin"),
    ("emoji", "\U0001f44b\U0001f3fb\U0001f44b\U0001f3fc\U0001f44b\U0001f3fd\U0001f44b\U0001f3fe\U0001f44b\U0001f3ff"),
    ("emoji", "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466 family"),
    ("emoji", "\U0001f9d1\U0001f3ff\u200d\U0001f680 astronaut"),
    ("emoji", "\U0001f3f3\ufe0f\u200d\U0001f308 rainbow flag"),
    ("emoji", "\u2764\ufe0f red heart"),
    ("emoji", "\u2764 heart without selector"),
    ("emoji", "\U0001f1fa\U0001f1f8 \U0001f1ef\U0001f1f5 flags"),
    ("emoji", "1\ufe0f\u20e3 keycap"),
    ("emoji", "\u263a\ufe0f \u263a\ufe0e text and emoji style"),
    ("emoji", "\U0001f525\U0001f525\U0001f525 fire"),
    ("emoji", "sunset\U0001f305beach\U0001f3d6"),
    ("emoji", "\U0001f937\u200d\u2642\ufe0f shrug"),
    # CJK
    ("cjk", "\u6771\u4eac\u30bf\u30ef\u30fc\u306e\u591c\u666f"),
    ("cjk", "\u4e00\u53ea\u732b\u5750\u5728\u7a97\u53f0\u4e0a"),
    ("cjk", "\u732b"),
    ("cjk", "\u3072\u3089\u304c\u306a \u30ab\u30bf\u30ab\u30ca \u6f22\u5b57"),
    ("cjk", "\uff76\uff80\uff76\uff85 halfwidth katakana"),
    ("cjk", "\ud55c\uad6d\uc5b4 \ubb38\uc7a5\uc785\ub2c8\ub2e4"),
    ("cjk", "mixed\u4e2d\u6587and English\u65e5\u672c\u8a9e"),
    ("cjk", "\U00020000\U0002a6d6 extension B"),
    ("cjk", "\u3400 extension A \uf900 compatibility"),
    ("cjk", "\u5bcc\u58eb\u5c71\u3068\u685c\u3001\u6d6e\u4e16\u7d75\u98a8"),
    # other scripts
    ("script", "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440!"),
    ("script", "\u0401\u0416\u0418\u041a \u0432 \u0442\u0443\u043c\u0430\u043d\u0435"),
    ("script", "\u043a\u043e\u0448\u043a\u0430 \u0441\u0438\u0434\u0438\u0442 \u043d\u0430 \u043e\u043a\u043d\u0435"),
    ("script", "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645"),
    ("script", "\u0645\u064e\u0631\u0652\u062d\u064e\u0628\u064b\u0627 with tashkeel"),
    ("script", "\u0646\u0635 \u0639\u0631\u0628\u064a with English"),
    ("script", "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e"),
    ("script", "\u0939\u093f\u0928\u094d\u0926\u0940 \u092e\u0947\u0902 \u090f\u0915 \u092c\u093f\u0932\u094d\u0932\u0940"),
    ("script", "\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd"),
    ("script", "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35\u0e04\u0e23\u0e31\u0e1a"),
    ("script", "\u10d2\u10d0\u10db\u10d0\u10e0\u10ef\u10dd\u10d1\u10d0"),
    ("script", "\u0532\u0561\u0580\u0587 \u0561\u0577\u056d\u0561\u0580\u0570"),
    ("script", "\u12a0\u121b\u122d\u129b"),
    ("script", "\u0ba4\u0bae\u0bbf\u0bb4\u0bcd \u0c24\u0c46\u0c32\u0c41\u0c17\u0c41"),
    ("script", "\u1780\u1798\u17d2\u1796\u17bb\u1787\u17b6"),
    ("script", "\u13e3\u13b3\u13a9 cherokee"),
    # BPE stress
    ("bpe", "pneumonoultramicroscopicsilicovolcanoconiosis"),
    ("bpe", "supercalifragilisticexpialidocious"),
    ("bpe", "antidisestablishmentarianism"),
    ("bpe", "Llanfairpwllgwyngyllgogerychwyrndrobwllllantysiliogogogoch"),
    ("bpe", "hippopotomonstrosesquippedaliophobia"),
    ("bpe", "floccinaucinihilipilification"),
    ("bpe", "qwertyuiopasdfghjklzxcvbnm"),
    ("bpe", "xqzjvkwpfgbh"),
    ("bpe", "mississippi bookkeeper committee"),
    ("bpe", "abababababababababab"),
    ("bpe", "lolololololololololol"),
    ("bpe", "hmmmmmmmmmmmmmmm"),
    ("bpe", "noooooooooooooooooooo"),
    ("bpe", "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"),
    ("bpe", "HelloWorldFooBarBazQux"),
    ("bpe", "photorealistic hyperrealistic ultradetailed unrealengine"),
    ("bpe", "greg rutkowski alphonse mucha artgerm wlop"),
    ("bpe", "jekyll jekyll jekyll"),
    ("bpe", "\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9"),
    ("bpe", "\U0001f600" * 12),
]

SUBJECTS = ["a red fox", "an old lighthouse", "a bowl of ramen", "a steam locomotive", "two astronauts",
            "a medieval castle", "a koi pond", "the skyline of new york", "a robot barista",
            "a field of sunflowers", "an owl", "a vintage sports car"]
STYLES = ["oil painting", "watercolor", "pencil sketch", "35mm film photo", "isometric 3d render",
          "ukiyo-e woodblock print", "pixel art", "studio ghibli style"]
MODIFIERS = ["highly detailed", "dramatic lighting", "golden hour", "8k uhd", "soft focus",
             "wide angle", "bokeh", "muted colors", "trending on artstation", "volumetric fog"]


def _generated() -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    # every printable ASCII character alone, and each punctuation char between letters and doubled
    for c in range(0x20, 0x7F):
        out.append(("ascii", chr(c)))
    for c in "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~":
        out.append(("ascii_pair", f"a{c}b {c}{c}"))
    # Latin-1 letters and symbols alone (byte-level mapping of 2-byte UTF-8)
    for c in range(0xA1, 0x100, 6):
        out.append(("latin1", chr(c)))
    # template prompts: subject, style and two modifiers, varied case and separators
    seps = [", ", ",", " , ", "; ", " | "]
    for i in range(32):
        subject = SUBJECTS[i % len(SUBJECTS)]
        style = STYLES[(i * 5 + 1) % len(STYLES)]
        m1 = MODIFIERS[(i * 3) % len(MODIFIERS)]
        m2 = MODIFIERS[(i * 7 + 2) % len(MODIFIERS)]
        sep = seps[i % len(seps)]
        text = sep.join([f"{subject}", f"{style}", m1, m2])
        if i % 4 == 1:
            text = text.upper()
        elif i % 4 == 2:
            text = text.title()
        out.append(("template", text))
    # digit strings of growing length (each digit is its own token)
    for n in [2, 3, 5, 9, 16, 40]:
        out.append(("number_run", "".join(str((k * 7 + 3) % 10) for k in range(n))))
    # repeated characters: BPE merges of long runs
    for n in [1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 31, 64, 200]:
        out.append(("repeat", "a" * n))
    for ch, n in [("e", 25), ("o", 40), ("x", 33), ("1", 20), (".", 50), ("-", 30), ("!", 12),
                  ("\u00e9", 10), ("\u732b", 9), ("\U0001f525", 5)]:
        out.append(("repeat", ch * n))
    # lengths around the 77-token window: "a" is one token, so n words give n + 2 ids
    for n in [74, 75, 76, 77, 78, 100]:
        out.append(("length", " ".join(["a"] * n)))
    # a multi-token word straddling the truncation point
    out.append(("length", " ".join(["cat"] * 74) + " pneumonoultramicroscopicsilicovolcanoconiosis dog"))
    # long natural prompts
    long1 = ", ".join(f"{SUBJECTS[k % 12]} in {STYLES[k % 8]} style with {MODIFIERS[k % 10]}" for k in range(12))
    out.append(("long", long1))
    long2 = " ".join(f"word{k}" for k in range(150))
    out.append(("long", long2))
    long3 = ("masterpiece, best quality, ultra-detailed, illustration, " * 8).strip()
    out.append(("long", long3))
    out.append(("long", "The quick brown fox jumps over the lazy dog. " * 12))
    return out


def corpus() -> list[tuple[str, str]]:
    items = HAND + _generated()
    seen = set()
    unique = []
    for cat, text in items:
        if text in seen:
            continue
        seen.add(text)
        unique.append((cat, text))
    return unique


# ----------------------------------------------------------------------------------------


def generate(ctx: common.Context) -> None:
    try:
        import ftfy  # noqa: F401
    except ImportError:
        pass
    else:
        raise RuntimeError("ftfy is installed: CLIPTokenizer would use ftfy.fix_text instead of the "
                           "BasicTokenizer fallback that sdc reproduces; run without ftfy")

    prompts = corpus()
    texts = [t for _, t in prompts]
    arrays: dict[str, np.ndarray] = {}
    tokens: dict[str, list[list[str]]] = {}
    configs: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (pad, _) in CONVENTIONS.items():
            folder = Path(tmp) / name
            folder.mkdir()
            tok = load_tokenizer(folder, pad)
            config, special = tokenizer_files(pad)
            configs[name] = {"tokenizer_config": config, "special_tokens_map": special,
                             "pad_token_id": int(tok.pad_token_id)}
            padded = tok(texts, padding="max_length", max_length=MAX_LENGTH, truncation=True,
                         return_tensors="np").input_ids
            per_prompt = [tok(t, padding="max_length", max_length=MAX_LENGTH, truncation=True,
                              return_tensors="np").input_ids[0] for t in texts]
            assert all(np.array_equal(a, b) for a, b in zip(padded, per_prompt)), "batch != single"
            full = [tok(t).input_ids for t in texts]
            offsets = np.zeros(len(texts) + 1, dtype=np.int64)
            offsets[1:] = np.cumsum([len(ids) for ids in full])
            arrays[f"{name}.input_ids"] = padded.astype(np.int64)
            arrays[f"{name}.ids_flat"] = np.array([i for ids in full for i in ids], dtype=np.int64)
            arrays[f"{name}.ids_offsets"] = offsets
            tokens[name] = [tok.tokenize(t) for t in texts]
            for t, ids, toks in zip(texts, full, tokens[name]):
                assert ids[1:-1] == tok.convert_tokens_to_ids(toks), t

    st_path = OUT / "clip_ids.safetensors"
    tensors = common.save_arrays(st_path, arrays)

    json_path = OUT / "clip_prompts.json"
    records = []
    for i, (cat, text) in enumerate(prompts):
        rec = {"index": i, "category": cat, "text": text,
               "tokens_pad_eot": tokens["pad_eot"][i], "tokens_pad_excl": tokens["pad_excl"][i]}
        records.append(rec)
    common.write_json(json_path, {
        "max_length": MAX_LENGTH,
        "conventions": {k: {"pad_token": v[0], "used_by": v[1]} for k, v in CONVENTIONS.items()},
        "prompts": records,
    })

    n = len(prompts)
    n_truncated = int(np.sum(np.diff(arrays["pad_eot.ids_offsets"]) > MAX_LENGTH))
    n_differ = sum(1 for a, b in zip(tokens["pad_eot"], tokens["pad_excl"]) if a != b)
    tok_expr = "transformers.CLIPTokenizer.from_pretrained(folder)"
    folder_note = (" (folder = tests/data/clip/vocab.json and merges.txt + the convention's "
                   "tokenizer_config.json and special_tokens_map.json, recorded in 'conventions' of "
                   "tokenizer/clip_ids.safetensors)")
    common_extra = {
        "ftfy_installed": False,
        "text_cleaning": "BasicTokenizer(strip_accents=False, do_split_on_punc=False) fallback (no ftfy)",
        "attention_mask": "not stored: SD pipelines do not pass it to the text encoder",
        "conventions": configs,
        "n_prompts": n,
        "n_prompts_longer_than_77_ids": n_truncated,
        "n_prompts_tokenized_differently_by_pad_convention": n_differ,
    }
    ctx.add(
        st_path, "safetensors",
        f"CLIP token ids for the {n} prompts of clip_prompts.json (same order), for each pad "
        "convention (tensor prefix pad_eot = pad '<|endoftext|>' SD 1.x, pad_excl = pad '!' SD 2.x / "
        "SDXL tokenizer_2). <prefix>.input_ids I64 [N,77]: what the pipelines feed the text encoder. "
        "<prefix>.ids_flat / <prefix>.ids_offsets: untruncated ids incl. start/end tokens, prompt i is "
        "ids_flat[ids_offsets[i]:ids_offsets[i+1]].",
        f"tok = {tok_expr}; tok(prompts, padding='max_length', max_length=77, truncation=True, "
        "return_tensors='np').input_ids; [tok(prompt).input_ids for prompt in prompts]" + folder_note,
        tensors=tensors, **common_extra,
    )
    ctx.add(
        json_path, "json",
        "The prompt corpus (UTF-8, not ASCII-escaped) with a category per prompt and the BPE token "
        "strings of tok.tokenize(prompt) for each pad convention (byte-level unicode, '</w>' ends a "
        "word; no start/end tokens, no truncation).",
        f"tok = {tok_expr}; [tok.tokenize(prompt) for prompt in prompts]" + folder_note,
        n_prompts=n, ftfy_installed=False,
    )
