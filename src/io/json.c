/*
 * json.c — a strict RFC 8259 JSON parser (values in an arena, exact int64 integers, duplicate
 * keys, invalid UTF-8 and lone surrogates rejected, nesting bounded by SDC_JSON_MAX_DEPTH) and
 * a writer with shortest round-trip doubles. Numbers are read and written in the C locale
 * whatever the process locale is (POSIX uselocale, per thread).
 */
#include "io/io.h"

#include <errno.h>
#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------- */
/* UTF-8                                                                                      */

/* Length of the well-formed UTF-8 sequence at p (Unicode table 3-7: no overlongs, no
 * surrogates, nothing above U+10FFFF), or 0 when the bytes there are not one. */
static size_t utf8_seq_len(const unsigned char *p, size_t avail)
{
    unsigned char c = p[0];
    if (c < 0x80)
        return 1;
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF; /* range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    if (avail < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    return n;
}

static size_t utf8_encode(uint32_t cp, unsigned char *out)
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

const char *sdc_json_quote(const char *s, size_t len, char *out, size_t size)
{
    if (size < 8) {
        if (size > 0)
            out[0] = '\0';
        return out;
    }
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0;
    out[o++] = '"';
    /* Invariant: o + 5 <= size, so there is always room for "...", the quote and the NUL. */
    for (size_t i = 0; i < len;) {
        char piece[8];
        size_t n = utf8_seq_len(p + i, len - i), used = n;
        if (n == 1 && (p[i] == '"' || p[i] == '\\')) {
            piece[0] = '\\';
            piece[1] = (char)p[i];
            n = 2;
        } else if (n == 0 || (n == 1 && (p[i] < 0x20 || p[i] == 0x7F))) {
            snprintf(piece, sizeof piece, "\\x%02x", p[i]);
            n = 4;
            used = 1;
        } else {
            memcpy(piece, p + i, n);
        }
        if (o + n + 5 > size) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        memcpy(out + o, piece, n);
        o += n;
        i += used;
    }
    out[o++] = '"';
    out[o] = '\0';
    return out;
}

/* ---------------------------------------------------------------------------------------- */
/* Parser                                                                                     */

/* An object member while its object is being read: the key's position is kept for the
 * duplicate-key message. */
typedef struct pending_member {
    sdc_json_member member;
    uint32_t line, column;
} pending_member;

typedef struct parser {
    sdc_context *ctx;
    const unsigned char *text;
    size_t len, pos;
    size_t line;       /* 1-based line of pos */
    size_t line_start; /* offset of the first byte of that line */
    const char *what;
    const char *key_noun; /* what the keys of the top-level object are, for messages */
    sdc_arena *arena;
    int depth;
    /* Scratch stack of items and members of the containers being read (8-byte units). */
    unsigned char *stack;
    size_t stack_len, stack_cap;
    /* The C locale for strtod, made on first use and restored when parsing ends. */
    locale_t c_locale, old_locale;
} parser;

