/*
 * stcmp.c - compare the tensors of two safetensors files element by element:
 * every tensor of WANT (the reference) must be in GOT with the same shape and
 * |got - want| <= atol + rtol * |want| everywhere (NaN never matches). Prints
 * one line per tensor of WANT with its worst element (the one furthest beyond
 * its tolerance, else the largest error); tensors of GOT that WANT lacks are
 * listed but not an error. Exit 0 when all match, 1 otherwise, 2 on bad
 * input (a file that is not valid safetensors with F32 tensors).
 *
 * Both files are read twice: the header with the runtime's JSON reader for
 * the names and shapes, then the data with kdl_safetensors_load given specs
 * built from that header, which validates offsets, sizes and coverage.
 *
 * usage: stcmp GOT.safetensors WANT.safetensors [--rtol R] [--atol A]
 */
#include "json.h"
#include "kdl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HEADER (100u * 1000u * 1000u)   // safetensors' own limit

typedef struct {
    int n;
    kdl_WeightSpec *specs;
    char **names;
} File;

static void file_free(File *f) {
    for (int i = 0; i < f->n; i++) {
        free(f->names[i]);
        free(f->specs[i].data);
    }
    free(f->names);
    free(f->specs);
    memset(f, 0, sizeof *f);
}

static char *dup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    return d ? memcpy(d, s, n) : NULL;
}

static const kdl_JsonValue *member(const kdl_JsonValue *obj, const char *key) {
    for (uint32_t i = 0; i < obj->len; i++)
        if (!strcmp(obj->items[2 * i].str, key))
            return &obj->items[2 * i + 1];
    return NULL;
}

// Read the header of path and load every tensor. 0 on success, else a
// message in err.
static int file_load(const char *path, File *f, char *err, size_t errlen) {
    memset(f, 0, sizeof *f);
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        snprintf(err, errlen, "%s: cannot open", path);
        return -1;
    }
    unsigned char len8[8];
    if (fread(len8, 1, 8, fp) != 8) {
        fclose(fp);
        snprintf(err, errlen, "%s: too short for safetensors", path);
        return -1;
    }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | len8[i];
    if (hlen == 0 || hlen > MAX_HEADER) {
        fclose(fp);
        snprintf(err, errlen, "%s: header length %llu out of range", path,
                 (unsigned long long)hlen);
        return -1;
    }
    char *text = malloc((size_t)hlen);
    if (!text || fread(text, 1, (size_t)hlen, fp) != (size_t)hlen) {
        free(text);
        fclose(fp);
        snprintf(err, errlen, "%s: header truncated", path);
        return -1;
    }
    fclose(fp);
    kdl_Json doc;
    size_t where = 0;
    char msg[128];
    int rc = -1;
    if (kdl_json_parse(&doc, text, (size_t)hlen, 8, 1u << 20, &where, msg, sizeof msg) !=
        KDL_JSON_OK) {
        snprintf(err, errlen, "%s: header: %s at byte %zu", path, msg, where);
        goto done;
    }
    const kdl_JsonValue *root = &doc.root;
    if (root->type != KDL_JSON_OBJECT) {
        snprintf(err, errlen, "%s: header is not a JSON object", path);
        goto done;
    }
    f->specs = calloc(root->len + 1, sizeof *f->specs);
    f->names = calloc(root->len + 1, sizeof *f->names);
    if (!f->specs || !f->names) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto done;
    }
    for (uint32_t i = 0; i < root->len; i++) {
        const char *name = root->items[2 * i].str;
        const kdl_JsonValue *v = &root->items[2 * i + 1];
        if (!strcmp(name, "__metadata__"))
            continue;
        if (strlen(name) != root->items[2 * i].len) {
            snprintf(err, errlen, "%s: a tensor name holds a NUL byte", path);
            goto done;
        }
        const kdl_JsonValue *dt = v->type == KDL_JSON_OBJECT ? member(v, "dtype") : NULL;
        const kdl_JsonValue *sh = v->type == KDL_JSON_OBJECT ? member(v, "shape") : NULL;
        if (!dt || dt->type != KDL_JSON_STRING || !sh || sh->type != KDL_JSON_ARRAY) {
            snprintf(err, errlen, "%s: tensor '%s': no dtype or shape", path, name);
            goto done;
        }
        if (strcmp(dt->str, "F32")) {
            snprintf(err, errlen, "%s: tensor '%s': dtype %s (stcmp compares F32 only)", path,
                     name, dt->str);
            goto done;
        }
        if (sh->len > 8) {
            snprintf(err, errlen, "%s: tensor '%s': rank %u above 8", path, name, sh->len);
            goto done;
        }
        kdl_WeightSpec *s = &f->specs[f->n];
        size_t count = 1;
        s->rank = (int)sh->len;
        for (uint32_t k = 0; k < sh->len; k++) {
            uint64_t d;
            if (kdl_json_u64(&sh->items[k], &d) != KDL_JSON_U64_OK || d > (1u << 31)) {
                snprintf(err, errlen, "%s: tensor '%s': bad shape", path, name);
                goto done;
            }
            s->shape[k] = (int64_t)d;
            if (d && count > ((size_t)1 << 40) / d) {
                snprintf(err, errlen, "%s: tensor '%s': too large", path, name);
                goto done;
            }
            count *= (size_t)d;
        }
        for (int j = 0; j < f->n; j++)
            if (!strcmp(f->names[j], name)) {
                snprintf(err, errlen, "%s: tensor '%s' appears twice", path, name);
                goto done;
            }
        f->names[f->n] = dup(name);
        s->data = malloc(sizeof(float) * (count ? count : 1));
        if (!f->names[f->n] || !s->data) {
            free(f->names[f->n]);
            free(s->data);
            snprintf(err, errlen, "%s: out of memory", path);
            goto done;
        }
        s->name = f->names[f->n];
        f->n++;
    }
    if (kdl_safetensors_load(path, f->specs, f->n, err, errlen) != KDL_OK)
        goto done;
    rc = 0;
