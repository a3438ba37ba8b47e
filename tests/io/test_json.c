/*
 * Tests the JSON parser and writer of src/io/json.c: every value type, each class of input
 * RFC 8259 rejects (with the message it gives), nesting at and past the limit, exact 64-bit
 * integers, unicode escapes, duplicate keys, locale independence, writer output and
 * write-then-parse round trips (doubles bit-exact), and allocation failure at every point.
 */
#include "io/io.h"
#include "test.h"

#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static sdc_context *ctx;

static sdc_json_doc *parse_ok(const char *text)
{
    sdc_json_doc *doc = NULL;
    sdc_status st = sdc_json_parse(ctx, text, strlen(text), "test", &doc);
    CHECK_MSG(st == SDC_STATUS_OK, "parse %s: %s", text, sdc_context_errmsg(ctx));
    return doc;
}

/* Parsing must fail with FORMAT and a message containing `needle`. */
static void reject_n(const char *text, size_t len, const char *needle)
{
    sdc_json_doc *doc = (sdc_json_doc *)1;
    sdc_status st = sdc_json_parse(ctx, text, len, "in.json", &doc);
    CHECK_MSG(st == SDC_STATUS_FORMAT, "rejects %.*s (status %d)", (int)len, text, (int)st);
    CHECK(doc == NULL);
    CHECK_CONTAINS(sdc_context_errmsg(ctx), needle);
    CHECK_CONTAINS(sdc_context_errmsg(ctx), "in.json: line ");
}

static void reject(const char *text, const char *needle)
{
    reject_n(text, strlen(text), needle);
}

static void check_no_leak(void)
{
    sdc_alloc_stats s;
    sdc_alloc_get_stats(ctx, &s);
    CHECK_EQ_INT(s.live_bytes, 0);
}

static void test_scalars(void)
{
    sdc_json_doc *d = parse_ok("null");
    CHECK(d && d->root->type == SDC_JSON_TYPE_NULL);
    sdc_json_free(d);
    d = parse_ok(" true ");
    CHECK(d && d->root->type == SDC_JSON_TYPE_BOOL && d->root->u.boolean);
    sdc_json_free(d);
    d = parse_ok("\t\r\nfalse\n");
    CHECK(d && d->root->type == SDC_JSON_TYPE_BOOL && !d->root->u.boolean);
    CHECK(d && d->root->line == 2 && d->root->column == 1);
    sdc_json_free(d);
    d = parse_ok("\"h\\u00e9llo\"");
    CHECK(d && d->root->type == SDC_JSON_TYPE_STRING);
    CHECK(d && d->root->u.string.len == 6 &&
          memcmp(d->root->u.string.chars, "h\xc3\xa9llo", 7) == 0);
    sdc_json_free(d);
    d = parse_ok("42");
    CHECK(d && d->root->u.number.is_int && d->root->u.number.int_value == 42);
    CHECK(d && d->root->u.number.value == 42.0);
    sdc_json_free(d);
    sdc_json_free(NULL);
    check_no_leak();
}

static void test_containers(void)
{
    const char *text =
        "{\n  \"a\": [1, 2.5, \"x\", null, true, {}, []],\n  \"b\": {\"c\": false}\n}";
    sdc_json_doc *d = parse_ok(text);
    if (!d)
        return;
    const sdc_json *root = d->root;
    CHECK(root->type == SDC_JSON_TYPE_OBJECT && root->u.object.count == 2);
    CHECK_EQ_STR(root->u.object.members[0].key, "a");
    CHECK_EQ_STR(root->u.object.members[1].key, "b");
    const sdc_json *a = sdc_json_get_type(root, "a", SDC_JSON_TYPE_ARRAY);
    CHECK(a && a->u.array.count == 7);
    CHECK(a && a->line == 2 && a->column == 8);
    if (a && a->u.array.count == 7) {
        CHECK(a->u.array.items[0]->u.number.int_value == 1);
        CHECK(a->u.array.items[1]->u.number.value == 2.5 && !a->u.array.items[1]->u.number.is_int);
        CHECK_EQ_STR(a->u.array.items[2]->u.string.chars, "x");
        CHECK(a->u.array.items[3]->type == SDC_JSON_TYPE_NULL);
        CHECK(a->u.array.items[4]->u.boolean);
        CHECK(a->u.array.items[5]->type == SDC_JSON_TYPE_OBJECT &&
              !a->u.array.items[5]->u.object.count);
        CHECK(a->u.array.items[6]->type == SDC_JSON_TYPE_ARRAY &&
              !a->u.array.items[6]->u.array.count);
        CHECK(a->u.array.items[2]->line == 2 && a->u.array.items[2]->column == 17);
    }
    const sdc_json *b = sdc_json_get(root, "b");
    CHECK(b && sdc_json_get_type(b, "c", SDC_JSON_TYPE_BOOL) != NULL);
    CHECK(sdc_json_get_type(b, "c", SDC_JSON_TYPE_NUMBER) == NULL);
    CHECK(sdc_json_get(root, "missing") == NULL);
    CHECK(sdc_json_get(a, "a") == NULL); /* not an object */
    CHECK(sdc_json_get(NULL, "a") == NULL);
    CHECK_EQ_STR(sdc_json_type_name(SDC_JSON_TYPE_OBJECT), "object");
    CHECK_EQ_STR(sdc_json_type_name(SDC_JSON_TYPE_BOOL), "boolean");
    CHECK_EQ_STR(sdc_json_type_name(SDC_JSON_TYPE_COUNT), "?");
    sdc_json_free(d);
    check_no_leak();
}