static uint32_t clamp_u32(size_t v)
{
    return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

static uint32_t column_of(const parser *ps, size_t pos)
{
    return clamp_u32(pos - ps->line_start + 1);
}

static sdc_status fail_lc(parser *ps, uint32_t line, uint32_t column, const char *fmt, ...)
    SDC_PRINTF(4, 5);
static sdc_status fail_lc(parser *ps, uint32_t line, uint32_t column, const char *fmt, ...)
{
    char msg[640];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return sdc_fail(ps->ctx, SDC_STATUS_FORMAT, "%s: line %" PRIu32 ", column %" PRIu32 ": %s",
                    ps->what, line, column, msg);
}

/* The error position is `pos`, which is always on the line being read: strings cannot hold
 * raw newlines, so only whitespace advances the line. */
#define FAIL_AT(ps, pos, ...)                                                                      \
    fail_lc((ps), clamp_u32((ps)->line), column_of((ps), (pos)), __VA_ARGS__)

static sdc_status fail_oom(parser *ps, const char *what_for, size_t bytes)
{
    char msg[256];
    snprintf(msg, sizeof msg, "%s of %s", what_for, ps->what);
    return sdc_fail_oom(ps->ctx, msg, bytes);
}

/* Describes the input at pos for "(got ...)". */
static const char *describe(const parser *ps, size_t pos, char *buf, size_t size)
{
    if (pos >= ps->len)
        return "end of input";
    unsigned char c = ps->text[pos];
    if (c > 0x20 && c < 0x7F)
        snprintf(buf, size, "'%c'", c);
    else if (c == ' ')
        snprintf(buf, size, "a space");
    else
        snprintf(buf, size, "byte 0x%02x", c);
    return buf;
}

static void skip_ws(parser *ps)
{
    while (ps->pos < ps->len) {
        unsigned char c = ps->text[ps->pos];
        if (c == '\n') {
            ps->line++;
            ps->line_start = ps->pos + 1;
        } else if (c != ' ' && c != '\t' && c != '\r') {
            return;
        }
        ps->pos++;
    }
}

/* Makes room for `bytes` more bytes on the scratch stack without pushing them. */
static sdc_status reserve(parser *ps, size_t bytes)
{
    size_t need;
    if (!sdc_size_add(ps->stack_len, bytes, &need))
        return fail_oom(ps, "the parse stack", SIZE_MAX);
    if (need <= ps->stack_cap)
        return SDC_STATUS_OK;
    size_t cap = ps->stack_cap ? ps->stack_cap : 1024;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    unsigned char *p = sdc_realloc(ps->ctx, ps->stack, cap);
    if (!p)
        return fail_oom(ps, "the parse stack", cap);
    ps->stack = p;
    ps->stack_cap = cap;
    return SDC_STATUS_OK;
}

static sdc_status push(parser *ps, const void *data, size_t bytes)
{
    sdc_status st = reserve(ps, bytes);
    if (st != SDC_STATUS_OK)
        return st;
    memcpy(ps->stack + ps->stack_len, data, bytes);
    ps->stack_len += bytes;
    return SDC_STATUS_OK;
}

static void *arena_alloc(parser *ps, size_t bytes, size_t align)
{
    void *p = sdc_arena_alloc(ps->arena, bytes ? bytes : 1, align);
    if (!p)
        fail_oom(ps, "JSON values", bytes);
    return p;
}

static sdc_json *new_value(parser *ps, sdc_json_type type, size_t pos)
{
    sdc_json *v = arena_alloc(ps, sizeof *v, _Alignof(sdc_json));
    if (v) {
        memset(v, 0, sizeof *v);
        v->type = type;
        v->line = clamp_u32(ps->line);
        v->column = column_of(ps, pos);
    }
    return v;
}

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Reads the four hex digits of a \u escape whose backslash is at pos. */
static sdc_status read_u_escape(parser *ps, size_t pos, size_t end, uint32_t *cp)
{
    uint32_t v = 0;
    for (size_t i = 0; i < 4; i++) {
        size_t at = pos + 2 + i;
        int h = at < end ? hex_value(ps->text[at]) : -1;
        if (h < 0) {
            char got[32];
            return FAIL_AT(ps, at, "expected 4 hex digits after \\u (got %s)",
                           at < end ? describe(ps, at, got, sizeof got) : "end of string");
        }
        v = v * 16 + (uint32_t)h;
    }
    *cp = v;
    return SDC_STATUS_OK;
}

/* Reads the string whose opening quote is at ps->pos into the arena: decoded, validated,
 * NUL-terminated. */
static sdc_status parse_string(parser *ps, const char **chars, size_t *len)
{
    const unsigned char *t = ps->text;
    size_t open = ps->pos, start = open + 1, end = start;
    while (end < ps->len && t[end] != '"')
        end += t[end] == '\\' ? 2 : 1;
    if (end >= ps->len)
        return FAIL_AT(ps, open, "expected a closing '\"' for this string (got end of input)");

    unsigned char *out = arena_alloc(ps, end - start + 1, 1);
    if (!out)
        return SDC_STATUS_OUT_OF_MEMORY;
    size_t o = 0;
    char got[32];
    for (size_t i = start; i < end;) {
        unsigned char c = t[i];
        if (c < 0x20)
            return FAIL_AT(ps, i,
                           "expected a character in the string (got control character 0x%02x, "
                           "which must be escaped)",
                           c);
        if (c >= 0x80) {
            size_t n = utf8_seq_len(t + i, end - i);
            if (n == 0)
                return FAIL_AT(ps, i,
                               "expected valid UTF-8 (got byte 0x%02x starting an invalid, "
                               "overlong, surrogate or out-of-range sequence)",
                               c);
            memcpy(out + o, t + i, n);
            o += n;
            i += n;
            continue;
        }
        if (c != '\\') {
            out[o++] = c;
            i++;
            continue;
        }
        unsigned char e = t[i + 1]; /* i + 1 < end: the scan above skipped escaped bytes */
        static const char simple_from[] = "\"\\/bfnrt", simple_to[] = "\"\\/\b\f\n\r\t";
        const char *s = e ? strchr(simple_from, e) : NULL;
        if (s) {
            out[o++] = (unsigned char)simple_to[s - simple_from];
            i += 2;
            continue;
        }
        if (e != 'u')
            return FAIL_AT(ps, i + 1,
                           "expected one of \" \\ / b f n r t u after a backslash (got %s)",
                           describe(ps, i + 1, got, sizeof got));
        uint32_t cp;
        sdc_status st = read_u_escape(ps, i, end, &cp);
        if (st != SDC_STATUS_OK)
            return st;
        if (cp >= 0xDC00 && cp <= 0xDFFF)
            return FAIL_AT(ps, i,
                           "lone low surrogate \\u%04" PRIX32
                           " (expected a high surrogate \\uD800-\\uDBFF before it)",
                           cp);
        i += 6;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t lo = 0;
            if (i + 1 >= end || t[i] != '\\' || t[i + 1] != 'u')
                return FAIL_AT(ps, i - 6,
                               "lone high surrogate \\u%04" PRIX32
                               " (expected a low surrogate \\uDC00-\\uDFFF after it)",
                               cp);
            st = read_u_escape(ps, i, end, &lo);
            if (st != SDC_STATUS_OK)
                return st;
            if (lo < 0xDC00 || lo > 0xDFFF)
                return FAIL_AT(ps, i,
                               "expected a low surrogate \\uDC00-\\uDFFF after \\u%04" PRIX32
                               " (got \\u%04" PRIX32 ")",
                               cp, lo);
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            i += 6;
        }
        o += utf8_encode(cp, out + o);
    }
    out[o] = '\0';
    *chars = (const char *)out;
    *len = o;
    ps->pos = end + 1;
    return SDC_STATUS_OK;
}

