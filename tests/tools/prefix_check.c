/*
 * prefix_check.c - feed every prefix of each input file through the whole
 * compiler in-process (parse, evaluate, summaries, and code generation without
 * writing files) and check that each run
 * ends either cleanly or with at least one diagnostic: never a crash, an
 * abort or (under SAN=1) a sanitizer report. Prints one line per file and a
 * final count; exits 1 on the first violation.
 *
 * usage: prefix_check FILE...
 */
#include "kdlc.h"

#include <stdlib.h>
#include <string.h>

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t k;
    while (buf && (k = fread(buf + n, 1, cap - n, f)) > 0) {
        n += k;
        if (n == cap) {
            char *grown = realloc(buf, cap *= 2);
            if (!grown) {
                free(buf);
                buf = NULL;
            }
            buf = grown;
        }
    }
    fclose(f);
    *len = n;
    return buf;
}

// Run one source text; returns 0 if it behaved (success, or errors that
// were reported), 1 if it failed without a diagnostic.
static int run_text(const char *name, const char *text, size_t len, FILE *sink) {
    Ctx *c = ctx_new(sink, sink);
    c->summary_columns = 80;
    SrcFile *f = src_from_string(c, name, text, len);
    c->file = f;
    Node *ast = parse_file(c, f);
    bool ok = ast != NULL;
    if (ast)
        ok = eval_file(c, ast);
    // A program that runs is also lowered and emitted (nothing is written):
    // code generation must not crash on any model either.
    // (Its own errors, such as an unsupported layer, are fine; a crash is not.)
    if (ok && !c->nerrors) {
        EmitOpts o = {0};
        emit_c(c, name, &o);
    }
    int bad = (!ok && c->nerrors == 0) ? 1 : 0;
    ctx_free(c);
    return bad;
}

int main(int argc, char **argv) {
    FILE *sink = fopen("/dev/null", "w");
    if (!sink)
        return 2;
    long runs = 0;
    for (int i = 1; i < argc; i++) {
        size_t len;
        char *text = slurp(argv[i], &len);
        if (!text) {
            fprintf(stderr, "prefix_check: cannot read %s\n", argv[i]);
            return 2;
        }
        for (size_t n = 0; n <= len; n++) {
            runs++;
            if (run_text(argv[i], text, n, sink)) {
                fprintf(stderr, "prefix_check: %s: prefix of %zu bytes failed without a diagnostic\n",
                        argv[i], n);
                fprintf(stderr, "---\n%.*s\n---\n", (int)n, text);
                return 1;
            }
        }
        printf("%s: %zu prefixes ok\n", argv[i], len + 1);
        free(text);
    }
    fclose(sink);
    printf("%ld runs\n", runs);
    return 0;
}