static void test_numbers(void)
{
    static const struct {
        const char *text;
        double value;
        bool is_int;
        int64_t int_value;
    } cases[] = {
        {"0", 0.0, true, 0},
        {"-0", -0.0, true, 0},
        {"9223372036854775807", 9223372036854775807.0, true, INT64_MAX},
        {"-9223372036854775808", -9223372036854775808.0, true, INT64_MIN},
        {"9223372036854775808", 9223372036854775808.0, false, 0},
        {"-9223372036854775809", -9223372036854775809.0, false, 0},
        {"123456789012345678901234567890", 1.2345678901234568e29, false, 0},
        {"1e308", 1e308, false, 0},
        {"1.7976931348623157e308", DBL_MAX, false, 0},
        {"1.5e-7", 1.5e-7, false, 0},
        {"-0.0", -0.0, false, 0},
        {"0.1", 0.1, false, 0},
        {"1E+2", 100.0, false, 0},
        {"1e-2", 0.01, false, 0},
        {"2.5E0", 2.5, false, 0},
        {"4.9e-324", 4.9e-324, false, 0},
        {"1e-400", 0.0, false, 0}, /* underflow rounds to zero, like every reader */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sdc_json_doc *d = parse_ok(cases[i].text);
        if (!d)
            continue;
        const sdc_json *v = d->root;
        CHECK_MSG(v->type == SDC_JSON_TYPE_NUMBER, "%s is a number", cases[i].text);
        CHECK_MSG(v->u.number.value == cases[i].value &&
                      signbit(v->u.number.value) == signbit(cases[i].value),
                  "%s: value %.17g", cases[i].text, v->u.number.value);
        CHECK_MSG(v->u.number.is_int == cases[i].is_int, "%s: is_int", cases[i].text);
        if (cases[i].is_int)
            CHECK_MSG(v->u.number.int_value == cases[i].int_value, "%s: int_value", cases[i].text);
        sdc_json_free(d);
    }
    /* A number longer than any stack buffer goes through strtod too. */
    char longnum[3000];
    memset(longnum, '1', 2000);
    memcpy(longnum + 2000, ".5e-1999", 9);
    sdc_json_doc *d = parse_ok(longnum);
    CHECK(d && !d->root->u.number.is_int && fabs(d->root->u.number.value - 1.1111111111) < 1e-9);
    sdc_json_free(d);
    check_no_leak();
}

static void test_rejects_number_forms(void)
{
    reject("01", "leading zeros");
    reject("-01", "leading zeros");
    reject("00", "leading zeros");
    reject("1.", "expected a digit after the decimal point (got end of input)");
    reject(".5", "expected a value (got '.')");
    reject("+1", "expected a value (got '+')");
    reject("-", "expected a digit (got end of input)");
    reject("1e", "expected a digit in the exponent");
    reject("1e+", "expected a digit in the exponent");
    reject("NaN", "expected a value (got 'N')");
    reject("nan", "expected 'null' (got 'a')");
    reject("Infinity", "expected a value (got 'I')");
    reject("-Infinity", "expected a digit (got 'I')");
    reject("1e309", "within the range of a double");
    reject("-1e400", "within the range of a double");
    reject("0x10", "expected end of input after the value (got 'x')");
    reject("[1.5.2]", "expected ',' or ']' in the array (got '.')");
}