static sdc_status strtod_c(parser *ps, const char *s, double *out)
{
    if (ps->c_locale == (locale_t)0) {
        ps->c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
        if (ps->c_locale == (locale_t)0)
            return sdc_fail(ps->ctx, SDC_STATUS_OUT_OF_MEMORY,
                            "%s: cannot create the C locale to read numbers in", ps->what);
        ps->old_locale = uselocale(ps->c_locale);
    }
    errno = 0;
    *out = strtod(s, NULL);
    return SDC_STATUS_OK;
}

static size_t skip_digits(const parser *ps, size_t i)
{
    while (i < ps->len && ps->text[i] >= '0' && ps->text[i] <= '9')
        i++;
    return i;
}

static sdc_status parse_number(parser *ps, sdc_json **out)
{
    const unsigned char *t = ps->text;
    size_t start = ps->pos, i = start;
    char got[32];
    bool negative = i < ps->len && t[i] == '-';
    if (negative)
        i++;
    if (i >= ps->len || t[i] < '0' || t[i] > '9')
        return FAIL_AT(ps, i, "expected a digit (got %s)", describe(ps, i, got, sizeof got));
    size_t int_start = i;
    if (t[i] == '0') {
        i++;
        if (i < ps->len && t[i] >= '0' && t[i] <= '9')
            return FAIL_AT(ps, int_start,
                           "expected a number without leading zeros (got '0' "
                           "followed by a digit)");
    } else {
        i = skip_digits(ps, i);
    }
    size_t int_end = i;
    bool integral = true;
    if (i < ps->len && t[i] == '.') {
        integral = false;
        i++;
        if (i >= ps->len || t[i] < '0' || t[i] > '9')
            return FAIL_AT(ps, i, "expected a digit after the decimal point (got %s)",
                           describe(ps, i, got, sizeof got));
        i = skip_digits(ps, i);
    }
    if (i < ps->len && (t[i] == 'e' || t[i] == 'E')) {
        integral = false;
        i++;
        if (i < ps->len && (t[i] == '+' || t[i] == '-'))
            i++;
        if (i >= ps->len || t[i] < '0' || t[i] > '9')
            return FAIL_AT(ps, i, "expected a digit in the exponent (got %s)",
                           describe(ps, i, got, sizeof got));
        i = skip_digits(ps, i);
    }

    sdc_json *v = new_value(ps, SDC_JSON_TYPE_NUMBER, start);
    if (!v)
        return SDC_STATUS_OUT_OF_MEMORY;
    if (integral) {
        /* Exact magnitude, if it fits: int64 allows one more on the negative side. */
        uint64_t limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, mag = 0;
        bool fits = true;
        for (size_t k = int_start; k < int_end && fits; k++) {
            uint64_t d = (uint64_t)(t[k] - '0');
            if (mag > (limit - d) / 10)
                fits = false;
            else
                mag = mag * 10 + d;
        }
        if (fits) {
            v->u.number.is_int = true;
            if (negative)
                v->u.number.int_value = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
            else
                v->u.number.int_value = (int64_t)mag;
            v->u.number.value = negative && mag == 0 ? -0.0 : (double)v->u.number.int_value;
            ps->pos = i;
            *out = v;
            return SDC_STATUS_OK;
        }
    }

    /* strtod needs a NUL-terminated copy; it goes above the top of the scratch stack. */
    size_t n = i - start;
    sdc_status st = reserve(ps, n + 1);
    if (st != SDC_STATUS_OK)
        return st;
    char *buf = (char *)ps->stack + ps->stack_len;
    memcpy(buf, t + start, n);
    buf[n] = '\0';
    double d = 0.0;
    st = strtod_c(ps, buf, &d);
    if (st != SDC_STATUS_OK)
        return st;
    if (errno == ERANGE && isinf(d))
        return FAIL_AT(ps, start, "expected a number within the range of a double (got %.*s%s)",
                       (int)(n > 40 ? 40 : n), buf, n > 40 ? "..." : "");
    v->u.number.value = d;
    ps->pos = i;
    *out = v;
    return SDC_STATUS_OK;
}

