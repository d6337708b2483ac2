/* Drives the generated sm_outer_summary (model.summary() at run time).
 *   summary_driver [kdlc summary options]: the text print_fn received on
 *       stdout, how often it was called on stderr;
 *   summary_driver --errors: defaults (NULL options and print_fn: stdout),
 *       then options kdl_summary rejects, short error buffers. */
#include "sm.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    int calls;
    char text[16384];
} Got;

static void keep(const char *text, void *user) {
    Got *g = user;
    g->calls++;
    snprintf(g->text, sizeof g->text, "%s", text);
}

static void try(const char *what, kdl_SummaryOptions *o, size_t errlen) {
    Got g = {0};
    char err[512];
    memset(err, 'x', sizeof err);
    kdl_Status st = sm_outer_summary(o, keep, &g, err, errlen);
    printf("%s: %s, print_fn called %d times, err \"%s\"\n", what, kdl_status_str(st), g.calls,
           errlen ? err : "");
}

int main(int argc, char **argv) {
    kdl_SummaryOptions o = {0};
    if (argc == 2 && !strcmp(argv[1], "--errors")) {
        if (sm_outer_summary(NULL, NULL, NULL, NULL, 0) != KDL_OK)
            return 1;
        o.layer_range[0] = "nope";
        o.layer_range[1] = "score";
        try("no match", &o, 512);
        try("errlen 8", &o, 8);
        try("errlen 0", &o, 0);
        o.layer_range[1] = NULL;
        try("one pattern", &o, 512);
        o = (kdl_SummaryOptions){.line_length = 20000};
        try("line_length", &o, 512);
        o = (kdl_SummaryOptions){.positions = {0.5, 1.0}, .npositions = 2};
        try("positions", &o, 512);
        o = (kdl_SummaryOptions){.layer_range = {"(?=x)", "score"}};
        try("lookahead", &o, 512);
        o = (kdl_SummaryOptions){.layer_range = {"x_in", "join"}};
        try("layer_range", &o, 512);
        return 0;
    }
    for (int i = 1; i < argc; i++) {
        const char *msg;
        if (kdl_summary_arg(argc, argv, &i, &o, &msg) != 1) {
            fprintf(stderr, "bad option %s\n", argv[i]);
            return 2;
        }
    }
    Got g = {0};
    char err[512] = "";
    kdl_Status st = sm_outer_summary(&o, keep, &g, err, sizeof err);
    fputs(g.text, stdout);
    fprintf(stderr, "%s, print_fn called %d times, %zu bytes%s%s\n", kdl_status_str(st), g.calls,
            strlen(g.text), err[0] ? ": " : "", err);
    return st != KDL_OK;
}