static void test_rejects_structure(void)
{
    reject("", "line 1, column 1: expected a value (got end of input)");
    reject("   \n ", "line 2, column 2: expected a value (got end of input)");
    reject("[1, 2,]", "line 1, column 7: expected a value (got ']')");
    reject("{\"a\": 1,}", "line 1, column 9: expected a string key (got '}')");
    reject("[1 2]", "expected ',' or ']' in the array (got '2')");
    reject("{\"a\" 1}", "expected ':' after the key (got '1')");
    reject("{\"a\": 1 \"b\": 2}", "expected ',' or '}' in the object (got '\"')");
    reject("{a: 1}", "expected a string key (got 'a')");
    reject("{'a': 1}", "expected a string key (got ''')");
    reject("['a']", "expected a value (got ''')");
    reject("[1] // c", "expected end of input after the value (got '/')");
    reject("/* c */ 1", "expected a value (got '/')");
    reject("[1, /* c */ 2]", "expected a value (got '/')");
    reject("[", "expected a value (got end of input)");
    reject("[1", "expected ',' or ']' in the array (got end of input)");
    reject("{", "expected a string key (got end of input)");
    reject("{\"a\":", "expected a value (got end of input)");
    reject("1 2", "expected end of input after the value (got '2')");
    reject("tru", "expected 'true' (got end of input)");
    reject("trUe", "expected 'true' (got 'U')");
    reject("nulll", "expected end of input after the value (got 'l')");
    reject("\xef\xbb\xbf{}", "expected a value (got byte 0xef)");
    reject("\f1", "expected a value (got byte 0x0c)");
    reject("[1,\n  2,\n  x]", "line 3, column 3: expected a value (got 'x')");
    reject_n("[1]\0", 4, "expected end of input after the value (got byte 0x00)");
}

static void test_rejects_strings(void)
{
    reject("\"abc", "line 1, column 1: expected a closing '\"' for this string");
    reject("\"a\\\"", "expected a closing '\"'");
    reject("\"a\nb\"", "got control character 0x0a");
    reject("\"a\tb\"", "got control character 0x09");
    reject("\"\x01\"", "got control character 0x01");
    reject("\"\\x41\"", "expected one of \" \\ / b f n r t u after a backslash (got 'x')");
    reject("\"\\'\"", "after a backslash (got ''')");
    reject("\"\\u12\"", "expected 4 hex digits after \\u (got end of string)");
    reject("\"\\u12G4\"", "expected 4 hex digits after \\u (got 'G')");
    reject("\"\\uD800\"", "lone high surrogate \\uD800");
    reject("\"\\uD83Dx\"", "lone high surrogate \\uD83D");
    reject("\"\\uDC00\"", "lone low surrogate \\uDC00");
    reject("\"\\uD800\\u0041\"",
           "expected a low surrogate \\uDC00-\\uDFFF after \\uD800 (got \\u0041)");
    reject("\"\\uD800\\uD800\"", "expected a low surrogate");
    /* invalid UTF-8: overlongs, encoded surrogates, above U+10FFFF, stray and truncated */
    reject("\"\xc0\x80\"", "expected valid UTF-8 (got byte 0xc0");
    reject("\"\xc1\xbf\"", "expected valid UTF-8 (got byte 0xc1");
    reject("\"\xe0\x80\x80\"", "expected valid UTF-8 (got byte 0xe0");
    reject("\"\xe0\x9f\xbf\"", "expected valid UTF-8 (got byte 0xe0");
    reject("\"\xf0\x80\x80\x80\"", "expected valid UTF-8 (got byte 0xf0");
    reject("\"\xf0\x8f\xbf\xbf\"", "expected valid UTF-8 (got byte 0xf0");
    reject("\"\xed\xa0\x80\"", "expected valid UTF-8 (got byte 0xed");
    reject("\"\xed\xbf\xbf\"", "expected valid UTF-8 (got byte 0xed");
    reject("\"\xf4\x90\x80\x80\"", "expected valid UTF-8 (got byte 0xf4");
    reject("\"\xf5\x80\x80\x80\"", "expected valid UTF-8 (got byte 0xf5");
    reject("\"\xff\"", "expected valid UTF-8 (got byte 0xff");
    reject("\"\x80\"", "expected valid UTF-8 (got byte 0x80");
    reject("\"\xe2\x82\"", "expected valid UTF-8 (got byte 0xe2");
    reject("\"a\xc3\"", "line 1, column 3: expected valid UTF-8");
    reject("{\"k\xc3\x28\": 1}", "expected valid UTF-8");
}

