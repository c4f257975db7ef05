/* JSON writer and parser. */
#include <math.h>

#include "test.h"
#include "vtg/error.h"
#include "vtg/json.h"

VTG_TEST(writer_basic) {
  vtg_buf_t b;
  vtg_json_writer_t w;
  vtg_buf_init(&b, 4096);
  vtg_json_writer_init(&w, &b, 0);
  vtg_json_begin_object(&w);
  vtg_json_key(&w, "s");
  vtg_json_string(&w, "x");
  vtg_json_key(&w, "i");
  vtg_json_int(&w, -9007199254740993LL);
  vtg_json_key(&w, "d");
  vtg_json_double(&w, 0.1);
  vtg_json_key(&w, "whole");
  vtg_json_double(&w, 3.0);
  vtg_json_key(&w, "inf");
  vtg_json_double(&w, INFINITY);
  vtg_json_key(&w, "b");
  vtg_json_bool(&w, 1);
  vtg_json_key(&w, "n");
  vtg_json_string(&w, NULL);
  vtg_json_key(&w, "t");
  vtg_json_time(&w, 1795521603250000LL);
  vtg_json_key(&w, "tn");
  vtg_json_time(&w, INT64_MIN);
  vtg_json_key(&w, "a");
  vtg_json_begin_array(&w);
  vtg_json_int(&w, 1);
  vtg_json_raw(&w, "{\"r\":2}", 7);
  vtg_json_begin_array(&w);
  vtg_json_end_array(&w);
  vtg_json_begin_object(&w);
  vtg_json_end_object(&w);
  vtg_json_end_array(&w);
  vtg_json_end_object(&w);
  ASSERT_EQ(vtg_json_finish(&w), 0);
  ASSERT_STR_EQ(b.data,
                "{\"s\":\"x\",\"i\":-9007199254740993,\"d\":0.1,\"whole\":3,\"inf\":null,"
                "\"b\":true,\"n\":null,\"t\":\"2026-11-24T12:00:03.250Z\",\"tn\":null,"
                "\"a\":[1,{\"r\":2},[],{}]}");
  vtg_buf_free(&b);
  return 0;
}

VTG_TEST(writer_pretty) {
  vtg_buf_t b;
  vtg_json_writer_t w;
  vtg_buf_init(&b, 4096);
  vtg_json_writer_init(&w, &b, 1);
  vtg_json_begin_array(&w);
  vtg_json_begin_object(&w);
  vtg_json_key(&w, "id");
  vtg_json_int(&w, 1);
  vtg_json_key(&w, "regions");
  vtg_json_begin_array(&w);
  vtg_json_string(&w, "us-east");
  vtg_json_end_array(&w);
  vtg_json_key(&w, "e");
  vtg_json_begin_array(&w);
  vtg_json_end_array(&w);
  vtg_json_end_object(&w);
  vtg_json_end_array(&w);
  ASSERT_EQ(vtg_json_finish(&w), 0);
  ASSERT_STR_EQ(b.data,
                "[\n"
                "  {\n"
                "    \"id\": 1,\n"
                "    \"regions\": [\n"
                "      \"us-east\"\n"
                "    ],\n"
                "    \"e\": []\n"
                "  }\n"
                "]");
  vtg_buf_free(&b);
  return 0;
}

VTG_TEST(writer_escaping) {
  vtg_buf_t b;
  vtg_json_writer_t w;
  vtg_buf_init(&b, 4096);
  vtg_json_writer_init(&w, &b, 0);
  vtg_json_string(&w, "q\" b\\ /\n\r\t\b\f\x01\x1f\x7f caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"
                      " bad\xff\xc3(");
  ASSERT_EQ(vtg_json_finish(&w), 0);
  ASSERT_STR_EQ(b.data,
                "\"q\\\" b\\\\ /\\n\\r\\t\\b\\f\\u0001\\u001f\x7f caf\xc3\xa9 \xe2\x82\xac "
                "\xf0\x9f\x98\x80 bad\\ufffd\\ufffd(\"");
  vtg_buf_free(&b);
  return 0;
}