done:
    kdl_json_free(&doc);
    free(text);
    return rc;
}

static size_t spec_count(const kdl_WeightSpec *s) {
    size_t c = 1;
    for (int k = 0; k < s->rank; k++)
        c *= (size_t)s->shape[k];
    return c;
}

static void shape_str(char *buf, size_t len, const kdl_WeightSpec *s) {
    int o = snprintf(buf, len, "(");
    for (int k = 0; k < s->rank && o < (int)len; k++)
        o += snprintf(buf + o, len - (size_t)o, k ? ", %lld" : "%lld", (long long)s->shape[k]);
    if (o < (int)len)
        snprintf(buf + o, len - (size_t)o, s->rank == 1 ? ",)" : ")");
}

int main(int argc, char **argv) {
    if (argc < 3 || (argc - 3) % 2) {
        fprintf(stderr, "usage: stcmp GOT.safetensors WANT.safetensors [--rtol R] [--atol A]\n");
        return 2;
    }
    double rtol = 1e-4, atol = 1e-5;
    for (int i = 3; i + 1 < argc; i += 2) {
        char *end;
        double v = strtod(argv[i + 1], &end);
        if (*end || !(v >= 0)) {
            fprintf(stderr, "stcmp: bad value '%s' for %s\n", argv[i + 1], argv[i]);
            return 2;
        }
        if (!strcmp(argv[i], "--rtol"))
            rtol = v;
        else if (!strcmp(argv[i], "--atol"))
            atol = v;
        else {
            fprintf(stderr, "stcmp: unknown option '%s'\n", argv[i]);
            return 2;
        }
    }
    File got, want;
    char err[512];
    if (file_load(argv[1], &got, err, sizeof err)) {
        fprintf(stderr, "stcmp: %s\n", err);
        file_free(&got);
        return 2;
    }
    if (file_load(argv[2], &want, err, sizeof err)) {
        fprintf(stderr, "stcmp: %s\n", err);
        file_free(&got);
        file_free(&want);
        return 2;
    }
    int failed = 0;
    for (int i = 0; i < want.n; i++) {
        const kdl_WeightSpec *w = &want.specs[i];
        const kdl_WeightSpec *g = NULL;
        for (int j = 0; j < got.n; j++)
            if (!strcmp(got.names[j], want.names[i]))
                g = &got.specs[j];
        char ws[96], gs[96];
        shape_str(ws, sizeof ws, w);
        if (!g) {
            printf("FAIL %s %s: missing from %s\n", want.names[i], ws, argv[1]);
            failed++;
            continue;
        }
        shape_str(gs, sizeof gs, g);
        if (strcmp(ws, gs)) {
            printf("FAIL %s: shape %s, want %s\n", want.names[i], gs, ws);
            failed++;
            continue;
        }
        size_t n = spec_count(w), bad = 0, worst_i = 0, big_i = 0;
        double worst = -1, big = -1;
        for (size_t k = 0; k < n; k++) {
            double x = g->data[k], y = w->data[k], d = fabs(x - y), tol = atol + rtol * fabs(y);
            // How far beyond its tolerance (NaN: infinitely).
            double r = d <= tol ? d / (tol > 0 ? tol : 1) : isnan(d) ? INFINITY : d / tol;
            if (!(d <= tol))
                bad++;
            if (r > worst || (isnan(d) && worst < INFINITY)) {
                worst = r;
                worst_i = k;
            }
            if (d > big || (isnan(d) && !isnan(big))) {
                big = d;
                big_i = k;
            }
        }
        if (bad) {
            printf("FAIL %s %s: %zu of %zu elements differ; worst [%zu] got %.9g, want %.9g "
                   "(largest abs error %.3g at [%zu])\n",
                   want.names[i], ws, bad, n, worst_i, (double)g->data[worst_i],
                   (double)w->data[worst_i], big, big_i);
            failed++;
        } else if (n) {
            printf("ok   %s %s: largest abs error %.3g at [%zu] (got %.9g, want %.9g)\n",
                   want.names[i], ws, big, big_i, (double)g->data[big_i],
                   (double)w->data[big_i]);
        } else {
            printf("ok   %s %s: empty\n", want.names[i], ws);
        }
    }
    for (int j = 0; j < got.n; j++) {
        int found = 0;
        for (int i = 0; i < want.n && !found; i++)
            found = !strcmp(got.names[j], want.names[i]);
        if (!found)
            printf("note %s: only in %s\n", got.names[j], argv[1]);
    }
    printf("%d of %d tensors differ (rtol %g, atol %g)\n", failed, want.n, rtol, atol);
    file_free(&got);
    file_free(&want);
    return failed ? 1 : 0;
}