static void test_strings(void)
{
    /* every escape, a surrogate pair, raw UTF-8 of each length, and an escaped NUL */
    const char *text = "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0041\\u00e9\\u20AC\\uD83D\\uDE00"
                       "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf\x7f\\u0000z\"";
    const char expect[] = "\"\\/\b\f\n\r\tA\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"
                          "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf\x7f\0z";
    sdc_json_doc *d = parse_ok(text);
    CHECK(d && d->root->u.string.len == sizeof expect - 1);
    CHECK(d && memcmp(d->root->u.string.chars, expect, sizeof expect) == 0);
    sdc_json_free(d);
    d = parse_ok("{\"\": \"\", \"\\u0000\": 1}");
    CHECK(d && d->root->u.object.count == 2 && d->root->u.object.members[0].key_len == 0);
    CHECK(d && d->root->u.object.members[1].key_len == 1 &&
          d->root->u.object.members[1].key[0] == '\0');
    sdc_json_free(d);
    check_no_leak();
}

static void test_depth(void)
{
    char text[2 * (SDC_JSON_MAX_DEPTH + 1) + 16];
    /* exactly the limit: 128 nested arrays */
    size_t n = 0;
    for (int i = 0; i < SDC_JSON_MAX_DEPTH; i++)
        text[n++] = '[';
    for (int i = 0; i < SDC_JSON_MAX_DEPTH; i++)
        text[n++] = ']';
    text[n] = '\0';
    sdc_json_doc *d = parse_ok(text);
    int depth = 0;
    for (const sdc_json *v = d ? d->root : NULL; v; depth++)
        v = v->u.array.count ? v->u.array.items[0] : NULL;
    CHECK_EQ_INT(depth, SDC_JSON_MAX_DEPTH);
    sdc_json_free(d);
    /* one more */
    n = 0;
    for (int i = 0; i <= SDC_JSON_MAX_DEPTH; i++)
        text[n++] = '[';
    for (int i = 0; i <= SDC_JSON_MAX_DEPTH; i++)
        text[n++] = ']';
    text[n] = '\0';
    reject(text, "line 1, column 129: expected at most 128 nested arrays and objects");
    /* objects count too */
    char obj[8 * (SDC_JSON_MAX_DEPTH + 1) + 16];
    n = 0;
    for (int i = 0; i <= SDC_JSON_MAX_DEPTH; i++)
        n += (size_t)snprintf(obj + n, sizeof obj - n, "{\"a\":");
    n += (size_t)snprintf(obj + n, sizeof obj - n, "1");
    for (int i = 0; i <= SDC_JSON_MAX_DEPTH; i++)
        obj[n++] = '}';
    obj[n] = '\0';
    reject(obj, "nested arrays and objects");
    /* a deep unterminated input fails cleanly too */
    static char deep[100000];
    memset(deep, '[', sizeof deep - 1);
    reject(deep, "expected at most 128 nested");
    check_no_leak();
}

