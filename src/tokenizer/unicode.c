/*
 * unicode.c — UTF-8, code point properties, str.lower() and NFC as the CLIP tokenizer of
 * transformers 4.44.2 sees them through Python 3.11 (unicodedata 14.0) and the regex module.
 * NFC follows UAX #15 (full decomposition, canonical ordering, composition of unblocked pairs),
 * which is what unicodedata.normalize("NFC", s) computes; the data is in unicode_tables.h.
 */
#include "tokenizer/unicode.h"

#include "tokenizer/unicode_tables.h"

#include <string.h>

static_assert(SDC_TOK_PROP_DROP == UNI_PROP_DROP && SDC_TOK_PROP_WS == UNI_PROP_WS &&
                  SDC_TOK_PROP_SPACE == UNI_PROP_SPACE && SDC_TOK_PROP_LETTER == UNI_PROP_LETTER &&
                  SDC_TOK_PROP_NUMBER == UNI_PROP_NUMBER && SDC_TOK_PROP_OTHER == UNI_PROP_OTHER &&
                  SDC_TOK_PROP_CASED == UNI_PROP_CASED &&
                  SDC_TOK_PROP_CASE_IGN == UNI_PROP_CASE_IGN,
              "unicode.h and unicode_tables.h disagree on the property flags");

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* Hangul syllable arithmetic (Unicode chapter 3.12). */
enum {
    HANGUL_S = 0xAC00,
    HANGUL_L = 0x1100,
    HANGUL_V = 0x1161,
    HANGUL_T = 0x11A7,
    HANGUL_L_COUNT = 19,
    HANGUL_V_COUNT = 21,
    HANGUL_T_COUNT = 28,
    HANGUL_N_COUNT = HANGUL_V_COUNT * HANGUL_T_COUNT,
    HANGUL_S_COUNT = HANGUL_L_COUNT * HANGUL_N_COUNT,
};

/* ---------------------------------------------------------------------------------------- */
/* Buffers                                                                                    */

sdc_status sdc_tok_cps_reserve(sdc_context *ctx, sdc_tok_cps *v, size_t extra)
{
    size_t need;
    if (!sdc_size_add(v->len, extra, &need))
        return sdc_fail(ctx, SDC_STATUS_OUT_OF_MEMORY,
                        "tokenizer: text too long (%zu + %zu code points)", v->len, extra);
    if (need <= v->cap)
        return SDC_STATUS_OK;
    size_t cap = v->cap ? v->cap : 64;
    while (cap < need) {
        if (cap > SIZE_MAX / 2)
            return sdc_fail(ctx, SDC_STATUS_OUT_OF_MEMORY,
                            "tokenizer: text too long (%zu code points)", need);
        cap *= 2;
    }
    size_t bytes;
    if (!sdc_size_mul(cap, sizeof(uint32_t), &bytes))
        return sdc_fail(ctx, SDC_STATUS_OUT_OF_MEMORY, "tokenizer: text too long (%zu code points)",
                        need);
    uint32_t *p = sdc_realloc(ctx, v->data, bytes);
    if (!p)
        return sdc_fail_oom(ctx, "the tokenizer's text buffer", bytes);
    v->data = p;
    v->cap = cap;
    return SDC_STATUS_OK;
}

void sdc_tok_cps_free(sdc_context *ctx, sdc_tok_cps *v)
{
    sdc_free(ctx, v->data);
    memset(v, 0, sizeof *v);
}

/* ---------------------------------------------------------------------------------------- */
/* UTF-8                                                                                      */

bool sdc_tok_utf8_valid(const unsigned char *s, size_t len, size_t *bad_offset)
{
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
        if (c >= 0xC2 && c <= 0xDF) {
            n = 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 3;
            if (c == 0xE0)
                lo = 0xA0; /* overlong */
            else if (c == 0xED)
                hi = 0x9F; /* surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 4;
            if (c == 0xF0)
                lo = 0x90; /* overlong */
            else if (c == 0xF4)
                hi = 0x8F; /* above U+10FFFF */
        } else {
            *bad_offset = i;
            return false;
        }
        if (len - i < n || s[i + 1] < lo || s[i + 1] > hi) {
            *bad_offset = i;
            return false;
        }
        for (size_t k = 2; k < n; k++) {
            if ((s[i + k] & 0xC0) != 0x80) {
                *bad_offset = i;
                return false;
            }
        }
        i += n;
    }
    return true;
}

