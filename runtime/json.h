/*
 * json.h - a small strict JSON reader for the runtime's file loaders (not
 * part of the public API; io.c reads safetensors headers with it).
 *
 * kdl_json_parse builds a read-only tree in one arena: RFC 8259 syntax only
 * (no comments, no trailing commas, no leading zeros, no NaN), strings
 * checked for UTF-8 validity and decoded (escapes, \uXXXX with surrogate
 * pairs; lone surrogates are errors), nesting bounded by max_depth so a
 * hostile file cannot exhaust the stack. Numbers keep their literal text;
 * kdl_json_u64 converts the non-negative integers a header needs. Duplicate
 * object keys are kept (in order): callers that must reject them do.
 */
#ifndef KDL_JSON_H
#define KDL_JSON_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    KDL_JSON_NULL,
    KDL_JSON_FALSE,
    KDL_JSON_TRUE,
    KDL_JSON_NUMBER,
    KDL_JSON_STRING,
    KDL_JSON_ARRAY,
    KDL_JSON_OBJECT,
} kdl_JsonType;

typedef struct kdl_JsonValue kdl_JsonValue;
struct kdl_JsonValue {
    kdl_JsonType type;
    uint32_t offset;        // byte offset of the value in the text (for messages)
    uint32_t len;           // STRING/NUMBER: bytes in str; ARRAY/OBJECT: items / members
    union {
        const char *str;        // STRING: decoded UTF-8, NUL-terminated (may hold \u0000);
                                // NUMBER: the literal as written (not terminated)
        kdl_JsonValue *items;   // ARRAY: len values; OBJECT: 2*len values, key (a STRING)
                                // then value
    };
};

typedef struct kdl_JsonBlock kdl_JsonBlock;

// One parsed document; everything lives in its arena until kdl_json_free.
typedef struct kdl_Json {
    kdl_JsonValue root;
    kdl_JsonBlock *blocks;
} kdl_Json;

// LIMIT: valid so far, but nested deeper than max_depth or holding more
// than max_values values.
typedef enum { KDL_JSON_OK, KDL_JSON_SYNTAX, KDL_JSON_LIMIT, KDL_JSON_NOMEM } kdl_JsonStatus;

// Parse text[0, len) as one JSON value (surrounding whitespace allowed).
// At most max_values values (object keys included) and max_depth nested
// containers: memory use then stays below about 72 * max_values bytes plus
// the text's length, whatever the text. On failure sets *where to the byte
// offset of the problem and writes what was wrong into msg; doc needs
// kdl_json_free either way. len must be below 4 GiB.
kdl_JsonStatus kdl_json_parse(kdl_Json *doc, const char *text, size_t len, int max_depth,
                              size_t max_values, size_t *where, char *msg, size_t msglen);
void kdl_json_free(kdl_Json *doc);

typedef enum { KDL_JSON_U64_OK, KDL_JSON_U64_NOT_INT, KDL_JSON_U64_TOO_BIG } kdl_JsonU64;

// 1 if s[0, n) is well-formed UTF-8 (no overlong forms, no surrogates).
int kdl_json_valid_utf8(const char *s, size_t n);

// v as an unsigned 64-bit integer: OK only for a NUMBER written as plain
// digits ("24"; not "-1", "24.0", "2.4e1"); TOO_BIG when it exceeds 2^64-1.
kdl_JsonU64 kdl_json_u64(const kdl_JsonValue *v, uint64_t *out);

#endif