static void test_duplicate_keys(void)
{
    reject("{\"a\": 1, \"b\": 2, \"a\": 3}",
           "line 1, column 18: duplicate key \"a\" (first at line 1, column 2)");
    reject("{\"x\": {\"k\": 1,\n \"k\": 2}}", "line 2, column 2: duplicate key \"k\"");
    reject("[{\"\": 1, \"\": 2}]", "duplicate key \"\"");
    /* many keys (the sorted path): the first repeat in document order is named */
    char text[4096];
    size_t n = (size_t)snprintf(text, sizeof text, "{");
    for (int i = 0; i < 50; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "\"k%d\": %d, ", 49 - i, i);
    n += (size_t)snprintf(text + n, sizeof text - n, "\"k7\": 0, \"k3\": 1, \"k3\": 2}");
    reject(text, "duplicate key \"k7\"");
    /* keys that differ only after a NUL are different; equal ones with a NUL are not */
    sdc_json_doc *d = parse_ok("{\"a\\u0000b\": 1, \"a\\u0000c\": 2, \"a\": 3}");
    sdc_json_free(d);
    reject("{\"a\\u0000b\": 1, \"a\\u0000b\": 2}", "duplicate key \"a\\x00b\"");
    /* the keyed variant names the top level's keys, and only those */
    sdc_json_doc *doc = NULL;
    const char *t = "{\"w\": {}, \"w\": {}}";
    CHECK(sdc_json_parse_keyed(ctx, t, strlen(t), "h", "tensor name", &doc) == SDC_STATUS_FORMAT);
    CHECK_CONTAINS(sdc_context_errmsg(ctx), "h: line 1, column 11: duplicate tensor name \"w\"");
    t = "{\"w\": {\"d\": 1, \"d\": 2}}";
    CHECK(sdc_json_parse_keyed(ctx, t, strlen(t), "h", "tensor name", &doc) == SDC_STATUS_FORMAT);
    CHECK_CONTAINS(sdc_context_errmsg(ctx), "duplicate key \"d\"");
    check_no_leak();
}

static void test_quote(void)
{
    char buf[32];
    CHECK_EQ_STR(sdc_json_quote("ab\"c\\", 5, buf, sizeof buf), "\"ab\\\"c\\\\\"");
    CHECK_EQ_STR(sdc_json_quote("a\nb\x7f", 4, buf, sizeof buf), "\"a\\x0ab\\x7f\"");
    CHECK_EQ_STR(sdc_json_quote("\xc3\xa9\xff", 3, buf, sizeof buf), "\"\xc3\xa9\\xff\"");
    const char *longs = "abcdefghijklmnopqrstuvwxyz0123456789";
    sdc_json_quote(longs, strlen(longs), buf, sizeof buf);
    CHECK_EQ_STR(buf, "\"abcdefghijklmnopqrstuvwxyz...\"");
    CHECK(strlen(buf) < sizeof buf);
    /* a multi-byte character is never cut in half */
    char small[10];
    sdc_json_quote("ab\xe2\x82\xac\xe2\x82\xac", 8, small, sizeof small);
    CHECK_EQ_STR(small, "\"ab...\"");
}

static void test_locale_independence(void)
{
    static const char *const comma_locales[] = {"de_DE.UTF-8", "de_DE.utf8",  "fr_FR.UTF-8",
                                                "fr_FR.utf8",  "ru_RU.UTF-8", "nl_NL.UTF-8"};
    const char *set = NULL;
    for (size_t i = 0; i < sizeof comma_locales / sizeof comma_locales[0] && !set; i++)
        set = setlocale(LC_NUMERIC, comma_locales[i]);
    /* Whether or not a decimal-comma locale is installed here, numbers use '.'. */
    sdc_json_doc *d = parse_ok("[1.5, 2.25e1]");
    CHECK(d && d->root->u.array.items[0]->u.number.value == 1.5);
    CHECK(d && d->root->u.array.items[1]->u.number.value == 22.5);
    sdc_json_free(d);
    sdc_buf b;
    sdc_buf_init(&b, ctx);
    sdc_json_writer w;
    sdc_json_writer_init(&w, &b, false);
    sdc_json_double(&w, 1.5);
    CHECK_EQ_STR(b.data, "1.5");
    sdc_buf_free(&b);
    if (set)
        CHECK(strtod("1,5", NULL) == 1.5); /* the locale really was switched */
    setlocale(LC_NUMERIC, "C");
}

static void write_sample(sdc_json_writer *w)
{
    sdc_json_begin_object(w);
    sdc_json_key(w, "name");
    sdc_json_string(w, "q\"\\\n\x01\xc3\xa9");
    sdc_json_key(w, "list");
    sdc_json_begin_array(w);
    sdc_json_int(w, -3);
    sdc_json_uint(w, UINT64_MAX);
    sdc_json_double(w, 0.1);
    sdc_json_double(w, NAN);
    sdc_json_bool(w, true);
    sdc_json_null(w);
    sdc_json_begin_array(w);
    sdc_json_end_array(w);
    sdc_json_begin_object(w);
    sdc_json_end_object(w);
    sdc_json_end_array(w);
    sdc_json_key(w, "n");
    sdc_json_string_n(w, "a\0b", 3);
    sdc_json_end_object(w);
}

