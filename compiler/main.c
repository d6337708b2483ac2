/*
 * main.c - the kdlc command line: flags, then the pipeline as a flat list
 * of calls (load -> parse -> evaluate -> report).
 *
 *   kdlc check FILE [--dump=tokens|ast|layers|graph]
 *   kdlc summary FILE [--model NAME] [--line-length N] [--positions P,...]
 *                     [--expand-nested] [--show-trainable] [--layer-range START END]
 *   kdlc emit FILE -o DIR [--no-fuse] [--stats] [--train]
 *   kdlc build FILE -o DIR [--no-fuse] [--train]
 *
 * Exit status: 0 success, 1 errors in the .kdl file, 2 bad command line or
 * unreadable file. See docs/cli.md.
 */
#define _POSIX_C_SOURCE 200809L
#include "kdlc.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

// How the runtime library was built (Makefile): what a program must link.
#ifndef KDL_LINK_FLAGS
#define KDL_LINK_FLAGS "-lopenblas -lm"
#endif

static const char *usage_text =
    "usage: kdlc check FILE [--dump=tokens|ast|layers|graph|json]\n"
    "       kdlc emit FILE -o DIR [--no-fuse] [--stats] [--train]\n"
    "       kdlc build FILE -o DIR [--no-fuse] [--train]\n"
    "       kdlc summary FILE [--model NAME] [--line-length N] [--positions P,...]\n"
    "                         [--expand-nested] [--show-trainable] [--layer-range START END]\n"
    "       kdlc --help | --version\n";

static int usage_error(const char *fmt, const char *arg) {
    fprintf(stderr, "kdlc: error: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n%s", usage_text);
    return 2;
}

typedef struct Options {
    const char *cmd;
    const char *file;
    const char *dump;
    const char *model;
    SummaryOpts sum;
    EmitOpts emit;
} Options;

static int parse_args(int argc, char **argv, Options *o) {
    memset(o, 0, sizeof *o);
    if (argc < 2)
        return usage_error("missing command", "");
    o->cmd = argv[1];
    if (strcmp(o->cmd, "check") && strcmp(o->cmd, "summary") && strcmp(o->cmd, "emit") &&
        strcmp(o->cmd, "build"))
        return usage_error("unknown command '%s'", o->cmd);
    bool summary = !strcmp(o->cmd, "summary");
    bool emit = !strcmp(o->cmd, "emit") || !strcmp(o->cmd, "build");
    o->emit.program = !strcmp(o->cmd, "build");
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *msg;
        int k;
        if (!strncmp(a, "--dump=", 7) && !summary) {
            o->dump = a + 7;
            if (strcmp(o->dump, "tokens") && strcmp(o->dump, "ast") && strcmp(o->dump, "layers") &&
                strcmp(o->dump, "graph") && strcmp(o->dump, "json"))
                return usage_error("unknown dump '%s' (tokens, ast, layers, graph or json)",
                                   o->dump);
        } else if (summary && !strcmp(a, "--model")) {
            if (++i >= argc)
                return usage_error("%s needs a model name", a);
            o->model = argv[i];
        } else if (summary && (k = kdl_summary_arg(argc, argv, &i, &o->sum, &msg)) != 0) {
            if (k < 0)
                return usage_error("%s", msg);
        } else if (emit && !strcmp(a, "-o")) {
            // An empty DIR would make "/<stem>.c": files in the root.
            if (++i >= argc || !argv[i][0])
                return usage_error("%s needs an output directory", a);
            o->emit.outdir = argv[i];
        } else if (emit && !strcmp(a, "--no-fuse")) {
            o->emit.no_fuse = true;
        } else if (emit && !strcmp(a, "--stats")) {
            o->emit.stats = true;
        } else if (emit && !strcmp(a, "--train")) {
            o->emit.train = true;
        } else if (a[0] == '-' && a[1]) {
            return usage_error("unknown option '%s'", a);
        } else if (!o->file) {
            o->file = a;
        } else {
            return usage_error("unexpected argument '%s'", a);
        }
    }
    if (!o->file)
        return usage_error("missing input file", "");
    if (emit && !o->emit.outdir)
        return usage_error("%s needs -o DIR", o->cmd);
    return 0;
}

// ---- dumps ---------------------------------------------------------------------

