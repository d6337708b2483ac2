#!/bin/bash
# run.sh - the kdl benchmark (`make bench`): builds kdlc and the runtime,
# compiles each tests/bench/*.kdl with a timing driver (bench.c), runs it,
# runs the same models in PyTorch (torch_bench.py) when /usr/bin/python3 has
# torch, and prints one table with the ratios and the targets of the issue:
#
#   batch-1 latency:      kdl <= 1/10 of PyTorch's  (digits_mlp, digits_cnn)
#   batch-256 throughput: kdl >= PyTorch's          (all four models)
#
# Each measurement is the median over single timed calls (bench.c,
# torch_bench.py). kdl and PyTorch run alternately, model by model, for
# BENCH_ROUNDS rounds, and the table keeps each side's best round (lowest
# median latency, highest throughput), so a burst of load from other
# processes in one round does not decide a ratio. Every round's numbers are
# in results.txt.
#
# Usage: tests/bench/run.sh [BUILD_DIR]
# Environment:
#   NO_BLAS=1          benchmark the portable GEMM (build/noblas; single-threaded)
#   BENCH_SECONDS=1    seconds of timed calls per measurement
#   BENCH_ROUNDS=3
#   BENCH_THREADS="1 2"  (NO_BLAS=1: "1")
#   BENCH_MODELS="digits_mlp digits_cnn mlp784 cnn32"
#   TORCH_PYTHON=/usr/bin/python3   the interpreter that has torch ("" to skip)
# OPENBLAS_* variables (e.g. OPENBLAS_CORETYPE) reach both sides unchanged and
# are printed with the table, as is the OpenBLAS kernel set each side used.
# Output: the table on stdout and in BUILD_DIR/bench/table.md, the raw RESULT
# lines in BUILD_DIR/bench/results.txt.
set -euo pipefail
cd "$(dirname "$0")/../.."

NO_BLAS=${NO_BLAS:-0}
if [ "$NO_BLAS" = 1 ]; then
    B=${1:-build/noblas}
    RT_DEFS=-DKDL_NO_BLAS
    RT_LIBS=
else
    B=${1:-build}
    RT_DEFS=
    RT_LIBS=$(pkg-config --libs openblas 2>/dev/null || echo -lopenblas)
fi
SECS=${BENCH_SECONDS:-1}
ROUNDS=${BENCH_ROUNDS:-3}
if [ "$NO_BLAS" = 1 ]; then
    THREADS=${BENCH_THREADS:-1}     # the portable GEMM is single-threaded
else
    THREADS=${BENCH_THREADS:-1 2}
fi
MODELS=${BENCH_MODELS:-digits_mlp digits_cnn mlp784 cnn32}
PY=${TORCH_PYTHON-/usr/bin/python3}
CC=${CC:-cc}
CFLAGS="-std=c11 -O2 -Wall -Wextra -Wpedantic -Wno-unused-parameter -Werror"
OUT=$B/bench

# SAN stays off: sanitized timings mean nothing.
make --no-print-directory -s SAN=0 NO_BLAS="$NO_BLAS" "$B/kdlc" "$B/libkdlrt.a"
mkdir -p "$OUT"

for m in $MODELS; do
    "$B/kdlc" emit "tests/bench/$m.kdl" -o "$OUT/$m"
    up=$(echo "${m}_model" | tr '[:lower:]' '[:upper:]')
    # shellcheck disable=SC2086
    $CC $CFLAGS $RT_DEFS -Iinclude -I"$OUT/$m" -DBENCH_HEADER="\"$m.h\"" -DBENCH_MODEL="${m}_model" \
        -DBENCH_UPPER="$up" tests/bench/bench.c "$OUT/$m/$m.c" "$B/libkdlrt.a" $RT_LIBS -lm \
        -o "$OUT/$m/bench"
done

have_torch=0
if [ -n "$PY" ] && [ -x "$PY" ] && "$PY" -c 'import torch' 2>/dev/null; then
    have_torch=1
else
    echo "run.sh: no torch at '${PY}': kdl columns only" >&2
fi