static sdc_status parse_literal(parser *ps, sdc_json **out)
{
    static const struct {
        const char *word;
        sdc_json_type type;
        bool value;
    } literals[] = {
        {"true", SDC_JSON_TYPE_BOOL, true},
        {"false", SDC_JSON_TYPE_BOOL, false},
        {"null", SDC_JSON_TYPE_NULL, false},
    };
    size_t start = ps->pos;
    unsigned char c = ps->text[start];
    for (size_t k = 0; k < sizeof literals / sizeof literals[0]; k++) {
        const char *w = literals[k].word;
        if (c != (unsigned char)w[0])
            continue;
        size_t n = strlen(w);
        for (size_t j = 1; j < n; j++) {
            if (start + j >= ps->len || ps->text[start + j] != (unsigned char)w[j]) {
                char got[32];
                return FAIL_AT(ps, start + j, "expected '%s' (got %s)", w,
                               describe(ps, start + j, got, sizeof got));
            }
        }
        sdc_json *v = new_value(ps, literals[k].type, start);
        if (!v)
            return SDC_STATUS_OUT_OF_MEMORY;
        v->u.boolean = literals[k].value;
        ps->pos = start + n;
        *out = v;
        return SDC_STATUS_OK;
    }
    char got[32];
    return FAIL_AT(ps, start, "expected a value (got %s)", describe(ps, start, got, sizeof got));
}

static sdc_status parse_value(parser *ps, sdc_json **out);

static sdc_status enter(parser *ps, size_t pos)
{
    if (ps->depth >= SDC_JSON_MAX_DEPTH)
        return FAIL_AT(ps, pos, "expected at most %d nested arrays and objects (got deeper)",
                       SDC_JSON_MAX_DEPTH);
    ps->depth++;
    return SDC_STATUS_OK;
}