static void test_writer_output(void)
{
    sdc_buf b;
    sdc_buf_init(&b, ctx);
    sdc_json_writer w;
    sdc_json_writer_init(&w, &b, false);
    write_sample(&w);
    CHECK_EQ_STR(b.data,
                 "{\"name\":\"q\\\"\\\\\\n\\u0001\xc3\xa9\",\"list\":[-3,18446744073709551615,"
                 "0.1,null,true,null,[],{}],\"n\":\"a\\u0000b\"}");
    sdc_buf_free(&b);

    sdc_buf_init(&b, ctx);
    sdc_json_writer_init(&w, &b, true);
    write_sample(&w);
    CHECK_EQ_STR(b.data, "{\n"
                         "  \"name\": \"q\\\"\\\\\\n\\u0001\xc3\xa9\",\n"
                         "  \"list\": [\n"
                         "    -3,\n"
                         "    18446744073709551615,\n"
                         "    0.1,\n"
                         "    null,\n"
                         "    true,\n"
                         "    null,\n"
                         "    [],\n"
                         "    {}\n"
                         "  ],\n"
                         "  \"n\": \"a\\u0000b\"\n"
                         "}");
    sdc_json_doc *d = parse_ok(b.data);
    const sdc_json *name = d ? sdc_json_get_type(d->root, "name", SDC_JSON_TYPE_STRING) : NULL;
    CHECK(name && name->u.string.len == 7 &&
          memcmp(name->u.string.chars, "q\"\\\n\x01\xc3\xa9", 8) == 0);
    sdc_json_free(d);
    sdc_buf_free(&b);

    /* scalars at the top level, every control character escaped */
    sdc_buf_init(&b, ctx);
    sdc_json_writer_init(&w, &b, true);
    char all[32];
    for (int i = 0; i < 32; i++)
        all[i] = (char)i;
    sdc_json_string_n(&w, all, 32);
    CHECK_EQ_STR(b.data, "\"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n"
                         "\\u000b\\f\\r\\u000e\\u000f\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015"
                         "\\u0016\\u0017\\u0018\\u0019\\u001a\\u001b\\u001c\\u001d\\u001e"
                         "\\u001f\"");
    d = parse_ok(b.data);
    CHECK(d && d->root->u.string.len == 32 && memcmp(d->root->u.string.chars, all, 32) == 0);
    sdc_json_free(d);
    sdc_buf_free(&b);
    check_no_leak();
}

static uint64_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s;
}

static void test_double_round_trip(void)
{
    double values[600];
    size_t n = 0;
    const double fixed[] = {0.0,
                            -0.0,
                            0.1,
                            0.2,
                            0.3,
                            1.0 / 3.0,
                            2.0 / 3.0,
                            1e23,
                            5e-324,
                            2.2250738585072014e-308,
                            2.2250738585072009e-308,
                            DBL_MAX,
                            -DBL_MAX,
                            DBL_EPSILON,
                            9007199254740993.0,
                            123456789.123456789,
                            1e-7,
                            1e21,
                            100.0,
                            0.5,
                            3.141592653589793,
                            2.718281828459045,
                            1.7976931348623155e308};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        values[n++] = fixed[i];
    uint64_t seed = 12345;
    while (n < sizeof values / sizeof values[0]) {
        uint64_t bits = lcg(&seed);
        double v;
        memcpy(&v, &bits, sizeof v);
        if (isfinite(v))
            values[n++] = v;
        else
            values[n++] = (double)(int64_t)(bits >> 11) * 1e-6; /* ordinary magnitudes too */
    }
    sdc_buf b;
    sdc_buf_init(&b, ctx);
    sdc_json_writer w;
    sdc_json_writer_init(&w, &b, false);
    sdc_json_begin_array(&w);
    for (size_t i = 0; i < n; i++)
        sdc_json_double(&w, values[i]);
    sdc_json_double(&w, INFINITY);
    sdc_json_double(&w, -INFINITY);
    sdc_json_end_array(&w);
    CHECK(!b.failed);
    sdc_json_doc *d = parse_ok(b.data);
    CHECK(d && d->root->u.array.count == n + 2);
    if (d && d->root->u.array.count == n + 2) {
        int mismatches = 0;
        for (size_t i = 0; i < n; i++) {
            double got = d->root->u.array.items[i]->u.number.value;
            if (memcmp(&got, &values[i], sizeof got) != 0)
                mismatches++;
        }
        CHECK_EQ_INT(mismatches, 0);
        CHECK(d->root->u.array.items[n]->type == SDC_JSON_TYPE_NULL);
        CHECK(d->root->u.array.items[n + 1]->type == SDC_JSON_TYPE_NULL);
    }
    sdc_json_free(d);
    sdc_buf_free(&b);

    /* shortest: the %.15g form is used when it reads back */
    sdc_buf_init(&b, ctx);
    sdc_json_writer_init(&w, &b, false);
    sdc_json_begin_array(&w);
    sdc_json_double(&w, 0.1);
    sdc_json_double(&w, 1e300);
    sdc_json_double(&w, 1.0 / 3.0);
    sdc_json_double(&w, -0.0);
    sdc_json_double(&w, 2.0);
    sdc_json_end_array(&w);
    CHECK_EQ_STR(b.data, "[0.1,1e+300,0.3333333333333333,-0,2]");
    sdc_buf_free(&b);
    check_no_leak();
}