RES=$OUT/results.txt
: > "$RES"
load0=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")
echo "run.sh: $ROUNDS rounds, threads $THREADS, ${SECS}s per measurement, load average $load0" >&2
for r in $(seq "$ROUNDS"); do
    for m in $MODELS; do
        # shellcheck disable=SC2086
        "$OUT/$m/bench" "$m" $THREADS -t "$SECS" | sed "s/\$/ $r/" | tee -a "$RES" >&2
        if [ "$have_torch" = 1 ]; then
            # shellcheck disable=SC2086
            "$PY" tests/bench/torch_bench.py $THREADS -t "$SECS" --models "$m" \
                | sed "s/\$/ $r/" | tee -a "$RES" >&2
        fi
    done
done
load1=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")

if [ "$NO_BLAS" = 1 ]; then
    backend="portable GEMM (single-threaded at any thread count)"
else
    backend="OpenBLAS, kernels $(awk '$1 == "RESULT" && $2 == "kdl" { print $10; exit }' "$RES")"
fi
torch_info="-"
if [ "$have_torch" = 1 ]; then
    torch_info="$("$PY" -c 'import torch; print(torch.__version__)'), Linear on OpenBLAS kernels $(awk '$1 == "RESULT" && $2 == "torch" { print $10; exit }' "$RES")"
fi
{
    echo "kdl: $backend; torch: $torch_info"
    echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1); load average $load0 before, $load1 after"
    echo "environment: $(env | grep '^OPENBLAS_' | sort | tr '\n' ' ')"
    echo "batch-1: median latency of single calls (us); batch-256: 256 / median call time (samples/s);"
    echo "best of $ROUNDS rounds each; ratios > 1 mean kdl is faster."
    echo
    awk -v have_torch="$have_torch" -v models="$MODELS" -v threads="$THREADS" '
        $1 == "RESULT" {
            k = $2 SUBSEP $3 SUBSEP $4
            if (!(k in b1) || $5 + 0 < b1[k] + 0) b1[k] = $5
            if (!(k in tp) || $6 + 0 > tp[k] + 0) tp[k] = $6
            par[$2, $3] = $7
        }
        function num(x) { return x == "" ? "-" : x }
        END {
            nm = split(models, M, " "); nt = split(threads, T, " ")
            print "| model | threads | kdl b1 us | torch b1 us | torch/kdl | b1 target (>= 10x) | kdl b256 samples/s | torch b256 samples/s | kdl/torch | b256 target (>= 1x) |"
            print "|---|---:|---:|---:|---:|---|---:|---:|---:|---|"
            met = 0; missed = 0; miss = ""
            for (i = 1; i <= nm; i++) for (j = 1; j <= nt; j++) {
                m = M[i]; t = T[j]
                kb = b1["kdl", m, t]; tb = b1["torch", m, t]; kt = tp["kdl", m, t]; tt = tp["torch", m, t]
                r1 = "-"; r2 = "-"; g1 = "-"; g2 = "-"
                if (have_torch && tb != "" && kb > 0) {
                    r1 = sprintf("%.2f", tb / kb)
                    if (m == "digits_mlp" || m == "digits_cnn") {
                        if (kb * 10 <= tb) { g1 = "met"; met++ }
                        else { g1 = "MISSED"; missed++; miss = miss " " m "/" t "t/b1" }
                    }
                }
                if (have_torch && tt != "" && tt > 0) {
                    r2 = sprintf("%.2f", kt / tt)
                    if (kt >= tt) { g2 = "met"; met++ }
                    else { g2 = "MISSED"; missed++; miss = miss " " m "/" t "t/b256" }
                }
                printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", m, t, num(kb), num(tb), r1, g1,
                       kt == "" ? "-" : sprintf("%.0f", kt), tt == "" ? "-" : sprintf("%.0f", tt), r2, g2
            }
            print ""
            if (have_torch) {
                printf "targets met: %d of %d", met, met + missed
                if (missed) printf "; missed:%s", miss
                print ""
                for (i = 1; i <= nm; i++)
                    if (par["kdl", M[i]] != par["torch", M[i]])
                        printf "WARNING: %s has %s parameters in kdl, %s in torch\n", M[i], par["kdl", M[i]], par["torch", M[i]]
            }
        }' "$RES"
} | tee "$OUT/table.md"