uint32_t sdc_tok_utf8_next(const unsigned char **p)
{
    const unsigned char *s = *p;
    uint32_t c = s[0];
    if (c < 0x80) {
        *p = s + 1;
        return c;
    }
    if (c < 0xE0) {
        *p = s + 2;
        return ((c & 0x1F) << 6) | (s[1] & 0x3F);
    }
    if (c < 0xF0) {
        *p = s + 3;
        return ((c & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
    }
    *p = s + 4;
    return ((c & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) | ((uint32_t)(s[2] & 0x3F) << 6) |
           (s[3] & 0x3F);
}

size_t sdc_tok_utf8_put(uint32_t cp, unsigned char out[4])
{
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xC0 | (cp >> 6));
        out[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xE0 | (cp >> 12));
        out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (unsigned char)(0xF0 | (cp >> 18));
    out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* ---------------------------------------------------------------------------------------- */
/* Properties                                                                                 */

unsigned sdc_tok_props(uint32_t cp)
{
    if (cp < 256)
        return uni_props_latin1[cp];
    uint32_t key = (cp << 8) | 0xFF;
    size_t lo = 0, hi = N_OF(uni_props); /* find the last entry <= key */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (uni_props[mid] <= key)
            lo = mid;
        else
            hi = mid;
    }
    return uni_props[lo] & 0xFF;
}

bool sdc_tok_is_cjk(uint32_t cp)
{
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
           (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
           (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

char sdc_tok_fold_ascii(uint32_t cp)
{
    if (cp >= 'a' && cp <= 'z')
        return (char)cp;
    if (cp >= 'A' && cp <= 'Z')
        return (char)(cp - 'A' + 'a');
    for (size_t i = 0; i < UNI_N_FOLDS; i++)
        if (uni_folds[i].cp == cp)
            return uni_folds[i].ascii;
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Lower-casing                                                                               */

static uint32_t lower_simple(uint32_t cp)
{
    if (cp < 0x80)
        return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
    size_t lo = 0, hi = N_OF(uni_lower);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (uni_lower[mid].last < cp)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < N_OF(uni_lower) && cp >= uni_lower[lo].first &&
        (cp - uni_lower[lo].first) % uni_lower[lo].stride == 0)
        return (uint32_t)((int32_t)cp + uni_lower[lo].delta);
    return cp;
}

/* CPython's handle_capital_sigma: U+03A3 at i is final when a cased letter precedes it and none
 * follows it, skipping case-ignorable code points on both sides. */
static bool is_final_sigma(const uint32_t *s, size_t n, size_t i)
{
    size_t j = i;
    unsigned p = 0;
    while (j > 0) {
        p = sdc_tok_props(s[--j]);
        if (!(p & SDC_TOK_PROP_CASE_IGN))
            break;
        p = 0;
    }
    if (!(p & SDC_TOK_PROP_CASED))
        return false;
    for (j = i + 1; j < n; j++) {
        p = sdc_tok_props(s[j]);
        if (!(p & SDC_TOK_PROP_CASE_IGN))
            return !(p & SDC_TOK_PROP_CASED);
    }
    return true;
}

sdc_status sdc_tok_lower(sdc_context *ctx, const uint32_t *s, size_t n, sdc_tok_cps *out)
{
    size_t room;
    if (!sdc_size_mul(n, 2, &room))
        return sdc_fail(ctx, SDC_STATUS_OUT_OF_MEMORY, "tokenizer: text too long (%zu code points)",
                        n);
    sdc_status st = sdc_tok_cps_reserve(ctx, out, room);
    if (st != SDC_STATUS_OK)
        return st;
    uint32_t *o = out->data + out->len;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = s[i];
        if (c == 0x130) { /* the only multi-code-point lower case: "i" + combining dot above */
            *o++ = 'i';
            *o++ = 0x307;
        } else if (c == 0x3A3) {
            *o++ = is_final_sigma(s, n, i) ? 0x3C2 : 0x3C3;
        } else {
            *o++ = lower_simple(c);
        }
    }
    out->len = (size_t)(o - out->data);
    return SDC_STATUS_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* NFC                                                                                        */

static unsigned ccc_of(uint32_t cp)
{
    if (cp < 0x300)
        return 0;
    size_t lo = 0, hi = N_OF(uni_ccc);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (uni_ccc[mid].last < cp)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (lo < N_OF(uni_ccc) && cp >= uni_ccc[lo].first) ? uni_ccc[lo].ccc : 0;
}

static const uni_decomp *find_decomp(uint32_t cp)
{
    size_t lo = 0, hi = N_OF(uni_decomps);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (uni_decomps[mid].cp < cp)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (lo < N_OF(uni_decomps) && uni_decomps[lo].cp == cp) ? &uni_decomps[lo] : NULL;
}

/* The longest full canonical decomposition in Unicode 14 has 4 code points; 18 is the bound
 * UAX #15 guarantees for any stream-safe segment and more than enough here. */
#define MAX_DECOMP 18

static size_t decompose(uint32_t cp, uint32_t *out, size_t n)
{
    if (cp >= HANGUL_S && cp < HANGUL_S + HANGUL_S_COUNT) {
        uint32_t s = cp - HANGUL_S;
        out[n++] = HANGUL_L + s / HANGUL_N_COUNT;
        out[n++] = HANGUL_V + (s % HANGUL_N_COUNT) / HANGUL_T_COUNT;
        if (s % HANGUL_T_COUNT)
            out[n++] = HANGUL_T + s % HANGUL_T_COUNT;
        return n;
    }
    const uni_decomp *d = cp < 0xC0 ? NULL : find_decomp(cp);
    if (!d || n + 2 > MAX_DECOMP) {
        out[n++] = cp;
        return n;
    }
    n = decompose(d->first, out, n);
    if (d->second)
        n = decompose(d->second, out, n);
    return n;
}

static uint32_t compose_pair(uint32_t a, uint32_t b)
{
    if (a >= HANGUL_L && a < HANGUL_L + HANGUL_L_COUNT && b >= HANGUL_V &&
        b < HANGUL_V + HANGUL_V_COUNT)
        return HANGUL_S + ((a - HANGUL_L) * HANGUL_V_COUNT + (b - HANGUL_V)) * HANGUL_T_COUNT;
    if (a >= HANGUL_S && a < HANGUL_S + HANGUL_S_COUNT && (a - HANGUL_S) % HANGUL_T_COUNT == 0 &&
        b > HANGUL_T && b < HANGUL_T + HANGUL_T_COUNT)
        return a + (b - HANGUL_T);
    size_t lo = 0, hi = N_OF(uni_compose);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const uni_decomp *d = &uni_decomps[uni_compose[mid]];
        if (d->first < a || (d->first == a && d->second < b))
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < N_OF(uni_compose)) {
        const uni_decomp *d = &uni_decomps[uni_compose[lo]];
        if (d->first == a && d->second == b)
            return d->cp;
    }
    return 0;
}

sdc_status sdc_tok_nfc(sdc_context *ctx, sdc_tok_cps *v, sdc_tok_cps *scratch)
{
    /* Nothing below U+0300 decomposes or combines except the Latin-1 letters with marks. */
    bool plain = true;
    for (size_t i = 0; i < v->len && plain; i++)
        plain = v->data[i] < 0xC0;
    if (plain)
        return SDC_STATUS_OK;

    /* 1. Full canonical decomposition into scratch. */
    scratch->len = 0;
    for (size_t i = 0; i < v->len; i++) {
        sdc_status st = sdc_tok_cps_reserve(ctx, scratch, MAX_DECOMP);
        if (st != SDC_STATUS_OK)
            return st;
        scratch->len += decompose(v->data[i], scratch->data + scratch->len, 0);
    }

    /* 2. Canonical ordering: a stable sort by combining class of each run of non-starters. */
    uint32_t *d = scratch->data;
    size_t n = scratch->len;
    for (size_t i = 1; i < n; i++) {
        unsigned cc = ccc_of(d[i]);
        if (cc == 0)
            continue;
        size_t j = i;
        uint32_t c = d[i];
        while (j > 0) {
            unsigned prev = ccc_of(d[j - 1]);
            if (prev <= cc)
                break;
            d[j] = d[j - 1];
            j--;
        }
        d[j] = c;
    }

    /* 3. Canonical composition: each character joins the last starter unless blocked by a
     * character in between of the same or a higher combining class. */
    if (n > 0) {
        size_t starter_pos = 0, out = 1;
        uint32_t starter = d[0];
        unsigned last_cc = ccc_of(starter) ? 256 : 0;
        for (size_t i = 1; i < n; i++) {
            uint32_t ch = d[i];
            unsigned cc = ccc_of(ch);
            uint32_t composite = compose_pair(starter, ch);
            if (composite && (last_cc < cc || last_cc == 0)) {
                d[starter_pos] = composite;
                starter = composite;
                continue;
            }
            if (cc == 0) {
                starter_pos = out;
                starter = ch;
            }
            last_cc = cc;
            d[out++] = ch;
        }
        n = out;
    }

    /* Swap the buffers: the result lives in v. */
    sdc_tok_cps tmp = *v;
    *v = *scratch;
    v->len = n;
    *scratch = tmp;
    return SDC_STATUS_OK;
}