static bool json_equal(const sdc_json *a, const sdc_json *b)
{
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case SDC_JSON_TYPE_NULL:
        return true;
    case SDC_JSON_TYPE_BOOL:
        return a->u.boolean == b->u.boolean;
    case SDC_JSON_TYPE_NUMBER:
        /* The value round-trips; a double that is integral comes back as an integer. */
        return memcmp(&a->u.number.value, &b->u.number.value, sizeof(double)) == 0 &&
               (!a->u.number.is_int || !b->u.number.is_int ||
                a->u.number.int_value == b->u.number.int_value);
    case SDC_JSON_TYPE_STRING:
        return a->u.string.len == b->u.string.len &&
               memcmp(a->u.string.chars, b->u.string.chars, a->u.string.len) == 0;
    case SDC_JSON_TYPE_ARRAY:
        if (a->u.array.count != b->u.array.count)
            return false;
        for (size_t i = 0; i < a->u.array.count; i++)
            if (!json_equal(a->u.array.items[i], b->u.array.items[i]))
                return false;
        return true;
    case SDC_JSON_TYPE_OBJECT:
        if (a->u.object.count != b->u.object.count)
            return false;
        for (size_t i = 0; i < a->u.object.count; i++) {
            const sdc_json_member *ma = &a->u.object.members[i], *mb = &b->u.object.members[i];
            if (ma->key_len != mb->key_len || memcmp(ma->key, mb->key, ma->key_len) != 0 ||
                !json_equal(ma->value, mb->value))
                return false;
        }
        return true;
    default:
        return false;
    }
}

/* Writes a parsed value back with the writer. */
static void write_value(sdc_json_writer *w, const sdc_json *v)
{
    switch (v->type) {
    case SDC_JSON_TYPE_NULL:
        sdc_json_null(w);
        break;
    case SDC_JSON_TYPE_BOOL:
        sdc_json_bool(w, v->u.boolean);
        break;
    case SDC_JSON_TYPE_NUMBER:
        /* an integer, except "-0", which only a double keeps */
        if (v->u.number.is_int && (v->u.number.int_value != 0 || !signbit(v->u.number.value)))
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
            write_value(w, v->u.array.items[i]);
        sdc_json_end_array(w);
        break;
    case SDC_JSON_TYPE_OBJECT:
        sdc_json_begin_object(w);
        for (size_t i = 0; i < v->u.object.count; i++) {
            sdc_json_key(w, v->u.object.members[i].key);
            write_value(w, v->u.object.members[i].value);
        }
        sdc_json_end_object(w);
        break;
    default:
        break;
    }
}

static void test_round_trip(void)
{
    const char *docs[] = {
        "{\"a\": [1, -2, 3.25, 1e-300, 9223372036854775807, -9223372036854775808, "
        "18446744073709551616], \"b\": {\"c\": [true, false, null, {}], \"d\": "
        "\"\\u00e9\\n\\\"x\\\"\"}, "
        "\"e\": [[[[]]]], \"i\": -0, \"f\": \"\xf0\x9f\x98\x80\", \"g\": -0.0, \"h\": 0.1}",
        "[]",
        "\"just a string\"",
        "-1.5e-7",
    };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        for (int pretty = 0; pretty < 2; pretty++) {
            sdc_json_doc *a = parse_ok(docs[i]);
            if (!a)
                continue;
            sdc_buf b;
            sdc_buf_init(&b, ctx);
            sdc_json_writer w;
            sdc_json_writer_init(&w, &b, pretty);
            write_value(&w, a->root);
            sdc_json_doc *c = b.data ? parse_ok(b.data) : NULL;
            CHECK_MSG(c && json_equal(a->root, c->root), "round trip of doc %zu (pretty %d): %s", i,
                      pretty, b.data ? b.data : "");
            sdc_json_free(c);
            sdc_json_free(a);
            sdc_buf_free(&b);
        }
    }
    check_no_leak();
}