VTG_TEST(writer_errors) {
  vtg_buf_t b;
  vtg_json_writer_t w;
  /* value without a key inside an object */
  vtg_buf_init(&b, 4096);
  vtg_json_writer_init(&w, &b, 0);
  vtg_json_begin_object(&w);
  vtg_json_int(&w, 1);
  ASSERT_EQ(vtg_json_finish(&w), VTG_EINVAL);
  vtg_buf_free(&b);
  /* unclosed */
  vtg_buf_init(&b, 4096);
  vtg_json_writer_init(&w, &b, 0);
  vtg_json_begin_array(&w);
  ASSERT_EQ(vtg_json_finish(&w), VTG_EINVAL);
  vtg_buf_free(&b);
  /* mismatched close, key in array */
  vtg_buf_init(&b, 4096);
  vtg_json_writer_init(&w, &b, 0);
  vtg_json_begin_array(&w);
  vtg_json_end_object(&w);
  ASSERT_EQ(vtg_json_finish(&w), VTG_EINVAL);
  vtg_buf_free(&b);
  vtg_buf_init(&b, 4096);
  vtg_json_writer_init(&w, &b, 0);
  vtg_json_begin_array(&w);
  vtg_json_key(&w, "k");
  ASSERT_EQ(vtg_json_finish(&w), VTG_EINVAL);
  vtg_buf_free(&b);
  /* buffer cap */
  vtg_buf_init(&b, 16);
  vtg_json_writer_init(&w, &b, 0);
  vtg_json_begin_array(&w);
  for (int i = 0; i < 100; i++) vtg_json_int(&w, i);
  vtg_json_end_array(&w);
  ASSERT_EQ(vtg_json_finish(&w), VTG_ELIMIT);
  ASSERT(b.len <= 16);
  vtg_buf_free(&b);
  /* too deep */
  vtg_buf_init(&b, 4096);
  vtg_json_writer_init(&w, &b, 0);
  for (int i = 0; i < 65; i++) vtg_json_begin_array(&w);
  ASSERT_EQ(vtg_json_finish(&w), VTG_ELIMIT);
  vtg_buf_free(&b);
  return 0;
}

static int parse_ok(const char *text, vtg_json_t **v) {
  char err[128];
  int rc = vtg_json_parse(text, strlen(text), v, err, sizeof err);
  if (rc) fprintf(stderr, "parse '%s': %s\n", text, err);
  return rc;
}

VTG_TEST(parse_values) {
  vtg_json_t *v = NULL;
  ASSERT_EQ(parse_ok(" {\"a\": [1, -2.5e3, true, false, null, \"x\"], \"b\": {\"c\": \"d\"},"
                     " \"n\": 0.125, \"s\": \"\\u00e9\\u20ac\\ud83d\\ude00\\/\\n\"} ",
                     &v),
            0);
  ASSERT_EQ(v->type, VTG_JSON_OBJECT);
  ASSERT_EQ(v->n, 4);
  const vtg_json_t *a = vtg_json_get(v, "a");
  ASSERT(a && a->type == VTG_JSON_ARRAY && a->n == 6);
  ASSERT(a->items[0]->number == 1);
  ASSERT(a->items[1]->number == -2500);
  ASSERT(a->items[2]->type == VTG_JSON_BOOL && a->items[2]->boolean == 1);
  ASSERT(a->items[3]->type == VTG_JSON_BOOL && a->items[3]->boolean == 0);
  ASSERT(a->items[4]->type == VTG_JSON_NULL);
  ASSERT_STR_EQ(a->items[5]->string, "x");
  ASSERT_STR_EQ(vtg_json_get_str(vtg_json_get(v, "b"), "c", NULL), "d");
  ASSERT(vtg_json_get_num(v, "n", 0) == 0.125);
  ASSERT(vtg_json_get_num(v, "a", -1) == -1);
  ASSERT(vtg_json_get_num(v, "zz", -1) == -1);
  ASSERT_STR_EQ(vtg_json_get_str(v, "n", "fb"), "fb");
  ASSERT_STR_EQ(vtg_json_get_str(v, "s", NULL), "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80/\n");
  ASSERT(vtg_json_get(a, "x") == NULL);
  ASSERT(vtg_json_get(NULL, "x") == NULL);
  vtg_json_free(v);
  ASSERT_EQ(parse_ok("[]", &v), 0);
  ASSERT_EQ(v->n, 0);
  vtg_json_free(v);
  ASSERT_EQ(parse_ok("\"\"", &v), 0);
  ASSERT_STR_EQ(v->string, "");
  vtg_json_free(v);
  ASSERT_EQ(parse_ok("-0", &v), 0);
  vtg_json_free(v);
  vtg_json_free(NULL);
  return 0;
}