static void dump_layer(Ctx *c, Layer *l, FILE *out) {
    int line = 0, col = 0;
    if (l->span.file)
        src_line_col(l->span.file, l->span.start, &line, &col);
    fprintf(out, "layer %s (%s) @%d:%d%s\n", l->name, l->class_name, line, col,
            l->trainable ? "" : " frozen");
    for (int i = 0; i < l->nodes.len; i++) {
        CallNode *n = l->nodes.data[i];
        fprintf(out, "  call %d:", i);
        for (int k = 0; k < n->nin; k++) {
            Tensor *t = n->in[k];
            fprintf(out, " %s", shape_str(c->arena, &t->shape));
        }
        fprintf(out, " ->");
        for (int k = 0; k < n->nout; k++)
            fprintf(out, " %s", shape_str(c->arena, &n->out[k]->shape));
        fprintf(out, "\n");
    }
    if (!l->nodes.len && l->nlast_out) {
        fprintf(out, "  output:");
        for (int k = 0; k < l->nlast_out; k++)
            fprintf(out, " %s", shape_str(c->arena, &l->last_out[k]));
        fprintf(out, "\n");
    }
    for (int i = 0; i < l->nweights; i++) {
        Weight *w = l->weights[i];
        fprintf(out, "  weight %s %s%s\n", w->name, shape_pystr(c->arena, &w->shape),
                w->trainable ? "" : " non-trainable");
    }
    if (!l->model && l->tracked.len) {    // a wrapper
        fprintf(out, "  wraps");
        for (int i = 0; i < l->tracked.len; i++)
            fprintf(out, " %s", layer_path(l->tracked.data[i]));
        fprintf(out, "\n");
    }
    if (!l->model)
        fprintf(out, "  params %lld\n", (long long)layer_count_params(l, 0));
}

static void dump_graph(Ctx *c, Layer *m, FILE *out) {
    fprintf(out, "model %s (%s)%s\n", m->name, m->class_name, model_is_built(m) ? "" : " unbuilt");
    for (int gi = 0; gi < 2; gi++) {
        Graph *g = gi == 0 ? m->model->graph : m->model->train_graph;
        if (!g || (gi == 1 && g == m->model->graph))
            continue;
        if (gi == 1)
            fprintf(out, "  training graph:\n");
        for (int i = 0; i < g->ninputs; i++)
            fprintf(out, "  input %s %s\n", g->inputs[i]->name,
                    shape_str(c->arena, &g->inputs[i]->shape));
        for (int i = 0; i < g->nnodes; i++) {
            CallNode *n = g->nodes[i];
            if (n->nin == 0)
                continue;
            fprintf(out, "  %s (%s)", n->layer->name, n->layer->class_name);
            if (n->training >= 0)
                fprintf(out, " training=%s", n->training ? "True" : "False");
            fprintf(out, ":");
            for (int k = 0; k < n->nin; k++)
                fprintf(out, " %s", n->in[k]->name);
            fprintf(out, " ->");
            for (int k = 0; k < n->nout; k++)
                fprintf(out, " %s %s", n->out[k]->name, shape_str(c->arena, &n->out[k]->shape));
            fprintf(out, "\n");
        }
        for (int i = 0; i < g->noutputs; i++)
            fprintf(out, "  output %s\n", g->outputs[i]->name);
    }
    fprintf(out, "  layers:");
    for (int i = 0; i < m->model->layers.len; i++)
        fprintf(out, " %s", ((Layer *)m->model->layers.data[i])->name);
    fprintf(out, "\n");
}

// ---- --dump=json: the models as data, for the reference scripts in tests/ -------------