static sdc_status parse_array(parser *ps, sdc_json **out)
{
    size_t open = ps->pos, base = ps->stack_len;
    sdc_status st = enter(ps, open);
    if (st != SDC_STATUS_OK)
        return st;
    sdc_json *arr = new_value(ps, SDC_JSON_TYPE_ARRAY, open);
    if (!arr)
        return SDC_STATUS_OUT_OF_MEMORY;
    ps->pos++;
    skip_ws(ps);
    if (ps->pos < ps->len && ps->text[ps->pos] == ']') {
        ps->pos++;
    } else {
        for (;;) {
            sdc_json *item = NULL;
            if ((st = parse_value(ps, &item)) != SDC_STATUS_OK ||
                (st = push(ps, &item, sizeof item)) != SDC_STATUS_OK)
                return st;
            skip_ws(ps);
            unsigned char c = ps->pos < ps->len ? ps->text[ps->pos] : 0;
            if (c == ']' || c == ',') {
                ps->pos++;
                if (c == ']')
                    break;
                continue;
            }
            char got[32];
            return FAIL_AT(ps, ps->pos, "expected ',' or ']' in the array (got %s)",
                           describe(ps, ps->pos, got, sizeof got));
        }
        size_t count = (ps->stack_len - base) / sizeof(sdc_json *);
        sdc_json **items = arena_alloc(ps, count * sizeof *items, _Alignof(sdc_json *));
        if (!items)
            return SDC_STATUS_OUT_OF_MEMORY;
        memcpy(items, ps->stack + base, count * sizeof *items);
        arr->u.array.items = items;
        arr->u.array.count = count;
        ps->stack_len = base;
    }
    ps->depth--;
    *out = arr;
    return SDC_STATUS_OK;
}

static bool same_key(const sdc_json_member *a, const sdc_json_member *b)
{
    return a->key_len == b->key_len && memcmp(a->key, b->key, a->key_len) == 0;
}

/* Orders by key, then by position in the document (the address on the stack). */
static int compare_pending(const void *pa, const void *pb)
{
    const pending_member *a = *(const pending_member *const *)pa;
    const pending_member *b = *(const pending_member *const *)pb;
    size_t n = a->member.key_len < b->member.key_len ? a->member.key_len : b->member.key_len;
    int c = memcmp(a->member.key, b->member.key, n);
    if (c != 0)
        return c;
    if (a->member.key_len != b->member.key_len)
        return a->member.key_len < b->member.key_len ? -1 : 1;
    return a < b ? -1 : a > b;
}

/* Finds the first member (in document order) whose key appeared before; reports it. */
static sdc_status check_duplicates(parser *ps, size_t base, size_t count)
{
    if (count < 2)
        return SDC_STATUS_OK;
    const pending_member *first = NULL, *dup = NULL;
    if (count <= 8) {
        const pending_member *m = (const pending_member *)(ps->stack + base);
        for (size_t j = 1; j < count && !dup; j++)
            for (size_t i = 0; i < j; i++)
                if (same_key(&m[i].member, &m[j].member)) {
                    first = &m[i];
                    dup = &m[j];
                    break;
                }
    } else {
        sdc_status st = reserve(ps, count * sizeof(pending_member *));
        if (st != SDC_STATUS_OK)
            return st;
        const pending_member *m = (const pending_member *)(ps->stack + base);
        const pending_member **order = (const pending_member **)(ps->stack + ps->stack_len);
        for (size_t i = 0; i < count; i++)
            order[i] = &m[i];
        qsort(order, count, sizeof *order, compare_pending);
        size_t run = 0;
        for (size_t i = 1; i < count; i++) {
            if (!same_key(&order[i]->member, &order[run]->member)) {
                run = i;
                continue;
            }
            if (i == run + 1 && (!dup || order[i] < dup)) {
                first = order[run];
                dup = order[i];
            }
        }
    }
    if (!dup)
        return SDC_STATUS_OK;
    char key[128];
    sdc_json_quote(dup->member.key, dup->member.key_len, key, sizeof key);
    const char *noun = ps->depth == 1 && ps->key_noun ? ps->key_noun : "key";
    return fail_lc(ps, dup->line, dup->column,
                   "duplicate %s %s (first at line %" PRIu32 ", column %" PRIu32 ")", noun, key,
                   first->line, first->column);
}