VTG_TEST(round_trip) {
  const char *text =
      "{\"id\":7,\"check\":\"shop-web\",\"regions\":[\"us-east\",\"eu-west\"],"
      "\"duration_s\":12.5,\"ongoing\":false,\"ended\":null,\"x\":{\"y\":[[],{}]},"
      "\"esc\":\"a\\\"b\\\\c\\n\\u0001\"}";
  vtg_json_t *v = NULL;
  vtg_buf_t b;
  vtg_json_writer_t w;
  ASSERT_EQ(parse_ok(text, &v), 0);
  vtg_buf_init(&b, 0);
  vtg_json_writer_init(&w, &b, 0);
  vtg_json_write_value(&w, v);
  ASSERT_EQ(vtg_json_finish(&w), 0);
  ASSERT_STR_EQ(b.data, text);
  /* set_num replaces in place and appends */
  ASSERT_EQ(vtg_json_set_num(v, "duration_s", 99), 0);
  ASSERT_EQ(vtg_json_set_num(v, "ended", 1), 0);
  for (int i = 0; i < 20; i++) {
    char k[16];
    snprintf(k, sizeof k, "k%d", i);
    ASSERT_EQ(vtg_json_set_num(v, k, i), 0);
  }
  ASSERT_EQ(vtg_json_set_num(v->items[2], "a", 1), VTG_EINVAL);
  ASSERT(vtg_json_get_num(v, "duration_s", 0) == 99);
  ASSERT(vtg_json_get_num(v, "k19", 0) == 19);
  ASSERT_STR_EQ(v->keys[3], "duration_s");
  ASSERT_EQ(v->n, 28);
  /* pretty output parses back to the same tree */
  vtg_buf_reset(&b);
  vtg_json_writer_init(&w, &b, 1);
  vtg_json_write_value(&w, v);
  ASSERT_EQ(vtg_json_finish(&w), 0);
  vtg_json_t *v2 = NULL;
  ASSERT_EQ(parse_ok(b.data, &v2), 0);
  vtg_buf_t b2;
  vtg_buf_init(&b2, 0);
  vtg_json_writer_init(&w, &b2, 1);
  vtg_json_write_value(&w, v2);
  ASSERT_EQ(vtg_json_finish(&w), 0);
  ASSERT_STR_EQ(b.data, b2.data);
  vtg_buf_free(&b2);
  vtg_json_free(v2);
  vtg_json_free(v);
  vtg_buf_free(&b);
  return 0;
}

VTG_TEST(doubles) {
  static const double vals[] = {0.1, 1.0 / 3, 1e300, -1e-300, 123456789.125, 2.5e-7,
                                9007199254740993.0, 0.30000000000000004};
  for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
    vtg_buf_t b;
    vtg_json_writer_t w;
    vtg_json_t *v = NULL;
    vtg_buf_init(&b, 0);
    vtg_json_writer_init(&w, &b, 0);
    vtg_json_double(&w, vals[i]);
    ASSERT_EQ(vtg_json_finish(&w), 0);
    ASSERT_EQ(parse_ok(b.data, &v), 0);
    ASSERT(v->number == vals[i]);
    vtg_json_free(v);
    vtg_buf_free(&b);
  }
  return 0;
}