static void json_str(FILE *out, const char *s) {
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(out, "\\u%04x", *p);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

static void json_value(Ctx *c, const Value *v, FILE *out, int depth) {
    if (depth > 20) {
        fputs("null", out);
        return;
    }
    switch (v->kind) {
    case V_NONE: fputs("null", out); break;
    case V_BOOL: fputs(v->u.b ? "true" : "false", out); break;
    case V_INT: fprintf(out, "%lld", (long long)v->u.i); break;
    case V_FLOAT: fprintf(out, "%.17g", v->u.f); break;
    case V_STR: json_str(out, v->u.str.s); break;
    case V_LIST: case V_TUPLE:
        fputc('[', out);
        for (int i = 0; i < list_len(v); i++) {
            if (i)
                fputc(',', out);
            json_value(c, list_get(v, i), out, depth + 1);
        }
        fputc(']', out);
        break;
    case V_DICT:
        fputc('{', out);
        for (int i = 0; i < v->u.dict->keys.len; i++) {
            if (i)
                fputc(',', out);
            json_str(out, value_str(c, v->u.dict->keys.data[i]));
            fputc(':', out);
            json_value(c, v->u.dict->vals.data[i], out, depth + 1);
        }
        fputc('}', out);
        break;
    case V_OBJECT: {
        Object *o = v->u.object;
        fprintf(out, "{\"class\":");
        json_str(out, o->cls);
        fprintf(out, ",\"config\":{");
        for (int i = 0; o->sig && i < o->sig->nparams; i++) {
            if (i)
                fputc(',', out);
            json_str(out, o->sig->params[i].name);
            fputc(':', out);
            json_value(c, o->args[i], out, depth + 1);
        }
        fputs("}}", out);
        break;
    }
    default:
        json_str(out, value_repr(c, v));
        break;
    }
}

static void json_shape_vals(const Shape *s, FILE *out) {
    fputc('[', out);
    for (int i = 0; i < s->rank; i++) {
        if (i)
            fputc(',', out);
        if (s->d[i] == DIM_NONE)
            fputs("null", out);
        else
            fprintf(out, "%lld", (long long)s->d[i]);
    }
    fputc(']', out);
}

static void json_graph(Ctx *c, Layer *m, FILE *out, int depth);

static void json_layer(Ctx *c, Layer *l, FILE *out, int depth) {
    fputs("{\"name\":", out);
    json_str(out, l->name);
    fputs(",\"class\":", out);
    json_str(out, l->class_name);
    if (l->model) {
        fputs(",\"model\":", out);
        json_graph(c, l, out, depth + 1);
    } else if (l->sig) {
        fputs(",\"config\":{", out);
        for (int i = 0; i < l->sig->nparams; i++) {
            if (i)
                fputc(',', out);
            json_str(out, l->sig->params[i].name);
            fputc(':', out);
            json_value(c, l->args[i], out, 0);
        }
        fputc('}', out);
    }
    // The layer's trainable flag now (`layer.trainable = False` after construction
    // included), and each weight's.
    fprintf(out, ",\"trainable\":%s", l->trainable ? "true" : "false");
    // A wrapped layer's weights are named <path>/<weight>; a wrapper lists its
    // wrapped layers ("wrapped") and all their weights as its own.
    if (l->path) {
        fputs(",\"path\":", out);
        json_str(out, l->path);
    }
    if (!l->model && l->tracked.len && depth < 16) {
        fputs(",\"wrapped\":[", out);
        for (int i = 0; i < l->tracked.len; i++) {
            if (i)
                fputc(',', out);
            json_layer(c, l->tracked.data[i], out, depth + 1);
        }
        fputc(']', out);
    }
    Vec ws = {0};
    if (l->model)
        for (int i = 0; i < l->nweights; i++)
            vec_push(c->arena, &ws, l->weights[i]);
    else
        model_weights(c, l, &ws);
    fputs(",\"weights\":[", out);
    for (int i = 0; i < ws.len; i++) {
        Weight *w = ws.data[i];
        if (i)
            fputc(',', out);
        fprintf(out, "{\"name\":");
        json_str(out, arena_printf(c->arena, "%s/%s", layer_path(w->owner), w->name));
        fputs(",\"shape\":", out);
        json_shape_vals(&w->shape, out);
        fprintf(out, ",\"trainable\":%s", weight_is_trainable(w) ? "true" : "false");
        fputc('}', out);
    }
    fputs("]}", out);
}

static void json_graph_of(Ctx *c, Layer *m, Graph *g, FILE *out, int depth);

// A model's inference graph; a subclassed model whose training=True trace
// differs also has it, as "train" (the training code runs that one).
static void json_graph(Ctx *c, Layer *m, FILE *out, int depth) {
    Graph *g = m->model->graph, *tg = m->model->train_graph;
    if (!g || depth > 16) {
        fputs("null", out);
        return;
    }
    json_graph_of(c, m, g, out, depth);
    if (tg && tg != g) {
        fputs(",\"train\":", out);
        json_graph_of(c, m, tg, out, depth);
        fputc('}', out);
    }
    fputc('}', out);
}

// The graph's members, without the closing brace.
static void json_graph_of(Ctx *c, Layer *m, Graph *g, FILE *out, int depth) {
    fputs("{\"name\":", out);
    json_str(out, m->name);
    fputs(",\"inputs\":[", out);
    for (int i = 0; i < g->ninputs; i++) {
        fprintf(out, "%s{\"tensor\":", i ? "," : "");
        json_str(out, g->inputs[i]->name);
        fputs(",\"shape\":", out);
        json_shape_vals(&g->inputs[i]->shape, out);
        fprintf(out, ",\"dtype\":\"%s\"}", dtype_name(g->inputs[i]->dtype));
    }
    fputs("],\"nodes\":[", out);
    bool first = true;
    for (int i = 0; i < g->nnodes; i++) {
        CallNode *n = g->nodes[i];
        if (n->nin == 0)
            continue;
        fprintf(out, "%s{\"layer\":", first ? "" : ",");
        first = false;
        json_layer(c, n->layer, out, depth);
        fputs(",\"inputs\":[", out);
        for (int k = 0; k < n->nin; k++) {
            if (k)
                fputc(',', out);
            json_str(out, n->in[k]->name);
        }
        fputs("],\"outputs\":[", out);
        for (int k = 0; k < n->nout; k++) {
            fprintf(out, "%s{\"tensor\":", k ? "," : "");
            json_str(out, n->out[k]->name);
            fputs(",\"shape\":", out);
            json_shape_vals(&n->out[k]->shape, out);
            fputc('}', out);
        }
        fprintf(out, "],\"training\":%d}", n->training);
    }
    fputs("],\"outputs\":[", out);
    for (int i = 0; i < g->noutputs; i++) {
        if (i)
            fputc(',', out);
        json_str(out, g->outputs[i]->name);
    }
    fputc(']', out);
}

static void dump_json(Ctx *c, FILE *out);

// ---- summary command ----------------------------------------------------------------


// Every model bound to a top-level name: {"models": {"var": graph, ...}}.
static void dump_json(Ctx *c, FILE *out) {
    Vec names = {0}, models = {0};
    top_level_models(c, &names, &models);
    fputs("{\"models\":{", out);
    for (int i = 0; i < models.len; i++) {
        if (i)
            fputc(',', out);
        json_str(out, names.data[i]);
        fputc(':', out);
        json_graph(c, models.data[i], out, 0);
    }
    fputs("}}\n", out);
}

static int print_summary(Ctx *c, Layer *m, SummaryOpts *o) {
    if (!model_is_built(m)) {
        error_at(c, m->span,
                 "model '%s' has not yet been built, so it has no summary. Build the model "
                 "first by calling `build()` or by calling the model on a batch of data.",
                 m->name);
        return 1;
    }
    const char *err = NULL;
    const char *text = summary_render(c, m, o, &err);
    if (!text) {
        fprintf(c->err, "kdlc: error: %s\n", err ? err : "cannot print the summary");
        return 1;
    }
    fputs(text, c->out);
    return 0;
}

static int cmd_summary(Ctx *c, Options *o) {
    Vec names = {0}, models = {0};
    top_level_models(c, &names, &models);
    o->sum.columns = c->summary_columns;
    if (o->model) {
        // Any top-level name bound to a model selects it (aliases included).
        Value *v = dict_get_str(c->globals->vars, o->model);
        if (v && v->kind == V_LAYER && v->u.layer->model && !v->u.layer->model->custom_layer)
            return print_summary(c, v->u.layer, &o->sum);
        for (int i = 0; i < c->models.len; i++) {
            Layer *m = c->models.data[i];
            if (m->name && !strcmp(m->name, o->model))
                return print_summary(c, m, &o->sum);
        }
        fprintf(c->err, "kdlc: error: no model named '%s' in %s", o->model, o->file);
        if (models.len) {
            fprintf(c->err, "; models:");
            for (int i = 0; i < models.len; i++)
                fprintf(c->err, " %s", (const char *)names.data[i]);
        }
        fprintf(c->err, "\n");
        return 1;
    }
    if (models.len == 0) {
        fprintf(c->err, "kdlc: error: %s binds no model to a top-level name\n", o->file);
        return 1;
    }
    int rc = 0;
    for (int i = 0; i < models.len; i++)
        rc |= print_summary(c, models.data[i], &o->sum);
    return rc;
}

// ---- build: compile the emitted C with the runtime ------------------------------------

static bool file_exists(const char *p) {
    return access(p, R_OK) == 0;
}

// The runtime next to this kdlc: build/kdlc uses build/libkdlrt.a and the
// repository's include/; an installed bin/kdlc uses ../lib and ../include.
static bool find_runtime(Ctx *c, const char **lib, const char **inc) {
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return false;
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = 0;
    const char *libs[] = {"%s/libkdlrt.a", "%s/../lib/libkdlrt.a"};
    const char *incs[] = {"%s/../include/kdl.h", "%s/../../include/kdl.h",
                          "%s/../../../include/kdl.h"};
    *lib = *inc = NULL;
    for (size_t i = 0; i < sizeof libs / sizeof libs[0] && !*lib; i++) {
        const char *p = arena_printf(c->arena, libs[i], exe);
        if (file_exists(p))
            *lib = p;
    }
    for (size_t i = 0; i < sizeof incs / sizeof incs[0] && !*inc; i++) {
        char *p = arena_printf(c->arena, incs[i], exe);
        if (file_exists(p)) {
            *strrchr(p, '/') = 0;
            *inc = p;
        }
    }
    return *lib && *inc;
}

static int run_cc(Ctx *c, const char *outdir, const char *stem) {
    const char *lib, *inc;
    if (!find_runtime(c, &lib, &inc)) {
        fprintf(stderr, "kdlc: error: cannot find the runtime (libkdlrt.a and kdl.h) next to kdlc; "
                "run `make` first, or install with `make install`\n");
        return 1;
    }
    const char *cc = getenv("CC");
    if (!cc || !*cc)
        cc = "cc";
    char *cmd = arena_printf(c->arena,
                             "%s -std=c11 -O2 -I'%s' -I'%s' '%s/%s.c' '%s/%s_main.c' '%s' %s "
                             "-o '%s/%s'",
                             cc, inc, outdir, outdir, stem, outdir, stem, lib, KDL_LINK_FLAGS,
                             outdir, stem);
    for (const char *p = outdir; *p; p++)
        if (*p == '\'') {
            fprintf(stderr, "kdlc: error: the output directory name contains a quote\n");
            return 1;
        }
    int rc = system(cmd);
    if (rc != 0) {
        fprintf(stderr, "kdlc: error: the C compiler failed: %s\n", cmd);
        return 1;
    }
    return 0;
}

// ---- main ----------------------------------------------------------------------------------

static int run(Options *o) {
    Ctx *c = ctx_new(stdout, stderr);
    c->summary_columns = kdl_terminal_columns();
    int rc = 0;
    SrcFile *f = src_load(c, o->file);
    if (!f) {
        ctx_free(c);
        return 2;
    }
    c->file = f;
    if (o->dump && !strcmp(o->dump, "tokens")) {
        dump_tokens(c, f, stdout);
        rc = c->nerrors ? 1 : 0;
        ctx_free(c);
        return rc;
    }
    Node *ast = parse_file(c, f);
    if (!ast) {
        ctx_free(c);
        return 1;
    }
    if (o->dump && !strcmp(o->dump, "ast")) {
        ast_dump(stdout, ast, 0);
        ctx_free(c);
        return 0;
    }
    c->quiet_summaries = !strcmp(o->cmd, "summary");
    eval_file(c, ast);
    if (c->nerrors) {
        ctx_free(c);
        return 1;
    }
    if (o->dump && !strcmp(o->dump, "layers")) {
        for (int i = 0; i < c->layers.len; i++)
            dump_layer(c, c->layers.data[i], stdout);
    } else if (o->dump && !strcmp(o->dump, "graph")) {
        for (int i = 0; i < c->models.len; i++)
            dump_graph(c, c->models.data[i], stdout);
    } else if (o->dump && !strcmp(o->dump, "json")) {
        dump_json(c, stdout);
    }
    if (!strcmp(o->cmd, "summary"))
        rc = cmd_summary(c, o);
    else if (!strcmp(o->cmd, "emit"))
        rc = emit_c(c, o->file, &o->emit) ? 0 : 1;
    else if (!strcmp(o->cmd, "build"))
        rc = emit_c(c, o->file, &o->emit) ? run_cc(c, o->emit.outdir, c->emitted_stem) : 1;
    fflush(stdout);
    ctx_free(c);
    return rc;
}

int main(int argc, char **argv) {
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (argc >= 2 && !strcmp(argv[1], "--version")) {
        puts("kdlc 0.1.0");
        return 0;
    }
    Options o;
    int rc = parse_args(argc, argv, &o);
    if (rc)
        return rc;
    return run(&o);
}