static void test_fault_injection(void)
{
    /* Big enough for several arena blocks, an object on the sorted duplicate path, a long
     * number on the strtod path and a deep stack. */
    sdc_buf b;
    sdc_buf_init(&b, ctx);
    sdc_buf_append_str(&b, "{\"list\": [");
    for (int i = 0; i < 3000; i++)
        sdc_buf_printf(&b, "%s{\"k%d\": %d.5, \"s\": \"\\u00e9x%d\"}", i ? "," : "", i, i, i);
    sdc_buf_append_str(&b, "], \"n\": 1234567890123456789012345678901234567890123456789012345"
                           "67890123456789012345678901234567890.5e-3");
    for (int i = 0; i < 20; i++)
        sdc_buf_printf(&b, ", \"key%d\": [[[[%d]]]]", i, i);
    sdc_buf_append_str(&b, "}");
    CHECK(!b.failed);
    /* A clean run counts the allocations a parse makes. */
    sdc_alloc_stats s;
    sdc_alloc_get_stats(ctx, &s);
    size_t live = s.live_bytes;
    uint64_t allocs_before = s.n_allocs;
    sdc_json_doc *doc = NULL;
    CHECK(sdc_json_parse(ctx, b.data, b.len, "big.json", &doc) == SDC_STATUS_OK);
    sdc_json_free(doc);
    sdc_alloc_get_stats(ctx, &s);
    uint64_t allocs = s.n_allocs - allocs_before;

    uint64_t n;
    for (n = 1; n <= allocs + 1; n++) {
        sdc_alloc_get_stats(ctx, &s);
        uint64_t failed_before = s.n_failed;
        sdc_alloc_fail_nth(ctx, n);
        doc = NULL;
        sdc_status st = sdc_json_parse(ctx, b.data, b.len, "big.json", &doc);
        sdc_alloc_fail_nth(ctx, 0);
        sdc_alloc_get_stats(ctx, &s);
        bool injected = s.n_failed > failed_before;
        CHECK_MSG(injected == (n <= allocs), "run %llu: injected %d", (unsigned long long)n,
                  injected);
        if (st == SDC_STATUS_OK) {
            CHECK_MSG(!injected, "run %llu succeeded despite a failed allocation",
                      (unsigned long long)n);
            CHECK(doc != NULL);
            sdc_json_free(doc);
        } else {
            CHECK_EQ_INT(st, SDC_STATUS_OUT_OF_MEMORY);
            CHECK(doc == NULL);
            CHECK_CONTAINS(sdc_context_errmsg(ctx), "out of memory");
            CHECK_CONTAINS(sdc_context_errmsg(ctx), "big.json");
        }
        sdc_alloc_get_stats(ctx, &s);
        CHECK_EQ_INT(s.live_bytes, live);
        if (st == SDC_STATUS_OK)
            break;
    }
    /* The loop ended with the first run that had nothing left to fail. */
    CHECK(allocs > 3);
    CHECK_EQ_INT(n, allocs + 1);
    sdc_buf_free(&b);
    check_no_leak();
}

int main(void)
{
    sdc_context_params p = sdc_context_default_params();
    p.n_threads = 1;
    if (sdc_context_create(&p, &ctx) != SDC_STATUS_OK)
        return 1;
    RUN(test_scalars);
    RUN(test_containers);
    RUN(test_numbers);
    RUN(test_rejects_number_forms);
    RUN(test_rejects_structure);
    RUN(test_rejects_strings);
    RUN(test_strings);
    RUN(test_depth);
    RUN(test_duplicate_keys);
    RUN(test_quote);
    RUN(test_locale_independence);
    RUN(test_writer_output);
    RUN(test_double_round_trip);
    RUN(test_round_trip);
    RUN(test_fault_injection);
    sdc_context_destroy(ctx);
    return test_finish();
}
