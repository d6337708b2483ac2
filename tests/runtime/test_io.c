/*
 * test_io.c - safetensors, .npy and CSV files: round trips (save then load,
 * ranks 0..4, empty tensors, metadata), files built byte by byte from the
 * formats' specifications (the safetensors reference writer's own test
 * vectors, what numpy's np.save writes) and loaded / compared with what
 * kdl writes, and corrupted files generated at run time in a mkdtemp
 * directory: every truncation, bad header lengths, invalid JSON, missing /
 * extra / duplicate tensors, wrong dtypes and shapes, bad offsets, deep
 * nesting, huge numbers, random byte flips. Each must fail with the right
 * status and a one-line message naming the file (and the tensor, line or
 * column); under SAN=1 ASan checks that nothing is read out of bounds.
 * Atomic saving: failures (bad arguments, a missing directory, a failed
 * rename, a write cut short by RLIMIT_FSIZE) leave the old file and no
 * temporary one. KDL_TEST_VERBOSE=1 prints every expected error message.
 */
#define _POSIX_C_SOURCE 200809L

#include "check.h"

#include <dirent.h>
#include <errno.h>
#include <float.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_dir[256];     // the mkdtemp directory

static const char *tpath(char buf[512], const char *name) {
    snprintf(buf, 512, "%s/%s", g_dir, name);
    return buf;
}

// ---- bytes ------------------------------------------------------------------------------

typedef struct {
    unsigned char *p;
    size_t n, cap;
} Bytes;

static void put(Bytes *b, const void *s, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (!b->p) {
            fprintf(stderr, "out of memory\n");
            exit(2);
        }
    }
    if (n)
        memcpy(b->p + b->n, s, n);
    b->n += n;
}

static void puts_(Bytes *b, const char *s) {
    put(b, s, strlen(s));
}

static void put_byte(Bytes *b, unsigned v) {
    unsigned char c = (unsigned char)v;
    put(b, &c, 1);
}

// Little-endian, byte by byte (the formats' byte order, whatever the host's).
static void put_le(Bytes *b, uint64_t v, int nbytes) {
    for (int i = 0; i < nbytes; i++)
        put_byte(b, (unsigned)(v >> (8 * i)) & 0xff);
}

static void put_f32(Bytes *b, float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    put_le(b, u, 4);
}

static void put_f64(Bytes *b, double d) {
    uint64_t u;
    memcpy(&u, &d, 8);
    put_le(b, u, 8);
}

static void write_file(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(p, 1, n, f) != n) || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
        exit(2);
    }
}

static Bytes read_all(const char *path) {
    Bytes b = {0};
    FILE *f = fopen(path, "rb");
    if (!f)
        return b;
    char buf[4096];
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, f)) > 0)
        put(&b, buf, k);
    fclose(f);
    return b;
}