static sdc_status parse_object(parser *ps, sdc_json **out)
{
    size_t open = ps->pos, base = ps->stack_len;
    sdc_status st = enter(ps, open);
    if (st != SDC_STATUS_OK)
        return st;
    sdc_json *obj = new_value(ps, SDC_JSON_TYPE_OBJECT, open);
    if (!obj)
        return SDC_STATUS_OUT_OF_MEMORY;
    ps->pos++;
    skip_ws(ps);
    char got[32];
    if (ps->pos < ps->len && ps->text[ps->pos] == '}') {
        ps->pos++;
    } else {
        for (;;) {
            skip_ws(ps);
            if (ps->pos >= ps->len || ps->text[ps->pos] != '"')
                return FAIL_AT(ps, ps->pos, "expected a string key (got %s)",
                               describe(ps, ps->pos, got, sizeof got));
            pending_member pm = {.line = clamp_u32(ps->line), .column = column_of(ps, ps->pos)};
            if ((st = parse_string(ps, &pm.member.key, &pm.member.key_len)) != SDC_STATUS_OK)
                return st;
            skip_ws(ps);
            if (ps->pos >= ps->len || ps->text[ps->pos] != ':')
                return FAIL_AT(ps, ps->pos, "expected ':' after the key (got %s)",
                               describe(ps, ps->pos, got, sizeof got));
            ps->pos++;
            if ((st = parse_value(ps, &pm.member.value)) != SDC_STATUS_OK ||
                (st = push(ps, &pm, sizeof pm)) != SDC_STATUS_OK)
                return st;
            skip_ws(ps);
            unsigned char c = ps->pos < ps->len ? ps->text[ps->pos] : 0;
            if (c == '}' || c == ',') {
                ps->pos++;
                if (c == '}')
                    break;
                continue;
            }
            return FAIL_AT(ps, ps->pos, "expected ',' or '}' in the object (got %s)",
                           describe(ps, ps->pos, got, sizeof got));
        }
        size_t count = (ps->stack_len - base) / sizeof(pending_member);
        if ((st = check_duplicates(ps, base, count)) != SDC_STATUS_OK)
            return st;
        sdc_json_member *members =
            arena_alloc(ps, count * sizeof *members, _Alignof(sdc_json_member));
        if (!members)
            return SDC_STATUS_OUT_OF_MEMORY;
        const pending_member *pm = (const pending_member *)(ps->stack + base);
        for (size_t i = 0; i < count; i++)
            members[i] = pm[i].member;
        obj->u.object.members = members;
        obj->u.object.count = count;
        ps->stack_len = base;
    }
    ps->depth--;
    *out = obj;
    return SDC_STATUS_OK;
}

static sdc_status parse_value(parser *ps, sdc_json **out)
{
    skip_ws(ps);
    char got[32];
    if (ps->pos >= ps->len)
        return FAIL_AT(ps, ps->pos, "expected a value (got end of input)");
    unsigned char c = ps->text[ps->pos];
    switch (c) {
    case '{':
        return parse_object(ps, out);
    case '[':
        return parse_array(ps, out);
    case '"': {
        sdc_json *v = new_value(ps, SDC_JSON_TYPE_STRING, ps->pos);
        if (!v)
            return SDC_STATUS_OUT_OF_MEMORY;
        sdc_status st = parse_string(ps, &v->u.string.chars, &v->u.string.len);
        if (st == SDC_STATUS_OK)
            *out = v;
        return st;
    }
    case 't':
    case 'f':
    case 'n':
        return parse_literal(ps, out);
    default:
        if (c == '-' || (c >= '0' && c <= '9'))
            return parse_number(ps, out);
        return FAIL_AT(ps, ps->pos, "expected a value (got %s)",
                       describe(ps, ps->pos, got, sizeof got));
    }
}

sdc_status sdc_json_parse_keyed(sdc_context *ctx, const char *text, size_t len, const char *what,
                                const char *key_noun, sdc_json_doc **out)
{
    *out = NULL;
    sdc_status st = SDC_STATUS_OK;
    if (!what)
        what = "JSON";
    sdc_json_doc *doc = sdc_calloc(ctx, 1, sizeof *doc);
    if (!doc) {
        char msg[256];
        snprintf(msg, sizeof msg, "the JSON document of %s", what);
        return sdc_fail_oom(ctx, msg, sizeof *doc);
    }
    sdc_arena_init(&doc->arena, ctx, len < 2048 ? 4096 : (size_t)1 << 16);
    parser ps = {
        .ctx = ctx,
        .text = (const unsigned char *)text,
        .len = text ? len : 0,
        .line = 1,
        .what = what,
        .key_noun = key_noun,
        .arena = &doc->arena,
    };
    if ((st = parse_value(&ps, &doc->root)) != SDC_STATUS_OK)
        goto fail;
    skip_ws(&ps);
    if (ps.pos < ps.len) {
        char got[32];
        st = FAIL_AT(&ps, ps.pos, "expected end of input after the value (got %s)",
                     describe(&ps, ps.pos, got, sizeof got));
        goto fail;
    }
    *out = doc;
    goto release_parser;

fail:
    sdc_json_free(doc);
release_parser:
    if (ps.c_locale != (locale_t)0) {
        uselocale(ps.old_locale);
        freelocale(ps.c_locale);
    }
    sdc_free(ctx, ps.stack);
    return st;
}