VTG_TEST(parse_errors) {
  static const struct { const char *text; const char *err; } cases[] = {
      {"", "offset 0: unexpected end of input"},
      {"{", "offset 1: object key expected"},
      {"[1,]", "offset 3: unexpected character ']'"},
      {"[1 2]", "offset 3: ',' or ']' expected"},
      {"{\"a\" 1}", "offset 5: ':' expected"},
      {"{\"a\":1,}", "offset 7: object key expected"},
      {"tru", "offset 0: unexpected character 't'"},
      {"01", "offset 1: trailing characters after the value"},
      {"1.", "offset 2: bad number: digit expected after '.'"},
      {"-", "offset 1: bad number"},
      {"1e", "offset 2: bad number: digit expected in exponent"},
      {"\"abc", "offset 4: unterminated string"},
      {"\"a\nb\"", "offset 2: control character in string"},
      {"\"\\x\"", "offset 2: bad escape '\\x'"},
      {"\"\\u12zz\"", "offset 3: bad hex digit in \\u escape"},
      {"\"\\u12\"", "offset 3: truncated \\u escape"},
      {"\"\\ud800\"", "offset 7: high surrogate not followed by a low one"},
      {"\"\\ud800\\u0041\"", "offset 13: high surrogate not followed by a low one"},
      {"\"\\udc00\"", "offset 7: lone low surrogate in \\u escape"},
      {"\"\\u0000\"", "offset 7: \\u0000 is not supported"},
      {"[1] x", "offset 4: trailing characters after the value"},
      {"'a'", "offset 0: unexpected character '''"},
      {"NaN", "offset 0: unexpected character 'N'"},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    vtg_json_t *v = NULL;
    char err[128];
    int rc = vtg_json_parse(cases[k].text, strlen(cases[k].text), &v, err, sizeof err);
    if (rc != VTG_EJSON || strcmp(err, cases[k].err) != 0)
      fprintf(stderr, "case %zu '%s': rc %d err '%s'\n", k, cases[k].text, rc, err);
    ASSERT_EQ(rc, VTG_EJSON);
    ASSERT_STR_EQ(err, cases[k].err);
    ASSERT(v == NULL);
  }
  /* not NUL-terminated: the length is respected */
  vtg_json_t *v = NULL;
  ASSERT_EQ(vtg_json_parse("[1]garbage", 3, &v, NULL, 0), 0);
  vtg_json_free(v);
  return 0;
}

VTG_TEST(depth_cap) {
  char text[300];
  vtg_json_t *v = NULL;
  char err[128];
  /* 64 levels parse */
  memset(text, '[', 64);
  memset(text + 64, ']', 64);
  ASSERT_EQ(vtg_json_parse(text, 128, &v, err, sizeof err), 0);
  vtg_json_free(v);
  v = NULL;
  /* 65 do not */
  memset(text, '[', 65);
  memset(text + 65, ']', 65);
  ASSERT_EQ(vtg_json_parse(text, 130, &v, err, sizeof err), VTG_EJSON);
  ASSERT_STR_EQ(err, "offset 64: nesting deeper than 64");
  ASSERT(v == NULL);
  /* a very deep hostile input stops early */
  static char deep[100000];
  memset(deep, '[', sizeof deep);
  ASSERT_EQ(vtg_json_parse(deep, sizeof deep, &v, err, sizeof err), VTG_EJSON);
  memset(deep, '{', sizeof deep);
  ASSERT_EQ(vtg_json_parse(deep, sizeof deep, &v, err, sizeof err), VTG_EJSON);
  return 0;
}

VTG_TEST_MAIN(VTG_TEST_ENTRY(writer_basic) VTG_TEST_ENTRY(writer_pretty)
                  VTG_TEST_ENTRY(writer_escaping) VTG_TEST_ENTRY(writer_errors)
                      VTG_TEST_ENTRY(parse_values) VTG_TEST_ENTRY(round_trip)
                          VTG_TEST_ENTRY(doubles) VTG_TEST_ENTRY(parse_errors)
                              VTG_TEST_ENTRY(depth_cap))
