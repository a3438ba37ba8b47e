/*
 * Tests src/tokenizer/unicode.c: UTF-8 checks, the generated property tables, str.lower() with
 * final sigma, and NFC. The expected values are what Python 3.11 gives (written next to each
 * case); the whole tokenizer is checked against transformers by test_clip_bpe.c.
 */
#include "test.h"
#include "tokenizer/unicode.h"

static sdc_context *new_ctx(void)
{
    sdc_context_params p = sdc_context_default_params();
    p.n_threads = 1;
    sdc_context *ctx = NULL;
    sdc_context_create(&p, &ctx);
    return ctx;
}

static void test_utf8(void)
{
    size_t bad = 99;
    CHECK(sdc_tok_utf8_valid((const unsigned char *)"", 0, &bad));
    CHECK(sdc_tok_utf8_valid((const unsigned char *)"a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80", 10,
                             &bad));
    CHECK(sdc_tok_utf8_valid((const unsigned char *)"\xF4\x8F\xBF\xBF", 4, &bad)); /* U+10FFFF */
    static const struct {
        const char *s;
        size_t len, offset;
    } cases[] = {
        {"\x80", 1, 0},             /* lone continuation byte */
        {"ab\xC1\xBF", 4, 2},       /* overlong 2-byte */
        {"\xE0\x9F\xBF", 3, 0},     /* overlong 3-byte */
        {"\xED\xA0\x80", 3, 0},     /* surrogate U+D800 */
        {"\xF0\x8F\xBF\xBF", 4, 0}, /* overlong 4-byte */
        {"\xF4\x90\x80\x80", 4, 0}, /* above U+10FFFF */
        {"\xF5\x80\x80\x80", 4, 0}, /* invalid lead */
        {"xyz\xE2\x82", 5, 3},      /* truncated */
        {"\xC3(", 2, 0},            /* bad continuation */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bad = 99;
        CHECK_MSG(!sdc_tok_utf8_valid((const unsigned char *)cases[i].s, cases[i].len, &bad) &&
                      bad == cases[i].offset,
                  "case %zu: offset %zu", i, bad);
    }
    unsigned char buf[4];
    const uint32_t cps[] = {0x41, 0xE9, 0x20AC, 0x1F600, 0x10FFFF};
    for (size_t i = 0; i < 5; i++) {
        size_t n = sdc_tok_utf8_put(cps[i], buf);
        const unsigned char *p = buf;
        CHECK(sdc_tok_utf8_valid(buf, n, &bad) && sdc_tok_utf8_next(&p) == cps[i] && p == buf + n);
    }
}

static void test_props(void)
{
    CHECK(sdc_tok_props('a') & SDC_TOK_PROP_LETTER);
    CHECK(sdc_tok_props('Z') & SDC_TOK_PROP_CASED);
    CHECK(sdc_tok_props('7') & SDC_TOK_PROP_NUMBER);
    CHECK(sdc_tok_props('!') & SDC_TOK_PROP_OTHER);
    CHECK(sdc_tok_props('\'') & SDC_TOK_PROP_CASE_IGN);
    CHECK_EQ_INT(sdc_tok_props(' '), SDC_TOK_PROP_WS | SDC_TOK_PROP_SPACE);
    CHECK_EQ_INT(sdc_tok_props('\t'), SDC_TOK_PROP_WS | SDC_TOK_PROP_SPACE);
    CHECK(sdc_tok_props(0) & SDC_TOK_PROP_DROP);
    CHECK(sdc_tok_props(0xFFFD) & SDC_TOK_PROP_DROP);
    CHECK(sdc_tok_props(0x200B) & SDC_TOK_PROP_DROP);  /* zero width space: Cf */
    CHECK(sdc_tok_props(0x200D) & SDC_TOK_PROP_DROP);  /* ZWJ */
    CHECK(sdc_tok_props(0xE000) & SDC_TOK_PROP_DROP);  /* private use */
    CHECK(sdc_tok_props(0x0378) & SDC_TOK_PROP_DROP);  /* unassigned in Unicode 14 */
    CHECK(sdc_tok_props(0x85) & SDC_TOK_PROP_DROP);    /* NEL: Cc, so dropped, not a space */
    CHECK(sdc_tok_props(0x3000) & SDC_TOK_PROP_WS);    /* ideographic space: Zs */
    CHECK(!(sdc_tok_props(0x2028) & SDC_TOK_PROP_WS)); /* line separator: Zl, kept ... */
    CHECK(sdc_tok_props(0x2028) & SDC_TOK_PROP_SPACE); /* ... but str.split() splits there */
    CHECK_EQ_INT(sdc_tok_props(0x345) &
                     (SDC_TOK_PROP_LETTER | SDC_TOK_PROP_NUMBER | SDC_TOK_PROP_OTHER),
                 0); /* in no class of the pattern under IGNORECASE */
    CHECK(sdc_tok_props(0x4E00) & SDC_TOK_PROP_LETTER);
    CHECK(sdc_tok_props(0x2160) & SDC_TOK_PROP_NUMBER); /* roman numeral one: Nl */
    CHECK(sdc_tok_props(0x1F600) & SDC_TOK_PROP_OTHER);
    CHECK(sdc_tok_props(0x10FFFF) & SDC_TOK_PROP_DROP);
    CHECK(sdc_tok_is_cjk(0x732B) && sdc_tok_is_cjk(0xF900) && sdc_tok_is_cjk(0x20000));
    CHECK(!sdc_tok_is_cjk(0x3042) && !sdc_tok_is_cjk(0xAC00)); /* hiragana, hangul */
    CHECK(sdc_tok_fold_ascii('S') == 's' && sdc_tok_fold_ascii(0x17F) == 's');
    CHECK(sdc_tok_fold_ascii(0x212A) == 'k' && sdc_tok_fold_ascii(0xE9) == 0);
}