sdc_status sdc_json_parse(sdc_context *ctx, const char *text, size_t len, const char *what,
                          sdc_json_doc **out)
{
    return sdc_json_parse_keyed(ctx, text, len, what, NULL, out);
}

void sdc_json_free(sdc_json_doc *doc)
{
    if (!doc)
        return;
    sdc_context *ctx = doc->arena.ctx;
    sdc_arena_release(&doc->arena);
    sdc_free(ctx, doc);
}

const sdc_json *sdc_json_get(const sdc_json *object, const char *key)
{
    if (!object || object->type != SDC_JSON_TYPE_OBJECT || !key)
        return NULL;
    size_t n = strlen(key);
    for (size_t i = 0; i < object->u.object.count; i++) {
        const sdc_json_member *m = &object->u.object.members[i];
        if (m->key_len == n && memcmp(m->key, key, n) == 0)
            return m->value;
    }
    return NULL;
}

const sdc_json *sdc_json_get_type(const sdc_json *object, const char *key, sdc_json_type type)
{
    const sdc_json *v = sdc_json_get(object, key);
    return v && v->type == type ? v : NULL;
}

const char *sdc_json_type_name(sdc_json_type type)
{
    static const char *const names[] = {
        [SDC_JSON_TYPE_NULL] = "null",     [SDC_JSON_TYPE_BOOL] = "boolean",
        [SDC_JSON_TYPE_NUMBER] = "number", [SDC_JSON_TYPE_STRING] = "string",
        [SDC_JSON_TYPE_ARRAY] = "array",   [SDC_JSON_TYPE_OBJECT] = "object",
    };
    static_assert(sizeof names / sizeof names[0] == SDC_JSON_TYPE_COUNT, "one name per type");
    if ((unsigned)type >= SDC_JSON_TYPE_COUNT)
        return "?";
    return names[type];
}

/* ---------------------------------------------------------------------------------------- */
/* Writer                                                                                     */

void sdc_json_writer_init(sdc_json_writer *w, sdc_buf *buf, bool pretty)
{
    memset(w, 0, sizeof *w);
    w->buf = buf;
    w->pretty = pretty;
}

static void newline_indent(sdc_json_writer *w)
{
    sdc_buf_append(w->buf, "\n", 1);
    for (int i = 0; i < w->depth; i++)
        sdc_buf_append(w->buf, "  ", 2);
}

/* Separator and indentation before a value or a key. */
static void before_item(sdc_json_writer *w)
{
    if (w->after_key) {
        w->after_key = false;
        return;
    }
    if (w->need_comma)
        sdc_buf_append(w->buf, ",", 1);
    if (w->pretty && w->depth > 0)
        newline_indent(w);
}

static void write_string(sdc_json_writer *w, const char *s, size_t len)
{
    sdc_buf *b = w->buf;
    sdc_buf_append(b, "\"", 1);
    size_t run = 0; /* bytes before i that need no escaping */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        sdc_buf_append(b, s + run, i - run);
        run = i + 1;
        char esc[8];
        switch (c) {
        case '"':
            memcpy(esc, "\\\"", 3);
            break;
        case '\\':
            memcpy(esc, "\\\\", 3);
            break;
        case '\b':
            memcpy(esc, "\\b", 3);
            break;
        case '\f':
            memcpy(esc, "\\f", 3);
            break;
        case '\n':
            memcpy(esc, "\\n", 3);
            break;
        case '\r':
            memcpy(esc, "\\r", 3);
            break;
        case '\t':
            memcpy(esc, "\\t", 3);
            break;
        default:
            snprintf(esc, sizeof esc, "\\u%04x", c);
            break;
        }
        sdc_buf_append_str(b, esc);
    }
    sdc_buf_append(b, s + run, len - run);
    sdc_buf_append(b, "\"", 1);
}

