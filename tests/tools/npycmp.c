/*
 * npycmp.c - compare two arrays element by element:
 * |a - b| <= atol + rtol * |b| (b is the reference). Prints the first
 * mismatches and the largest error; exit 0 when all match, 1 otherwise,
 * 2 on bad input.
 *
 * Arrays are .npy files, or .csv files (read with kdl_csv_load). When both
 * are CSV files with a header line (a training history: "epoch,loss,..."),
 * columns are matched by name, in any order: both must have the same column
 * names and as many rows; otherwise the shapes must be equal.
 *
 * usage: npycmp GOT.npy|GOT.csv WANT.npy|WANT.csv [--rtol R] [--atol A]
 */
#include "kdl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_COLS 256

static double at(const kdl_Array *a, size_t i) {
    return a->dtype == KDL_F32 ? (double)((const float *)a->data)[i]
                               : (double)((const int32_t *)a->data)[i];
}

static int is_csv(const char *path) {
    size_t n = strlen(path);
    return n >= 4 && (!strcmp(path + n - 4, ".csv") || !strcmp(path + n - 4, ".CSV"));
}

static kdl_Status load(const char *path, kdl_Array *a, char *err, size_t errlen) {
    return is_csv(path) ? kdl_csv_load(path, a, err, errlen) : kdl_npy_load(path, a, err, errlen);
}

static int is_number(const char *s) {
    while (*s == ' ' || *s == '\t')
        s++;
    if (!*s)
        return 0;
    char *end;
    strtod(s, &end);
    while (*end == ' ' || *end == '\t' || *end == '\r')
        end++;
    return end != s && !*end;
}

// The header of a CSV file (a first line with no numeric field, as
// kdl_csv_load skips it): its column names in names[0..*n), in buf.
// Returns 1 with a header, 0 without one, -1 if it cannot be read.
static int csv_header(const char *path, char *buf, size_t len, char **names, int *n) {
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    if (!fgets(buf, (int)len, f)) {
        fclose(f);
        return 0;
    }
    fclose(f);
    buf[strcspn(buf, "\r\n")] = '\0';
    *n = 0;
    int numeric = 0;
    for (char *p = buf;;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        while (*p == ' ')
            p++;
        if (*n == MAX_COLS)
            return -1;
        names[(*n)++] = p;
        numeric |= is_number(p);
        if (!comma)
            break;
        p = comma + 1;
    }
    return numeric ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: npycmp GOT.npy|GOT.csv WANT.npy|WANT.csv [--rtol R] [--atol A]\n");
        return 2;
    }
    double rtol = 1e-4, atol = 1e-5;
    for (int i = 3; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--rtol"))
            rtol = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--atol"))
            atol = atof(argv[i + 1]);
    }
    kdl_Array a = {0}, b = {0};
    char err[512];
    if (load(argv[1], &a, err, sizeof err) != KDL_OK ||
        load(argv[2], &b, err, sizeof err) != KDL_OK) {
        fprintf(stderr, "npycmp: %s\n", err);
        kdl_array_free(&a);
        return 2;
    }

    // Columns of WANT found by name in GOT (CSV files with headers).
    static char hbuf_a[16384], hbuf_b[16384];
    char *names_a[MAX_COLS], *names_b[MAX_COLS];
    int na = 0, nb = 0, by_name = 0, colmap[MAX_COLS];
    if (is_csv(argv[1]) && is_csv(argv[2])) {
        int ha = csv_header(argv[1], hbuf_a, sizeof hbuf_a, names_a, &na);
        int hb = csv_header(argv[2], hbuf_b, sizeof hbuf_b, names_b, &nb);
        if (ha < 0 || hb < 0) {
            fprintf(stderr, "npycmp: cannot read the CSV header (at most %d columns)\n",
                    MAX_COLS);
            kdl_array_free(&a);
            kdl_array_free(&b);
            return 2;
        }
        by_name = ha == 1 && hb == 1;
    }
    size_t n = kdl_array_count(&a);
    int missing = 0;
    if (by_name) {
        if (na != a.shape[1] || nb != b.shape[1]) {
            fprintf(stderr, "npycmp: the header and the rows differ in column count\n");
            kdl_array_free(&a);
            kdl_array_free(&b);
            return 2;
        }
        for (int c = 0; c < nb; c++) {
            colmap[c] = -1;
            for (int k = 0; k < na && colmap[c] < 0; k++)
                if (!strcmp(names_a[k], names_b[c]))
                    colmap[c] = k;
            if (colmap[c] < 0) {
                printf("column '%s' missing from %s\n", names_b[c], argv[1]);
                missing++;
            }
        }
        for (int k = 0; k < na; k++) {
            int found = 0;
            for (int c = 0; c < nb && !found; c++)
                found = !strcmp(names_a[k], names_b[c]);
            if (!found) {
                printf("column '%s' of %s is not in %s\n", names_a[k], argv[1], argv[2]);
                missing++;
            }
        }
        if (a.shape[0] != b.shape[0]) {
            printf("%lld rows, want %lld\n", (long long)a.shape[0], (long long)b.shape[0]);
            kdl_array_free(&a);
            kdl_array_free(&b);
            return 1;
        }
        n = kdl_array_count(&b);
    } else if (a.rank != b.rank || n != kdl_array_count(&b) ||
               memcmp(a.shape, b.shape, sizeof(int64_t) * (size_t)a.rank)) {
        fprintf(stderr, "npycmp: shapes differ\n");
        kdl_array_free(&a);
        kdl_array_free(&b);
        return 1;
    }
    size_t bad = 0;
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        size_t ia = i;
        if (by_name) {
            size_t r = i / (size_t)nb, c = i % (size_t)nb;
            if (colmap[c] < 0)
                continue;
            ia = r * (size_t)na + (size_t)colmap[c];
        }
        double x = at(&a, ia), y = at(&b, i), d = fabs(x - y);
        if (!(d <= atol + rtol * fabs(y))) {
            if (bad < 5) {
                if (by_name)
                    printf("row %zu, column '%s': got %.9g, want %.9g\n", i / (size_t)nb,
                           names_b[i % (size_t)nb], x, y);
                else
                    printf("element %zu: got %.9g, want %.9g\n", i, x, y);
            }
            bad++;
        }
        if (d > worst)
            worst = d;
    }
    printf("%zu of %zu elements differ (largest abs error %.3g)\n", bad, n, worst);
    kdl_array_free(&a);
    kdl_array_free(&b);
    return bad || missing ? 1 : 0;
}