static bool same(const sdc_tok_cps *v, const uint32_t *want, size_t n)
{
    if (v->len != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (v->data[i] != want[i])
            return false;
    return true;
}

#define CPS(...) ((const uint32_t[]){__VA_ARGS__}), sizeof((const uint32_t[]){__VA_ARGS__}) / 4

static void check_lower(sdc_context *ctx, const uint32_t *in, size_t n, const uint32_t *want,
                        size_t n_want, const char *what)
{
    sdc_tok_cps out = {0};
    CHECK(sdc_tok_lower(ctx, in, n, &out) == SDC_STATUS_OK);
    CHECK_MSG(same(&out, want, n_want), "lower(%s)", what);
    sdc_tok_cps_free(ctx, &out);
}

static void check_nfc(sdc_context *ctx, const uint32_t *in, size_t n, const uint32_t *want,
                      size_t n_want, const char *what)
{
    sdc_tok_cps v = {0}, scratch = {0};
    CHECK(sdc_tok_cps_reserve(ctx, &v, n) == SDC_STATUS_OK);
    memcpy(v.data, in, n * sizeof(uint32_t));
    v.len = n;
    CHECK(sdc_tok_nfc(ctx, &v, &scratch) == SDC_STATUS_OK);
    CHECK_MSG(same(&v, want, n_want), "NFC(%s)", what);
    sdc_tok_cps_free(ctx, &v);
    sdc_tok_cps_free(ctx, &scratch);
}

static void test_lower(void)
{
    sdc_context *ctx = new_ctx();
    check_lower(ctx, CPS('A', 'b', 0xC9), CPS('a', 'b', 0xE9), "AbÉ");
    check_lower(ctx, CPS(0x39F, 0x394, 0x39F, 0x3A3), CPS(0x3BF, 0x3B4, 0x3BF, 0x3C2), "ΟΔΟΣ");
    check_lower(ctx, CPS(0x3A3), CPS(0x3C3), "Σ alone");
    check_lower(ctx, CPS(0x3A3, 0x391), CPS(0x3C3, 0x3B1), "ΣΑ");
    check_lower(ctx, CPS('A', 0x3A3, '\''), CPS('a', 0x3C2, '\''), "AΣ'");
    check_lower(ctx, CPS('A', 0x3A3, '\'', 'B'), CPS('a', 0x3C3, '\'', 'b'), "AΣ'B");
    check_lower(ctx, CPS('A', 0x3A3, '1'), CPS('a', 0x3C2, '1'), "AΣ1");
    check_lower(ctx, CPS(0x130, 'S'), CPS('i', 0x307, 's'), "İS");
    check_lower(ctx, CPS(0x216B, 0x1C5, 0xFF21, 0x10400), CPS(0x217B, 0x1C6, 0xFF41, 0x10428),
                "ⅫǅＡ𐐀");
    check_lower(ctx, CPS(0x1E9E, 0x212A, 0x2126), CPS(0xDF, 'k', 0x3C9), "ẞKΩ");
    sdc_context_destroy(ctx);
}

static void test_nfc(void)
{
    sdc_context *ctx = new_ctx();
    check_nfc(ctx, CPS('c', 'a', 'f', 'e', 0x301), CPS('c', 'a', 'f', 0xE9), "cafe + acute");
    check_nfc(ctx, CPS('q', 0x307, 0x323), CPS('q', 0x323, 0x307), "reordering");
    check_nfc(ctx, CPS(0x1E0B, 0x323), CPS(0x1E0D, 0x307), "ḋ + dot below");
    check_nfc(ctx, CPS('a', 0x300, 0x300), CPS(0xE0, 0x300), "blocked second grave");
    check_nfc(ctx, CPS(0x212B), CPS(0xC5), "angstrom sign");
    check_nfc(ctx, CPS(0xF900), CPS(0x8C48), "CJK compatibility ideograph");
    check_nfc(ctx, CPS(0x344), CPS(0x308, 0x301), "composition exclusion");
    check_nfc(ctx, CPS(0x1100, 0x1161, 0x11A8), CPS(0xAC01), "hangul L V T");
    check_nfc(ctx, CPS(0xAC00, 0x11A8), CPS(0xAC01), "hangul LV T");
    check_nfc(ctx, CPS(0xB47, 0xB3E), CPS(0xB4B), "two starters");
    check_nfc(ctx, CPS(0x300, 'a', 0x301), CPS(0x300, 0xE1), "leading mark");
    check_nfc(ctx, CPS('a', 'b'), CPS('a', 'b'), "ASCII");
    sdc_context_destroy(ctx);
}

int main(void)
{
    RUN(test_utf8);
    RUN(test_props);
    RUN(test_lower);
    RUN(test_nfc);
    return test_finish();
}