static int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static int count_entries(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    if (!d)
        return -1;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static void remove_tree(const char *dir) {
    DIR *d = opendir(dir);
    struct dirent *e;
    if (!d)
        return;
    while ((e = readdir(d))) {
        char p[1024];
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
            remove_tree(p);
        else
            unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

// ---- expectations -----------------------------------------------------------------------

// got must be want; on failure, err must be one non-empty line starting with
// path and containing s1 and s2 (when given).
static void expect(const char *what, const char *path, kdl_Status got, kdl_Status want,
                   const char *err, const char *s1, const char *s2) {
    int ok = got == want;
    if (ok && want != KDL_OK) {
        ok = err[0] && !strchr(err, '\n') && (!path || strncmp(err, path, strlen(path)) == 0) &&
             (!s1 || strstr(err, s1)) && (!s2 || strstr(err, s2));
    }
    if (!ok) {
        printf("FAIL %s: got status %d (%s), want %d; message: %s\n", what, (int)got,
               kdl_status_str(got), (int)want, err);
        check_failed++;
    } else {
        check_passed++;
        if (want != KDL_OK && getenv("KDL_TEST_VERBOSE"))
            printf("ok %s: %s\n", what, err);
    }
}

static int same_bits(const void *a, const void *b, size_t n) {
    return n == 0 || memcmp(a, b, n) == 0;
}

// ---- safetensors: files made from the spec ----------------------------------------------

// 8-byte little-endian header length, header, data.
static Bytes st_bytes(const char *hdr, size_t hlen, const Bytes *data) {
    Bytes b = {0};
    put_le(&b, hlen, 8);
    put(&b, hdr, hlen);
    if (data)
        put(&b, data->p, data->n);
    return b;
}

// The reference implementation's serialization tests (safetensors
// tensor.rs: test_serialization, test_serialization_forced_alignement,
// test_empty): loading them works and saving the same tensors gives the
// same bytes.
static void test_st_reference_vectors(void) {
    char p[512], err[512];
    static const unsigned char f0to5[24] = {0, 0, 0, 0,    0, 0, 0x80, 0x3f, 0, 0, 0, 0x40,
                                            0, 0, 0x40, 0x40, 0, 0, 0x80, 0x40, 0, 0, 0xa0, 0x40};
    const float want[6] = {0, 1, 2, 3, 4, 5};
    Bytes data = {0};
    put(&data, f0to5, 24);

    struct {
        const char *name, *header;
        int rank;
        int64_t shape[4];
    } cases[] = {
        {"attn.0", "{\"attn.0\":{\"dtype\":\"F32\",\"shape\":[1,2,3],\"data_offsets\":[0,24]}}", 3,
         {1, 2, 3}},
        {"attn0", "{\"attn0\":{\"dtype\":\"F32\",\"shape\":[1,1,2,3],\"data_offsets\":[0,24]}}"
                  "       ", 4, {1, 1, 2, 3}},
    };
    for (int c = 0; c < 2; c++) {
        size_t hlen = strlen(cases[c].header);
        check_true("reference header is 8-aligned", hlen % 8 == 0);
        Bytes file = st_bytes(cases[c].header, hlen, &data);
        tpath(p, "ref.safetensors");
        write_file(p, file.p, file.n);
        float got[6] = {0};
        kdl_WeightSpec w = {cases[c].name, cases[c].rank, {0}, got};
        memcpy(w.shape, cases[c].shape, sizeof cases[c].shape);
        expect("load reference vector", p, kdl_safetensors_load(p, &w, 1, err, sizeof err),
               KDL_OK, err, NULL, NULL);
        check_close("reference vector values", got, want, 6, 0, 0);

        w.data = (float *)want;
        tpath(p, "ours.safetensors");
        expect("save like the reference", p, kdl_safetensors_save(p, &w, 1, NULL, err, sizeof err),
               KDL_OK, err, NULL, NULL);
        Bytes ours = read_all(p);
        check_true("saved bytes equal the reference writer's",
                   ours.n == file.n && same_bits(ours.p, file.p, file.n));
        free(ours.p);
        free(file.p);
    }

    // No tensors: "{}" padded to 8; with metadata {"framework":"pt"}.
    static const unsigned char empty[] = {8, 0, 0, 0, 0, 0, 0, 0, '{', '}', 32, 32, 32, 32, 32, 32};
    const char *meta_hdr = "{\"__metadata__\":{\"framework\":\"pt\"}}     ";
    Bytes meta = st_bytes(meta_hdr, strlen(meta_hdr), NULL);
    check_true("metadata vector length", meta.n == 48 && meta.p[0] == 40);
    const char *mds[] = {NULL, "\"framework\":\"pt\"", " \"framework\" :\t\"pt\" "};
    for (int i = 0; i < 3; i++) {
        tpath(p, "empty.safetensors");
        expect("save no tensors", p, kdl_safetensors_save(p, NULL, 0, mds[i], err, sizeof err),
               KDL_OK, err, NULL, NULL);
        Bytes ours = read_all(p);
        const unsigned char *ref = i ? meta.p : empty;
        size_t rn = i ? meta.n : sizeof empty;
        check_true("no-tensor file equals the reference writer's",
                   ours.n == rn && same_bits(ours.p, ref, rn));
        free(ours.p);
        expect("load no tensors", p, kdl_safetensors_load(p, NULL, 0, err, sizeof err), KDL_OK,
               err, NULL, NULL);
    }
    free(meta.p);
    free(data.p);
}

// What PyTorch's save_file / transformers' save_pretrained produce: metadata
// {"format":"pt"}, tensors sorted by name, offsets in that order, and a
// hand-formatted header (whitespace, other key order) any JSON writer could
// make.
static void test_st_torch_style(void) {
    char p[512], err[512];
    const char *hdr = "{\"__metadata__\":{\"format\":\"pt\"},"
                      "\"dense.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                      "\"dense.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],"
                      "\"data_offsets\":[8,32]}}";
    Bytes h = {0};
    puts_(&h, hdr);
    while (h.n % 8)
        put_byte(&h, ' ');
    Bytes data = {0};
    const float bias[2] = {0.25f, -0.5f}, weight[6] = {1, -2, 3.5f, 1e-3f, -1e10f, 7};
    for (int i = 0; i < 2; i++)
        put_f32(&data, bias[i]);
    for (int i = 0; i < 6; i++)
        put_f32(&data, weight[i]);
    Bytes file = st_bytes((const char *)h.p, h.n, &data);
    tpath(p, "torch.safetensors");
    write_file(p, file.p, file.n);
    float gb[2], gw[6];
    kdl_WeightSpec specs[2] = {{"dense.weight", 2, {2, 3}, gw}, {"dense.bias", 1, {2}, gb}};
    expect("load torch-style file", p, kdl_safetensors_load(p, specs, 2, err, sizeof err), KDL_OK,
           err, NULL, NULL);
    check_close("torch-style bias", gb, bias, 2, 0, 0);
    check_close("torch-style weight", gw, weight, 6, 0, 0);

    // Saving the same tensors with the same metadata gives the same bytes.
    kdl_WeightSpec out[2] = {{"dense.weight", 2, {2, 3}, (float *)weight},
                             {"dense.bias", 1, {2}, (float *)bias}};
    tpath(p, "torch2.safetensors");
    expect("save torch-style", p,
           kdl_safetensors_save(p, out, 2, "\"format\":\"pt\"", err, sizeof err), KDL_OK, err,
           NULL, NULL);
    Bytes ours = read_all(p);
    check_true("torch-style bytes equal", ours.n == file.n && same_bits(ours.p, file.p, file.n));
    free(ours.p);

    // Pretty-printed header, keys not in offset order, fields reordered.
    const char *pretty = "{\n  \"dense.weight\": {\"data_offsets\": [8, 32], \"shape\": [2, 3],\n"
                         "    \"dtype\": \"F32\"},\n  \"__metadata__\": null,\n"
                         "  \"dense.bias\": {\"shape\": [2], \"dtype\": \"F32\", "
                         "\"data_offsets\": [0, 8]}\n}\n";
    Bytes f2 = st_bytes(pretty, strlen(pretty), &data);
    tpath(p, "pretty.safetensors");
    write_file(p, f2.p, f2.n);
    memset(gb, 0, sizeof gb);
    memset(gw, 0, sizeof gw);
    expect("load pretty header", p, kdl_safetensors_load(p, specs, 2, err, sizeof err), KDL_OK,
           err, NULL, NULL);
    check_close("pretty bias", gb, bias, 2, 0, 0);
    check_close("pretty weight", gw, weight, 6, 0, 0);
    free(f2.p);
    free(file.p);
    free(data.p);
    free(h.p);
}

// ---- safetensors: round trips -----------------------------------------------------------

static void test_st_roundtrip(void) {
    char p[512], err[512];
    // ranks 0..4, an empty tensor, names needing escapes and non-ASCII
    kdl_WeightSpec w[7] = {
        {"scalar", 0, {0}, NULL},
        {"dense/bias", 1, {5}, NULL},
        {"dense/kernel", 2, {4, 5}, NULL},
        {"conv/kernel", 4, {3, 3, 2, 4}, NULL},
        {"rnn/state", 3, {2, 1, 3}, NULL},
        {"empty", 2, {0, 7}, NULL},
        {"quote\"back\\slash\ttab-\xc3\xa9", 1, {2}, NULL},
    };
    float *ref[7], *got[7];
    for (int i = 0; i < 7; i++) {
        size_t n = 1;
        for (int d = 0; d < w[i].rank; d++)
            n *= (size_t)w[i].shape[d];
        ref[i] = check_random(n, -100, 100);
        got[i] = check_alloc(n);
        if (n)
            ref[i][0] = i == 3 ? NAN : -0.0f;
        w[i].data = n ? ref[i] : NULL;
    }
    const char *mds[] = {NULL, "",
                         "\"format\":\"kdl\",\"note\":\"a\\\"b\\\\c\\n\\u00e9\\ud83d\\ude00\""};
    for (int m = 0; m < 3; m++) {
        tpath(p, "rt.safetensors");
        expect("round trip save", p, kdl_safetensors_save(p, w, 7, mds[m], err, sizeof err),
               KDL_OK, err, NULL, NULL);
        Bytes b = read_all(p);
        uint64_t hlen = 0;
        for (int i = 0; i < 8 && b.n >= 8; i++)
            hlen |= (uint64_t)b.p[i] << (8 * i);
        check_true("saved header is padded to 8", b.n >= 8 && hlen % 8 == 0 && 8 + hlen <= b.n);
        check_true("empty metadata written as {}",
                   m != 1 || (b.n > 8 && strstr((const char *)b.p + 8, "\"__metadata__\":{}")));
        free(b.p);
        kdl_WeightSpec r[7];
        for (int i = 6; i >= 0; i--) {      // a different order than saved
            r[i] = w[i];
            r[i].data = got[i];
        }
        expect("round trip load", p, kdl_safetensors_load(p, r, 7, err, sizeof err), KDL_OK, err,
               NULL, NULL);
        for (int i = 0; i < 7; i++) {
            size_t n = 1;
            for (int d = 0; d < w[i].rank; d++)
                n *= (size_t)w[i].shape[d];
            check_true(w[i].name, same_bits(got[i], ref[i], n * 4));
        }
    }
    for (int i = 0; i < 7; i++)
        free(ref[i]), free(got[i]);
}

// ---- safetensors: corrupted files -------------------------------------------------------

#define ENTRY(name, dtype, shape, offs)                                                            \
    "\"" name "\":{\"dtype\":\"" dtype "\",\"shape\":[" shape "],\"data_offsets\":[" offs "]}"
#define BIAS ENTRY("dense/bias", "F32", "3", "0,12")
#define KERNEL ENTRY("dense/kernel", "F32", "2,3", "12,36")

static float g_bias[3], g_kernel[6];

static void st_specs(kdl_WeightSpec w[2]) {
    w[0] = (kdl_WeightSpec){"dense/kernel", 2, {2, 3}, g_kernel};
    w[1] = (kdl_WeightSpec){"dense/bias", 1, {3}, g_bias};
}

// A file of the given header and dlen data bytes, loaded with the model's
// two tensors.
static void st_case_n(const char *what, const char *hdr, size_t hlen, size_t dlen, kdl_Status want,
                      const char *s1, const char *s2) {
    char p[512], err[512];
    Bytes data = {0};
    for (size_t i = 0; i < dlen; i++)
        put_byte(&data, (unsigned)(i * 7 + 1));
    Bytes file = st_bytes(hdr, hlen, &data);
    tpath(p, "bad.safetensors");
    write_file(p, file.p, file.n);
    kdl_WeightSpec w[2];
    st_specs(w);
    kdl_Status st = kdl_safetensors_load(p, w, 2, err, sizeof err);
    expect(what, p, st, want, err, s1, s2);
    free(data.p);
    free(file.p);
}

static void st_case(const char *what, const char *hdr, size_t dlen, kdl_Status want,
                    const char *s1, const char *s2) {
    st_case_n(what, hdr, strlen(hdr), dlen, want, s1, s2);
}

static void test_st_corrupt(void) {
    char p[512], err[512];
    const kdl_Status F = KDL_ERR_FORMAT;

    // The valid base file.
    st_case("base file loads", "{" BIAS "," KERNEL "}", 36, KDL_OK, NULL, NULL);
    st_case("base with metadata", "{\"__metadata__\":{\"a\":\"b\"}," KERNEL "," BIAS "}  ", 36,
            KDL_OK, NULL, NULL);

    // Every truncation of a valid file.
    kdl_WeightSpec w[2];
    st_specs(w);
    for (int i = 0; i < 6; i++)
        g_kernel[i] = (float)i;
    for (int i = 0; i < 3; i++)
        g_bias[i] = (float)-i;
    tpath(p, "full.safetensors");
    expect("save base", p, kdl_safetensors_save(p, w, 2, "\"k\":\"v\"", err, sizeof err), KDL_OK,
           err, NULL, NULL);
    Bytes full = read_all(p);
    int trunc_ok = 1;
    for (size_t len = 0; len <= full.n; len++) {
        tpath(p, "trunc.safetensors");
        write_file(p, full.p, len);
        kdl_Status st = kdl_safetensors_load(p, w, 2, err, sizeof err);
        kdl_Status want = len == full.n ? KDL_OK : F;
        if (st != want || (want && strncmp(err, p, strlen(p)) != 0)) {
            printf("FAIL truncated to %zu of %zu bytes: status %d: %s\n", len, full.n, (int)st,
                   err);
            trunc_ok = 0;
        }
    }
    check_true("every truncation is a FORMAT error", trunc_ok);

    // Random byte flips anywhere: OK or FORMAT, never a crash.
    int flips_ok = 1;
    for (int it = 0; it < 3000; it++) {
        Bytes m = {0};
        put(&m, full.p, full.n);
        int nflip = check_int(1, 3);
        for (int k = 0; k < nflip; k++) {
            size_t at = it % 2 ? (size_t)check_int(0, (int)full.n - 1)
                               : (size_t)check_int(0, (int)(full.n - 36) - 1);     // the header
            m.p[at] = (unsigned char)check_int(0, 255);
        }
        tpath(p, "flip.safetensors");
        write_file(p, m.p, m.n);
        kdl_Status st = kdl_safetensors_load(p, w, 2, err, sizeof err);
        if (st != KDL_OK && st != F) {
            printf("FAIL byte flip %d: status %d: %s\n", it, (int)st, err);
            flips_ok = 0;
        }
        free(m.p);
    }
    check_true("random byte flips give OK or FORMAT", flips_ok);

    // Header length.
    const char *base = "{" BIAS "," KERNEL "}";
    uint64_t lens[] = {UINT64_MAX, (uint64_t)1 << 63, 100000001, strlen(base) + 36 + 1};
    for (int i = 0; i < 4; i++) {
        Bytes b = {0};
        put_le(&b, lens[i], 8);
        puts_(&b, base);
        for (int k = 0; k < 36; k++)
            put_byte(&b, 0);
        tpath(p, "hlen.safetensors");
        write_file(p, b.p, b.n);
        expect("header length too big", p, kdl_safetensors_load(p, w, 2, err, sizeof err), F, err,
               "header length", NULL);
        free(b.p);
    }
    st_case("empty header", "", 0, F, "start with '{'", NULL);
    st_case("header with leading blank", " {}", 0, F, "start with '{'", NULL);

    // Not JSON.
    const char *bad_json[] = {
        "{", "{\"a\"", "{\"a\":}", "{\"a\":1,}", "{'a':1}", "{\"a\":tru}", "{\"a\":01}",
        "{\"a\":1.}", "{\"a\":-}", "{\"a\":+1}", "{\"a\":.5}", "{\"a\":1e}", "{\"a\":\"\\x\"}",
        "{\"a\":\"\\ud800\"}", "{\"a\":\"\\udc00\"}", "{\"a\":\"\\ud800\\u0041\"}",
        "{\"a\":\"\\u12\"}", "{\"a\":\"tab\there\"}", "{\"a\":\"\xff\"}", "{\"a\":\"\xc0\xaf\"}",
        "{\"a\":\"\xed\xa0\x80\"}", "{\"a\":\"\xf4\x90\x80\x80\"}", "{\"a\":\"\xe2\x82\"}",
        "{} x", "{}}", "{\"a\":1 \"b\":2}", "{\"a\" 1}", "{\"a\":[1,2}", "{\"a\":\"open}",
        "{\"a\":\"\\", "{\"a\":NaN}", "{\"a\":Infinity}", "{/*c*/}", "{\"a\":1}\x01",
    };
    for (size_t i = 0; i < sizeof bad_json / sizeof bad_json[0]; i++) {
        char what[96];
        snprintf(what, sizeof what, "invalid JSON #%zu", i);
        st_case(what, bad_json[i], 36, F, "not valid JSON", "offset");
    }
    st_case_n("NUL in header", "{\"a\"\0:1}", 8, 36, F, "not valid JSON", NULL);

    // Deep nesting must not exhaust the stack.
    {
        Bytes h = {0};
        puts_(&h, "{\"__metadata__\":");
        for (int i = 0; i < 200000; i++)
            put_byte(&h, '[');
        for (int i = 0; i < 200000; i++)
            put_byte(&h, ']');
        puts_(&h, "}");
        st_case_n("deep nesting", (const char *)h.p, h.n, 0, F, "header too complex",
                  "nesting deeper than 64 levels");
        h.n = 0;
        puts_(&h, "{");
        for (int i = 0; i < 100; i++)
            puts_(&h, "\"a\":{");
        for (int i = 0; i < 101; i++)
            puts_(&h, "}");
        st_case_n("deep objects", (const char *)h.p, h.n, 0, F, "nesting deeper", NULL);
        // A long flat array: refused after a bounded number of values
        // instead of building a tree as large as the header allows.
        h.n = 0;
        puts_(&h, "{\"__metadata__\":[");
        for (int i = 0; i < 1000000; i++)
            puts_(&h, "0,");
        puts_(&h, "0]}");
        st_case_n("huge array", (const char *)h.p, h.n, 0, F, "header too complex",
                  "more than 65664 values");
        h.n = 0;
        puts_(&h, "{\"__metadata__\":{");
        for (int i = 0; i < 40000; i++) {
            char kv[32];
            snprintf(kv, sizeof kv, "\"k%d\":\"v\",", i);
            puts_(&h, kv);
        }
        puts_(&h, "\"end\":\"\"}," BIAS "," KERNEL "}");
        st_case_n("many metadata entries", (const char *)h.p, h.n, 36, F, "more than", NULL);
        free(h.p);
    }

    // Tensors missing, extra, duplicated.
    st_case("missing tensor", "{" BIAS "}", 12, F, "'dense/kernel' is missing", NULL);
    st_case("extra tensor", "{" BIAS "," KERNEL "," ENTRY("dense/extra", "F32", "1", "36,40") "}",
            40, F, "'dense/extra' is not in the model", NULL);
    st_case("duplicate tensor", "{" BIAS "," KERNEL "," ENTRY("dense/bias", "F32", "3", "36,48")
            "}", 48, F, "duplicate tensor 'dense/bias'", NULL);
    st_case("duplicate metadata", "{\"__metadata__\":{},\"__metadata__\":{}," BIAS "," KERNEL "}",
            36, F, "__metadata__ appears twice", NULL);
    st_case("metadata not strings", "{\"__metadata__\":{\"n\":1}," BIAS "," KERNEL "}", 36, F,
            "'n' is not a string", NULL);
    st_case("metadata not an object", "{\"__metadata__\":[\"a\"]," BIAS "," KERNEL "}", 36, F,
            "__metadata__ must be", NULL);
    st_case("metadata key twice", "{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}," BIAS "," KERNEL
            "}", 36, F, "'k' twice", NULL);
    st_case("control chars in a name stay on one line",
            "{" BIAS "," KERNEL "," ENTRY("evil\\nname'", "F32", "1", "36,40") "}", 40, F,
            "'evil\\x0aname\\'' is not in the model", NULL);

    // dtype.
    st_case("wrong dtype I32", "{" ENTRY("dense/bias", "I32", "3", "0,12") "," KERNEL "}", 36, F,
            "'dense/bias': dtype I32, expected F32", NULL);
    st_case("wrong dtype F64", "{" ENTRY("dense/bias", "F64", "3", "0,24") ","
            ENTRY("dense/kernel", "F32", "2,3", "24,48") "}", 48, F, "'dense/bias': dtype F64",
            NULL);
    st_case("wrong dtype F16", "{" ENTRY("dense/bias", "F16", "3", "0,6") ","
            ENTRY("dense/kernel", "F32", "2,3", "6,30") "}", 30, F, "dtype F16", NULL);
    st_case("unknown dtype", "{" ENTRY("dense/bias", "F33", "3", "0,12") "," KERNEL "}", 36, F,
            "'dense/bias': unknown dtype F33", NULL);
    st_case("dtype not a string", "{\"dense/bias\":{\"dtype\":4,\"shape\":[3],\"data_offsets\":"
            "[0,12]}," KERNEL "}", 36, F, "'dense/bias': unknown dtype", NULL);

    // Shape.
    st_case("transposed shape", "{" BIAS "," ENTRY("dense/kernel", "F32", "3,2", "12,36") "}", 36,
            F, "'dense/kernel': shape (3, 2) does not match the model's (2, 3)", NULL);
    st_case("wrong rank", "{" BIAS "," ENTRY("dense/kernel", "F32", "6", "12,36") "}", 36, F,
            "shape (6,) does not match the model's (2, 3)", NULL);
    st_case("scalar for a vector", "{" ENTRY("dense/bias", "F32", "", "0,4") ","
            ENTRY("dense/kernel", "F32", "2,3", "4,28") "}", 28, F, "shape () does not match",
            NULL);
    st_case("shape not a list", "{\"dense/bias\":{\"dtype\":\"F32\",\"shape\":3,\"data_offsets\":"
            "[0,12]}," KERNEL "}", 36, F, "'dense/bias': shape must be", NULL);
    st_case("negative dimension", "{" ENTRY("dense/bias", "F32", "-3", "0,12") "," KERNEL "}", 36,
            F, "'dense/bias': shape must be", NULL);
    st_case("fractional dimension", "{" ENTRY("dense/bias", "F32", "3.0", "0,12") "," KERNEL "}",
            36, F, "'dense/bias': shape must be", NULL);
    st_case("huge dimension", "{" ENTRY("dense/bias", "F32", "18446744073709551616", "0,12") ","
            KERNEL "}", 36, F, "'dense/bias': shape dimension 18446744073709551616 is too large",
            NULL);
    st_case("shape overflows", "{" ENTRY("dense/bias", "F32", "4294967296,4294967296", "0,12") ","
            KERNEL "}", 36, F, "'dense/bias': shape (4294967296, 4294967296) is too large", NULL);

    // Offsets.
    st_case("overlap", "{" BIAS "," ENTRY("dense/kernel", "F32", "2,3", "8,32") "}", 32, F,
            "'dense/kernel'", "overlap tensor 'dense/bias'");
    st_case("past the end", "{" BIAS "," KERNEL "}", 32, F, "'dense/kernel'", "run past the end");
    st_case("far past the end", "{" BIAS "," ENTRY("dense/kernel", "F32", "2,3",
            "18446744073709551591,18446744073709551615") "}", 36, F, "'dense/kernel'",
            "run past the end");
    st_case("wrong size", "{" BIAS "," ENTRY("dense/kernel", "F32", "2,3", "12,32") "}", 32, F,
            "'dense/kernel'", "hold 20 bytes but shape (2, 3) of F32 needs 24");
    st_case("end before begin", "{" BIAS "," ENTRY("dense/kernel", "F32", "2,3", "36,12") "}", 36,
            F, "'dense/kernel'", "end before they begin");
    st_case("hole between tensors", "{" BIAS "," ENTRY("dense/kernel", "F32", "2,3", "16,40") "}",
            40, F, "[12, 16) before tensor 'dense/kernel'", NULL);
    st_case("bytes before the first tensor", "{" ENTRY("dense/bias", "F32", "3", "4,16") ","
            ENTRY("dense/kernel", "F32", "2,3", "16,40") "}", 40, F,
            "[0, 4) before tensor 'dense/bias'", NULL);
    st_case("trailing bytes", "{" BIAS "," KERNEL "}", 40, F, "[36, 40) after the last tensor",
            NULL);
    const char *bad_offs[] = {"12.0,36", "\"12\",36", "12", "12,36,48", "-1,36", "1.2e1,36",
                              "12,36.5", "null,36", "", "[12],36"};
    for (size_t i = 0; i < sizeof bad_offs / sizeof bad_offs[0]; i++) {
        char hdr[256], what[96];
        snprintf(hdr, sizeof hdr, "{" BIAS ",\"dense/kernel\":{\"dtype\":\"F32\",\"shape\":[2,3],"
                 "\"data_offsets\":[%s]}}", bad_offs[i]);
        snprintf(what, sizeof what, "bad data_offsets [%s]", bad_offs[i]);
        st_case(what, hdr, 36, F, "'dense/kernel': data_offsets must be [begin, end]", NULL);
    }
    st_case("offsets not a list", "{" BIAS ",\"dense/kernel\":{\"dtype\":\"F32\",\"shape\":[2,3],"
            "\"data_offsets\":{}}}", 36, F, "'dense/kernel': data_offsets must be", NULL);
    st_case("huge offset", "{" BIAS "," ENTRY("dense/kernel", "F32", "2,3",
            "12,99999999999999999999999") "}", 36, F,
            "'dense/kernel': data offset 99999999999999999999999 is too large", NULL);

    // Tensor descriptions.
    st_case("unexpected field", "{\"dense/bias\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":"
            "[0,12],\"extra\":1}," KERNEL "}", 36, F, "'dense/bias': unexpected field 'extra'",
            NULL);
    st_case("missing field", "{\"dense/bias\":{\"dtype\":\"F32\",\"data_offsets\":[0,12]},"
            KERNEL "}", 36, F, "'dense/bias': missing field 'shape'", NULL);
    st_case("field twice", "{\"dense/bias\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[3],"
            "\"data_offsets\":[0,12]}," KERNEL "}", 36, F, "'dense/bias': duplicate field 'dtype'",
            NULL);
    st_case("description not an object", "{\"dense/bias\":[]," KERNEL "}", 36, F,
            "'dense/bias': expected an object", NULL);

    // Files that are not there, or not files.
    tpath(p, "no-such.safetensors");
    expect("missing file", p, kdl_safetensors_load(p, w, 2, err, sizeof err), KDL_ERR_IO, err,
           "cannot open", strerror(ENOENT));
    expect("directory", g_dir, kdl_safetensors_load(g_dir, w, 2, err, sizeof err), KDL_ERR_IO,
           err, "not a regular file", NULL);

    // The model's specs themselves.
    tpath(p, "full.safetensors");
    kdl_WeightSpec bad[2];
    st_specs(bad);
    bad[1].name = "dense/kernel";
    expect("two specs with one name", p, kdl_safetensors_load(p, bad, 2, err, sizeof err),
           KDL_ERR_SHAPE, err, "two model tensors are named 'dense/kernel'", NULL);
    st_specs(bad);
    bad[0].rank = 9;
    expect("spec rank 9", p, kdl_safetensors_load(p, bad, 2, err, sizeof err), KDL_ERR_SHAPE, err,
           "rank 9", NULL);
    st_specs(bad);
    bad[0].shape[1] = -3;
    expect("spec negative dim", p, kdl_safetensors_load(p, bad, 2, err, sizeof err),
           KDL_ERR_SHAPE, err, "invalid shape (2, -3)", NULL);
    st_specs(bad);
    bad[1].data = NULL;
    expect("spec without data", p, kdl_safetensors_load(p, bad, 2, err, sizeof err),
           KDL_ERR_SHAPE, err, "'dense/bias' has no data buffer", NULL);
    expect("negative count", p, kdl_safetensors_load(p, bad, -1, err, sizeof err), KDL_ERR_SHAPE,
           err, NULL, NULL);

    // errlen 0 and a tiny buffer are fine.
    tpath(p, "no-such.safetensors");
    check_true("errlen 0", kdl_safetensors_load(p, w, 2, NULL, 0) == KDL_ERR_IO);
    char tiny[8];
    check_true("tiny err buffer", kdl_safetensors_load(p, w, 2, tiny, sizeof tiny) == KDL_ERR_IO &&
                                      strlen(tiny) == 7);
    free(full.p);
}

// ---- safetensors: saving ----------------------------------------------------------------

static void test_st_save_errors(void) {
    char p[512], err[512];
    float x[3] = {1, 2, 3};
    kdl_WeightSpec w = {"x", 1, {3}, x};
    int before = count_entries(g_dir);

    tpath(p, "missing-dir/w.safetensors");
    expect("save into a missing directory", p,
           kdl_safetensors_save(p, &w, 1, NULL, err, sizeof err), KDL_ERR_IO, err,
           strerror(ENOENT), NULL);
    check_true("nothing left behind (missing dir)",
               count_entries(g_dir) == before && !file_exists(p));

    tpath(p, "adir");
    mkdir(p, 0777);
    before = count_entries(g_dir);
    expect("save over a directory", p, kdl_safetensors_save(p, &w, 1, NULL, err, sizeof err),
           KDL_ERR_IO, err, "cannot replace", NULL);
    check_true("temporary file removed after a failed rename", count_entries(g_dir) == before);
    check_true("directory untouched", count_entries(p) == 0);

    // Replacing an existing file; bad arguments leave it alone.
    tpath(p, "keep.safetensors");
    expect("save", p, kdl_safetensors_save(p, &w, 1, NULL, err, sizeof err), KDL_OK, err, NULL,
           NULL);
    Bytes orig = read_all(p);
    before = count_entries(g_dir);
    kdl_WeightSpec bad = w;
    bad.shape[0] = -1;
    expect("save bad spec", p, kdl_safetensors_save(p, &bad, 1, NULL, err, sizeof err),
           KDL_ERR_SHAPE, err, "'x': invalid shape (-1,)", NULL);
    expect("save bad metadata", p, kdl_safetensors_save(p, &w, 1, "\"a\":1", err, sizeof err),
           KDL_ERR_FORMAT, err, "'a' is not a string", NULL);
    expect("save metadata not JSON", p, kdl_safetensors_save(p, &w, 1, "\"a\":", err, sizeof err),
           KDL_ERR_FORMAT, err, "metadata is not the members of a JSON object: offset 4: ", NULL);
    expect("save metadata injection", p,
           kdl_safetensors_save(p, &w, 1, "\"a\":\"b\"},\"y\":{\"c\":\"d\"", err, sizeof err),
           KDL_ERR_FORMAT, err, NULL, NULL);
    bad = w;
    bad.name = "__metadata__";
    expect("save reserved name", p, kdl_safetensors_save(p, &bad, 1, NULL, err, sizeof err),
           KDL_ERR_SHAPE, err, "not a valid safetensors name", NULL);
    bad.name = "bad\xff";
    expect("save non-UTF-8 name", p, kdl_safetensors_save(p, &bad, 1, NULL, err, sizeof err),
           KDL_ERR_SHAPE, err, "'bad\\xff': not a valid safetensors name", NULL);
    kdl_WeightSpec two[2] = {w, w};
    expect("save duplicate names", p, kdl_safetensors_save(p, two, 2, NULL, err, sizeof err),
           KDL_ERR_SHAPE, err, "two model tensors are named 'x'", NULL);
    Bytes now = read_all(p);
    check_true("failed saves leave the old file",
               now.n == orig.n && same_bits(now.p, orig.p, orig.n) &&
                   count_entries(g_dir) == before);
    free(now.p);

    float y[3] = {4, 5, 6};
    w.data = y;
    expect("save over", p, kdl_safetensors_save(p, &w, 1, NULL, err, sizeof err), KDL_OK, err,
           NULL, NULL);
    float got[3] = {0};
    w.data = got;
    expect("load replaced", p, kdl_safetensors_load(p, &w, 1, err, sizeof err), KDL_OK, err, NULL,
           NULL);
    check_close("replaced contents", got, y, 3, 0, 0);

    // A stale temporary file with our pid does not stop a save.
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", p, (long)getpid());
    write_file(tmp, "junk", 4);
    w.data = x;
    expect("save with a stale temp file", p, kdl_safetensors_save(p, &w, 1, NULL, err, sizeof err),
           KDL_OK, err, NULL, NULL);
    check_true("stale temp file gone", !file_exists(tmp) && count_entries(g_dir) == before);
    free(orig.p);
}

// A write that fails half way (here: RLIMIT_FSIZE, as a full disk or quota
// would) must leave the old file and no temporary one.
static void test_write_failure(void) {
    char p[512], err[512];
    struct rlimit old, lim;
    float small[2] = {1, 2};
    float *big = check_random(100000, -1, 1);
    kdl_WeightSpec w = {"w", 1, {2}, small};
    kdl_Array a = {KDL_F32, 2, {1000, 100}, big};
    tpath(p, "limited.safetensors");
    expect("save small", p, kdl_safetensors_save(p, &w, 1, NULL, err, sizeof err), KDL_OK, err,
           NULL, NULL);
    Bytes orig = read_all(p);
    int before = count_entries(g_dir);
    if (getrlimit(RLIMIT_FSIZE, &old) != 0) {
        printf("skipping the write-failure test: getrlimit: %s\n", strerror(errno));
        free(big), free(orig.p);
        return;
    }
    signal(SIGXFSZ, SIG_IGN);   // get EFBIG instead of the signal
    lim = old;
    lim.rlim_cur = 100000;
    if (setrlimit(RLIMIT_FSIZE, &lim) != 0) {
        printf("skipping the write-failure test: setrlimit: %s\n", strerror(errno));
        free(big), free(orig.p);
        return;
    }
    w.shape[0] = 100000;
    w.data = big;
    expect("safetensors write fails", p, kdl_safetensors_save(p, &w, 1, NULL, err, sizeof err),
           KDL_ERR_IO, err, "write failed", strerror(EFBIG));
    tpath(p, "limited.npy");
    expect("npy write fails", p, kdl_npy_save(p, &a, err, sizeof err), KDL_ERR_IO, err,
           "write failed", NULL);
    tpath(p, "limited.csv");
    expect("csv write fails", p, kdl_csv_save(p, &a, err, sizeof err), KDL_ERR_IO, err,
           "write failed", NULL);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, SIG_DFL);
    Bytes now = read_all(tpath(p, "limited.safetensors"));
    check_true("failed writes leave the old file and no temporary",
               now.n == orig.n && same_bits(now.p, orig.p, orig.n) &&
                   count_entries(g_dir) == before);
    free(now.p);
    free(orig.p);
    free(big);
}

// ---- .npy -------------------------------------------------------------------------------

// magic, version, header length (2 bytes for 1.0, 4 for 2.0/3.0), dict,
// spaces and '\n' to a multiple of align, data.
static Bytes npy_bytes(int major, const char *dict, int align, const Bytes *data) {
    Bytes b = {0};
    put(&b, "\x93NUMPY", 6);
    put_byte(&b, (unsigned)major);
    put_byte(&b, 0);
    size_t pre = major == 1 ? 10 : 12, n = strlen(dict) + 1;
    while ((pre + n) % (size_t)align)
        n++;
    put_le(&b, n, major == 1 ? 2 : 4);
    puts_(&b, dict);
    for (size_t i = strlen(dict) + 1; i < n; i++)
        put_byte(&b, ' ');
    put_byte(&b, '\n');
    if (data)
        put(&b, data->p, data->n);
    return b;
}

static void test_npy_numpy_files(void) {
    char p[512], err[512];
    kdl_Array a;
    // np.save("a.npy", np.array([[1, 2, 3], [4, 5, 6]], np.float32)) with
    // numpy >= 1.24: the dict, 20 spare spaces for the first dimension to
    // grow in place, spaces to 128 bytes, '\n'.
    static const unsigned char f23[] = {
        0, 0, 0x80, 0x3f, 0, 0, 0, 0x40, 0, 0, 0x40, 0x40,
        0, 0, 0x80, 0x40, 0, 0, 0xa0, 0x40, 0, 0, 0xc0, 0x40,
    };
    const float f23v[6] = {1, 2, 3, 4, 5, 6};
    Bytes np = {0};
    put(&np, "\x93NUMPY\x01\x00\x76\x00", 10);
    puts_(&np, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }");
    for (int i = 0; i < 58; i++)
        put_byte(&np, ' ');
    put_byte(&np, '\n');
    check_true("numpy header is 128 bytes", np.n == 128);
    put(&np, f23, sizeof f23);
    tpath(p, "np.npy");
    write_file(p, np.p, np.n);
    expect("load numpy float32 (2, 3)", p, kdl_npy_load(p, &a, err, sizeof err), KDL_OK, err, NULL,
           NULL);
    check_true("dtype/rank/shape", a.dtype == KDL_F32 && a.rank == 2 && a.shape[0] == 2 &&
                                       a.shape[1] == 3 && kdl_array_count(&a) == 6);
    if (a.data)
        check_close("numpy float32 values", a.data, f23v, 6, 0, 0);
    tpath(p, "ours.npy");
    expect("save (2, 3)", p, kdl_npy_save(p, &a, err, sizeof err), KDL_OK, err, NULL, NULL);
    Bytes ours = read_all(p);
    check_true("saved .npy equals numpy's bytes", ours.n == np.n && same_bits(ours.p, np.p, np.n));
    free(ours.p);
    kdl_array_free(&a);
    kdl_array_free(&a);     // twice is harmless
    check_true("freed", a.data == NULL);

    // np.array([1, -2, 3], np.int32): shape (3,), 128 bytes of header.
    np.n = 0;
    put(&np, "\x93NUMPY\x01\x00\x76\x00", 10);
    puts_(&np, "{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }");
    for (int i = 0; i < 60; i++)
        put_byte(&np, ' ');
    put_byte(&np, '\n');
    put(&np, "\x01\x00\x00\x00\xfe\xff\xff\xff\x03\x00\x00\x00", 12);
    tpath(p, "i4.npy");
    write_file(p, np.p, np.n);
    expect("load numpy int32 (3,)", p, kdl_npy_load(p, &a, err, sizeof err), KDL_OK, err, NULL,
           NULL);
    check_true("int32 values", a.dtype == KDL_I32 && a.rank == 1 && a.shape[0] == 3 && a.data &&
                                   ((int32_t *)a.data)[0] == 1 && ((int32_t *)a.data)[1] == -2 &&
                                   ((int32_t *)a.data)[2] == 3);
    tpath(p, "i4ours.npy");
    expect("save int32", p, kdl_npy_save(p, &a, err, sizeof err), KDL_OK, err, NULL, NULL);
    ours = read_all(p);
    check_true("saved int32 .npy equals numpy's bytes",
               ours.n == np.n && same_bits(ours.p, np.p, np.n));
    free(ours.p);
    kdl_array_free(&a);

    // np.float32(0.5) saved as a 0-d array: shape (), no spare spaces.
    np.n = 0;
    put(&np, "\x93NUMPY\x01\x00\x76\x00", 10);
    puts_(&np, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }");
    for (int i = 0; i < 62; i++)
        put_byte(&np, ' ');
    put_byte(&np, '\n');
    put(&np, "\x00\x00\x00\x3f", 4);
    tpath(p, "scalar.npy");
    write_file(p, np.p, np.n);
    expect("load numpy scalar", p, kdl_npy_load(p, &a, err, sizeof err), KDL_OK, err, NULL, NULL);
    check_true("scalar", a.rank == 0 && kdl_array_count(&a) == 1 && a.data &&
                             ((float *)a.data)[0] == 0.5f);
    tpath(p, "scalarours.npy");
    expect("save scalar", p, kdl_npy_save(p, &a, err, sizeof err), KDL_OK, err, NULL, NULL);
    ours = read_all(p);
    check_true("saved scalar .npy equals numpy's bytes",
               ours.n == np.n && same_bits(ours.p, np.p, np.n));
    free(ours.p);
    kdl_array_free(&a);
    free(np.p);

    // Older writers: 16-byte alignment, no spare spaces; versions 2.0 and
    // 3.0; Python 2 longs; double quotes and other key orders.
    Bytes d = {0};
    for (int i = 0; i < 6; i++)
        put_f32(&d, f23v[i]);
    struct {
        int major, align;
        const char *dict;
    } ok[] = {
        {1, 16, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"},
        {2, 64, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"},
        {3, 64, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"},
        {1, 16, "{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3L), }"},
        {1, 64, "{\"shape\":(2,3),\"fortran_order\":False,\"descr\":\"<f4\"}"},
        {1, 64, "{ 'shape' : ( 2 , 3 , ) ,\n 'descr' : '<f4' , 'fortran_order' : False }"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        Bytes b = npy_bytes(ok[i].major, ok[i].dict, ok[i].align, &d);
        char what[64];
        snprintf(what, sizeof what, "numpy variant %zu", i);
        tpath(p, "var.npy");
        write_file(p, b.p, b.n);
        expect(what, p, kdl_npy_load(p, &a, err, sizeof err), KDL_OK, err, NULL, NULL);
        if (a.data)
            check_close(what, a.data, f23v, 6, 0, 0);
        kdl_array_free(&a);
        free(b.p);
    }

    // float64 and int64 are converted, with range checks.
    d.n = 0;
    put_f64(&d, 1.5);
    put_f64(&d, -2.25);
    put_f64(&d, 1e-50);     // underflows to 0 in float32: allowed
    Bytes b = npy_bytes(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", 64, &d);
    tpath(p, "f8.npy");
    write_file(p, b.p, b.n);
    expect("load float64", p, kdl_npy_load(p, &a, err, sizeof err), KDL_OK, err, NULL, NULL);
    const float f8v[3] = {1.5f, -2.25f, 0};
    check_true("float64 converted", a.dtype == KDL_F32 && a.data &&
                                        check_close("f8 values", a.data, f8v, 3, 0, 0));
    kdl_array_free(&a);
    free(b.p);
    put_f64(&d, -1e300);
    b = npy_bytes(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (4,), }", 64, &d);
    write_file(p, b.p, b.n);
    expect("float64 out of range", p, kdl_npy_load(p, &a, err, sizeof err), KDL_ERR_FORMAT, err,
           "element 3", "out of float32 range");
    check_true("no array after an error", a.data == NULL);
    free(b.p);
    d.n = 0;
    put_le(&d, 7, 8);
    put_le(&d, (uint64_t)-8, 8);
    put_le(&d, (uint64_t)INT32_MIN, 8);
    put_le(&d, (uint64_t)INT32_MAX, 8);
    b = npy_bytes(1, "{'descr': '<i8', 'fortran_order': False, 'shape': (2, 2), }", 64, &d);
    tpath(p, "i8.npy");
    write_file(p, b.p, b.n);
    expect("load int64", p, kdl_npy_load(p, &a, err, sizeof err), KDL_OK, err, NULL, NULL);
    check_true("int64 converted", a.dtype == KDL_I32 && a.data && ((int32_t *)a.data)[0] == 7 &&
                                      ((int32_t *)a.data)[1] == -8 &&
                                      ((int32_t *)a.data)[2] == INT32_MIN &&
                                      ((int32_t *)a.data)[3] == INT32_MAX);
    kdl_array_free(&a);
    free(b.p);
    d.n = 0;
    put_le(&d, (uint64_t)1 << 31, 8);
    b = npy_bytes(1, "{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }", 64, &d);
    write_file(p, b.p, b.n);
    expect("int64 out of range", p, kdl_npy_load(p, &a, err, sizeof err), KDL_ERR_FORMAT, err,
           "element 0 (2147483648) does not fit in int32", NULL);
    free(b.p);
    free(d.p);
}

static void test_npy_roundtrip(void) {
    char p[512], err[512];
    int64_t shapes[][4] = {{0}, {7}, {3, 5}, {2, 3, 4}, {2, 1, 3, 2}, {0, 5}, {123456, 1}};
    int ranks[] = {0, 1, 2, 3, 4, 2, 2};
    for (int s = 0; s < 7; s++)
        for (int t = 0; t < 2; t++) {
            kdl_Array a = {t ? KDL_I32 : KDL_F32, ranks[s], {0}, NULL}, r;
            memcpy(a.shape, shapes[s], sizeof shapes[s]);
            size_t n = kdl_array_count(&a);
            a.data = check_random(n, -1e6f, 1e6f);
            if (t)
                for (size_t i = 0; i < n; i++)
                    ((int32_t *)a.data)[i] = (int32_t)check_rand_u32();
            char what[64];
            snprintf(what, sizeof what, "npy round trip rank %d %s", a.rank, t ? "i4" : "f4");
            tpath(p, "rt.npy");
            expect(what, p, kdl_npy_save(p, &a, err, sizeof err), KDL_OK, err, NULL, NULL);
            Bytes f = read_all(p);
            size_t hdr = f.n - 4 * n;
            check_true("npy data starts at a multiple of 64",
                       f.n >= 4 * n && hdr > 0 && hdr % 64 == 0 && f.p[hdr - 1] == '\n');
            free(f.p);
            expect(what, p, kdl_npy_load(p, &r, err, sizeof err), KDL_OK, err, NULL, NULL);
            check_true(what, r.dtype == a.dtype && r.rank == a.rank &&
                                 !memcmp(r.shape, a.shape, sizeof(int64_t) * (size_t)a.rank) &&
                                 same_bits(r.data, a.data, 4 * n));
            kdl_array_free(&r);
            free(a.data);
        }
}

static void test_npy_corrupt(void) {
    char p[512], err[512];
    kdl_Array a;
    const kdl_Status F = KDL_ERR_FORMAT;
    Bytes d = {0};
    for (int i = 0; i < 6; i++)
        put_f32(&d, (float)i);
    const char *good = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    Bytes full = npy_bytes(1, good, 64, &d);

    int trunc_ok = 1;
    tpath(p, "trunc.npy");
    for (size_t len = 0; len <= full.n; len++) {
        write_file(p, full.p, len);
        kdl_Status st = kdl_npy_load(p, &a, err, sizeof err);
        kdl_Status want = len == full.n ? KDL_OK : F;
        if (st != want || (want && strncmp(err, p, strlen(p)) != 0)) {
            printf("FAIL .npy truncated to %zu of %zu: status %d: %s\n", len, full.n, (int)st,
                   err);
            trunc_ok = 0;
        }
        kdl_array_free(&a);
    }
    check_true("every .npy truncation is a FORMAT error", trunc_ok);

    Bytes m = {0};
    put(&m, full.p, full.n);
    m.p[5] = 'Z';
    tpath(p, "bad.npy");
    write_file(p, m.p, m.n);
    expect("bad magic", p, kdl_npy_load(p, &a, err, sizeof err), F, err, "bad magic", NULL);
    m.p[5] = 'Y';
    m.p[6] = 4;
    write_file(p, m.p, m.n);
    expect("version 4.0", p, kdl_npy_load(p, &a, err, sizeof err), F, err, "version 4.0", NULL);
    m.p[6] = 1;
    m.p[7] = 1;
    write_file(p, m.p, m.n);
    expect("version 1.1", p, kdl_npy_load(p, &a, err, sizeof err), F, err, "version 1.1", NULL);
    m.p[7] = 0;
    m.p[8] = 0xff;
    write_file(p, m.p, m.n);
    expect("header length past the end", p, kdl_npy_load(p, &a, err, sizeof err), F, err,
           "runs past the end", NULL);
    free(m.p);
    // a v2 header longer than numpy would parse
    char big[20001];
    memset(big, ' ', sizeof big - 1);
    memcpy(big, good, strlen(good));
    big[sizeof big - 1] = '\0';
    Bytes bb = npy_bytes(2, big, 64, &d);
    write_file(p, bb.p, bb.n);
    expect("huge header", p, kdl_npy_load(p, &a, err, sizeof err), F, err, "exceeds the limit",
           NULL);
    free(bb.p);

    struct {
        const char *dict, *msg;
        size_t data;    // bytes of data
    } cases[] = {
        {"{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", "fortran_order is True", 24},
        {"{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }", "dtype '>f4'", 24},
        {"{'descr': '<f2', 'fortran_order': False, 'shape': (2, 3), }", "dtype '<f2'", 12},
        {"{'descr': '|u1', 'fortran_order': False, 'shape': (2, 3), }", "dtype '|u1'", 6},
        {"{'descr': '<c8', 'fortran_order': False, 'shape': (2, 3), }", "dtype '<c8'", 48},
        {"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2, 3), }", "quoted", 24},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 4), }", "needs 32", 24},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", "data is 24 bytes", 24},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (6), }", "1-tuple", 24},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': [2, 3], }", "tuple", 24},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (-2, 3), }", "non-negative", 24},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,6), }", "more than 8",
         24},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }",
         "too large", 24},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4294967296), "
         "}", "shape (4294967296, 4294967296, 4294967296) is too large", 24},
        {"{'descr': '<f4', 'fortran_order': False, }", "no 'shape'", 24},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 1}", "unexpected key", 24},
        {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}", "twice", 24},
        {"{'descr': '<f4', 'fortran_order': false, 'shape': (2, 3), }", "True or False", 24},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } x", "after the dict", 24},
        {"{'descr': '<f4' 'fortran_order': False, 'shape': (2, 3), }", "expected ','", 24},
        {"{'descr: '<f4', 'fortran_order': False, 'shape': (2, 3), }", "expected ':'", 24},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3), }", "expected ','", 24},
        {"", "expected '{'", 24},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Bytes data = {0};
        for (size_t k = 0; k < cases[i].data; k++)
            put_byte(&data, 0);
        // the last case but one: Python 2 longs are not allowed in version 3.0
        Bytes f = npy_bytes(i == sizeof cases / sizeof cases[0] - 2 ? 3 : 1, cases[i].dict, 64,
                            &data);
        char what[96];
        snprintf(what, sizeof what, "bad .npy #%zu", i);
        write_file(p, f.p, f.n);
        expect(what, p, kdl_npy_load(p, &a, err, sizeof err), F, err, cases[i].msg, NULL);
        check_true("no array after an error", a.data == NULL && a.rank == 0);
        free(f.p);
        free(data.p);
    }

    // Saving bad arrays.
    kdl_Array bad = {KDL_F32, 9, {0}, NULL};
    tpath(p, "never.npy");
    expect("save rank 9", p, kdl_npy_save(p, &bad, err, sizeof err), KDL_ERR_SHAPE, err, "rank 9",
           NULL);
    bad.rank = 1;
    bad.shape[0] = 3;
    expect("save without data", p, kdl_npy_save(p, &bad, err, sizeof err), KDL_ERR_SHAPE, err,
           "no data", NULL);
    check_true("nothing written", !file_exists(p));
    tpath(p, "missing-dir/a.npy");
    float x[3] = {0};
    bad.data = x;
    expect("save .npy into a missing directory", p, kdl_npy_save(p, &bad, err, sizeof err),
           KDL_ERR_IO, err, strerror(ENOENT), NULL);
    free(full.p);
    free(d.p);
}