void sdc_json_begin_object(sdc_json_writer *w)
{
    before_item(w);
    sdc_buf_append(w->buf, "{", 1);
    w->depth++;
    w->need_comma = false;
}

void sdc_json_end_object(sdc_json_writer *w)
{
    w->depth--;
    if (w->pretty && w->need_comma)
        newline_indent(w);
    sdc_buf_append(w->buf, "}", 1);
    w->need_comma = true;
}

void sdc_json_begin_array(sdc_json_writer *w)
{
    before_item(w);
    sdc_buf_append(w->buf, "[", 1);
    w->depth++;
    w->need_comma = false;
}

void sdc_json_end_array(sdc_json_writer *w)
{
    w->depth--;
    if (w->pretty && w->need_comma)
        newline_indent(w);
    sdc_buf_append(w->buf, "]", 1);
    w->need_comma = true;
}

void sdc_json_key(sdc_json_writer *w, const char *key)
{
    before_item(w);
    write_string(w, key, strlen(key));
    sdc_buf_append_str(w->buf, w->pretty ? ": " : ":");
    w->after_key = true;
    w->need_comma = false;
}

void sdc_json_string_n(sdc_json_writer *w, const char *s, size_t len)
{
    if (!s) {
        sdc_json_null(w);
        return;
    }
    before_item(w);
    write_string(w, s, len);
    w->need_comma = true;
}

void sdc_json_string(sdc_json_writer *w, const char *s)
{
    sdc_json_string_n(w, s, s ? strlen(s) : 0);
}

void sdc_json_int(sdc_json_writer *w, int64_t v)
{
    before_item(w);
    sdc_buf_printf(w->buf, "%" PRId64, v);
    w->need_comma = true;
}

void sdc_json_uint(sdc_json_writer *w, uint64_t v)
{
    before_item(w);
    sdc_buf_printf(w->buf, "%" PRIu64, v);
    w->need_comma = true;
}

void sdc_json_double(sdc_json_writer *w, double v)
{
    if (!isfinite(v)) {
        sdc_json_null(w);
        return;
    }
    char text[40];
    locale_t c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    locale_t old = c_locale != (locale_t)0 ? uselocale(c_locale) : (locale_t)0;
    for (int precision = 15; precision <= 17; precision++) {
        snprintf(text, sizeof text, "%.*g", precision, v);
        if (precision == 17 || strtod(text, NULL) == v)
            break;
    }
    if (c_locale != (locale_t)0) {
        uselocale(old);
        freelocale(c_locale);
    } else {
        /* No C locale to switch to: undo a decimal comma by hand. */
        char *comma = strchr(text, ',');
        if (comma)
            *comma = '.';
    }
    before_item(w);
    sdc_buf_append_str(w->buf, text);
    w->need_comma = true;
}

void sdc_json_bool(sdc_json_writer *w, bool v)
{
    before_item(w);
    sdc_buf_append_str(w->buf, v ? "true" : "false");
    w->need_comma = true;
}

void sdc_json_null(sdc_json_writer *w)
{
    before_item(w);
    sdc_buf_append_str(w->buf, "null");
    w->need_comma = true;
}

void sdc_json_value(sdc_json_writer *w, const sdc_json *v)
{
    switch (v->type) {
    case SDC_JSON_TYPE_BOOL:
        sdc_json_bool(w, v->u.boolean);
        break;
    case SDC_JSON_TYPE_NUMBER:
        if (v->u.number.is_int)
            sdc_json_int(w, v->u.number.int_value);
        else
            sdc_json_double(w, v->u.number.value);
        break;
    case SDC_JSON_TYPE_STRING:
        sdc_json_string_n(w, v->u.string.chars, v->u.string.len);
        break;
    case SDC_JSON_TYPE_ARRAY:
        sdc_json_begin_array(w);
        for (size_t i = 0; i < v->u.array.count; i++)
            sdc_json_value(w, v->u.array.items[i]);
        sdc_json_end_array(w);
        break;
    case SDC_JSON_TYPE_OBJECT:
        sdc_json_begin_object(w);
        for (size_t i = 0; i < v->u.object.count; i++) {
            sdc_json_key(w, v->u.object.members[i].key);
            sdc_json_value(w, v->u.object.members[i].value);
        }
        sdc_json_end_object(w);
        break;
    default:
        sdc_json_null(w);
        break;
    }
}