// ---- CSV --------------------------------------------------------------------------------

static void csv_ok(const char *what, const char *text, int64_t rows, int64_t cols,
                   const float *want) {
    char p[512], err[512];
    kdl_Array a;
    tpath(p, "t.csv");
    write_file(p, text, strlen(text));
    expect(what, p, kdl_csv_load(p, &a, err, sizeof err), KDL_OK, err, NULL, NULL);
    check_true(what, a.dtype == KDL_F32 && a.rank == 2 && a.shape[0] == rows &&
                         a.shape[1] == cols && a.data);
    if (a.data && a.shape[0] == rows && a.shape[1] == cols && rows * cols != 0)
        check_close(what, a.data, want, (size_t)(rows * cols), 0, 0);
    kdl_array_free(&a);
}

static void csv_bad(const char *what, const char *text, const char *s1, const char *s2) {
    char p[512], err[512];
    kdl_Array a;
    tpath(p, "t.csv");
    write_file(p, text, strlen(text));
    expect(what, p, kdl_csv_load(p, &a, err, sizeof err), KDL_ERR_FORMAT, err, s1, s2);
    check_true("no array after an error", a.data == NULL);
}

static void test_csv(void) {
    char p[512], err[512];
    const float v6[6] = {1, 2, 3, 4, 5.5f, -0.6f};
    csv_ok("csv with header", "x,y,z\n1,2,3\n 4 , 5.5,\t-6e-1\n", 2, 3, v6);
    csv_ok("csv CRLF, BOM, trailing empty lines",
           "\xEF\xBB\xBF\"x\",\"y\",\"z\"\r\n1,2,3\r\n4,5.5,-.6\r\n\r\n  \n\n", 2, 3, v6);
    csv_ok("csv no header, no final newline", "1,2\n3,4", 2, 2, (const float[]){1, 2, 3, 4});
    csv_ok("csv one column", "label\n+1\n2.\n3e0\n", 3, 1, (const float[]){1, 2, 3});
    csv_ok("csv header only", "a,b,c\n", 0, 3, NULL);
    csv_ok("csv empty", "", 0, 0, NULL);
    csv_ok("csv blank", "\n\n", 0, 0, NULL);
    {
        char p2[512], e2[512];
        kdl_Array a;
        tpath(p2, "t.csv");
        write_file(p2, "nan,inf,-Infinity,1e-45\n", strlen("nan,inf,-Infinity,1e-45\n"));
        expect("csv non-finite", p2, kdl_csv_load(p2, &a, e2, sizeof e2), KDL_OK, e2, NULL, NULL);
        const float *f = a.data;
        check_true("csv non-finite values", f && isnan(f[0]) && isinf(f[1]) && f[1] > 0 &&
                                                isinf(f[2]) && f[2] < 0 && f[3] > 0);
        kdl_array_free(&a);
    }

    csv_bad("ragged row", "1,2,3\n4,5,6\n7,8\n", "line 3: 2 columns, expected 3", NULL);
    csv_bad("long row", "1,2\n3,4,5\n", "line 2: 3 columns, expected 2", NULL);
    csv_bad("header mismatch", "a,b,c\n1,2\n", "line 2: 2 columns, but the header (line 1) has 3",
            NULL);
    csv_bad("bad number", "1,2\n3,abc\n", "line 2, column 2: 'abc' is not a number", NULL);
    csv_bad("mixed first line", "a,1\n2,3\n", "line 1, column 1: 'a' is not a number", NULL);
    csv_bad("empty field", "1,,2\n", "line 1, column 2: empty field", NULL);
    csv_bad("trailing comma", "1,2,\n", "line 1, column 3: empty field", NULL);
    csv_bad("hex float", "0x10,1\n", "line 1, column 1: '0x10' is not a number", NULL);
    csv_bad("two dots", "1\n1.2.3\n", "'1.2.3' is not a number", NULL);
    csv_bad("bare exponent", "1\n1e\n", "'1e' is not a number", NULL);
    csv_bad("nan(...)", "1\nnan(0x1)\n", "line 2, column 1", NULL);
    csv_bad("too big for float32", "1\n1e39\n", "line 2, column 1: '1e39' is out of float32 range",
            NULL);
    csv_bad("empty line inside", "1,2\n\n3,4\n", "line 2: empty line", NULL);
    csv_bad("quoted number", "1,\"2\"\n", "line 1, column 2", NULL);
    {
        char p2[512], e2[512];
        kdl_Array a;
        tpath(p2, "t.csv");
        static const char nul[] = "1,2\n3,\0004\n";
        write_file(p2, nul, sizeof nul - 1);
        expect("csv NUL byte", p2, kdl_csv_load(p2, &a, e2, sizeof e2), KDL_ERR_FORMAT, e2,
               "line 2: NUL byte", NULL);
    }

    // Saving: %.9g round-trips float32 exactly.
    kdl_Array a = {KDL_F32, 2, {2, 2}, (float[]){1.5f, -2, 0.1f, 3}}, r;
    tpath(p, "s.csv");
    expect("csv save", p, kdl_csv_save(p, &a, err, sizeof err), KDL_OK, err, NULL, NULL);
    Bytes b = read_all(p);
    const char *want = "1.5,-2\n0.100000001,3\n";
    check_true("csv save text", b.n == strlen(want) && same_bits(b.p, want, b.n));
    free(b.p);
    float *big = check_random(50 * 7, -1e30f, 1e30f);
    big[0] = FLT_MIN;
    big[1] = -FLT_MAX;
    big[2] = 1e-45f;
    big[3] = 0.3f;
    kdl_Array ra = {KDL_F32, 2, {50, 7}, big};
    expect("csv save random", p, kdl_csv_save(p, &ra, err, sizeof err), KDL_OK, err, NULL, NULL);
    expect("csv load random", p, kdl_csv_load(p, &r, err, sizeof err), KDL_OK, err, NULL, NULL);
    check_true("csv round trip exact", r.rank == 2 && r.shape[0] == 50 && r.shape[1] == 7 &&
                                           same_bits(r.data, big, sizeof(float) * 350));
    kdl_array_free(&r);
    free(big);
    int32_t iv[3] = {INT32_MIN, 0, INT32_MAX - 127};
    kdl_Array ia = {KDL_I32, 1, {3}, iv};
    expect("csv save int32 column", p, kdl_csv_save(p, &ia, err, sizeof err), KDL_OK, err, NULL,
           NULL);
    b = read_all(p);
    want = "-2147483648\n0\n2147483520\n";
    check_true("csv int32 text", b.n == strlen(want) && same_bits(b.p, want, b.n));
    free(b.p);
    expect("csv load int32 column", p, kdl_csv_load(p, &r, err, sizeof err), KDL_OK, err, NULL,
           NULL);
    check_true("csv int32 as float", r.shape[0] == 3 && r.shape[1] == 1 &&
                                         ((float *)r.data)[0] == (float)INT32_MIN &&
                                         ((float *)r.data)[2] == 2147483520.0f);
    kdl_array_free(&r);
    kdl_Array sc = {KDL_F32, 0, {0}, (float[]){-7.25f}};
    expect("csv save scalar", p, kdl_csv_save(p, &sc, err, sizeof err), KDL_OK, err, NULL, NULL);
    csv_ok("csv scalar back", "-7.25\n", 1, 1, (const float[]){-7.25f});
    b = read_all(p);
    check_true("csv scalar text", b.n == 6 && same_bits(b.p, "-7.25\n", 6));
    free(b.p);

    kdl_Array r3 = {KDL_F32, 3, {1, 1, 1}, (float[]){1}};
    tpath(p, "never.csv");
    expect("csv save rank 3", p, kdl_csv_save(p, &r3, err, sizeof err), KDL_ERR_SHAPE, err,
           "rank 0 to 2", NULL);
    check_true("nothing written", !file_exists(p));
    tpath(p, "missing-dir/a.csv");
    expect("csv save into a missing directory", p, kdl_csv_save(p, &a, err, sizeof err),
           KDL_ERR_IO, err, strerror(ENOENT), NULL);
    tpath(p, "no-such.csv");
    expect("csv missing file", p, kdl_csv_load(p, &r, err, sizeof err), KDL_ERR_IO, err,
           "cannot open", NULL);
}

int main(void) {
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/kdl_test_io_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_dir)) {
        fprintf(stderr, "mkdtemp %s: %s\n", g_dir, strerror(errno));
        return 2;
    }
    test_st_reference_vectors();
    test_st_torch_style();
    test_st_roundtrip();
    test_st_corrupt();
    test_st_save_errors();
    test_write_failure();
    test_npy_numpy_files();
    test_npy_roundtrip();
    test_npy_corrupt();
    test_csv();

    // Only the files the tests wrote on purpose are left: no temporaries.
    DIR *d = opendir(g_dir);
    int stray = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) {
            printf("stray temporary file %s\n", e->d_name);
            stray = 1;
        }
    if (d)
        closedir(d);
    check_true("no temporary files left anywhere", !stray);
    remove_tree(g_dir);
    return check_report();
}
