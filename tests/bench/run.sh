#!/bin/bash
# run.sh - the kdl benchmark (`make bench`): builds kdlc and the runtime,
# compiles each tests/bench/*.kdl with a timing driver (bench.c), runs it,
# runs the same models in PyTorch (torch_bench.py) when /usr/bin/python3 has
# torch, and prints two tables (inference, training) with the ratios and the
# targets of the issues:
#
#   batch-1 latency:      kdl <= 1/10 of PyTorch's  (digits_mlp, digits_cnn)
#   batch-256 throughput: kdl >= PyTorch's          (all four models)
#   training throughput:  kdl >= 2x PyTorch's       (digits_mlp, digits_cnn; batch 32)
#                         kdl >= PyTorch's          (mlp784 batch 256, cnn32 batch 64)
#
# Training is one train_on_batch step (forward, loss, backward, Adam update;
# the models' compile() in tests/bench/*.kdl) against PyTorch's zero_grad,
# forward, CrossEntropyLoss, backward, Adam step.
# Each measurement is the median over single timed calls (bench.c,
# torch_bench.py). kdl and PyTorch run alternately, model by model, for
# BENCH_ROUNDS rounds, and the tables keep each side's best round (lowest
# median latency, highest throughput), so a burst of load from other
# processes in one round does not decide a ratio. Every round's numbers are
# in results.txt (RESULT lines: inference; TRAIN lines: training).
#
# Usage: tests/bench/run.sh [BUILD_DIR]
# Environment:
#   NO_BLAS=1          benchmark the portable GEMM (build/noblas; the GEMM itself is
#                      single-threaded, the runtime's thread pool runs the rest)
#   BENCH_SECONDS=1    seconds of timed calls per measurement
#   BENCH_ROUNDS=3
#   BENCH_THREADS="1 2"  (bench.c calls kdl_set_num_threads: the runtime's pool and OpenBLAS)
#   BENCH_MODELS="digits_mlp digits_cnn mlp784 cnn32"
#   BENCH_PARTS="infer train"   which measurements (either or both)
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
THREADS=${BENCH_THREADS:-1 2}
MODELS=${BENCH_MODELS:-digits_mlp digits_cnn mlp784 cnn32}
PARTS=${BENCH_PARTS:-infer train}
PY=${TORCH_PYTHON-/usr/bin/python3}
CC=${CC:-cc}
CFLAGS="-std=c11 -O2 -Wall -Wextra -Wpedantic -Wno-unused-parameter -Werror"
OUT=$B/bench

# The training batch of each model (the issue's targets are at these sizes).
train_batch() {
    case $1 in
        digits_mlp | digits_cnn) echo 32 ;;
        mlp784) echo 256 ;;
        cnn32) echo 64 ;;
        *) echo 32 ;;
    esac
}
has_part() { case " $PARTS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
if ! has_part infer && ! has_part train; then
    echo "run.sh: BENCH_PARTS='$PARTS' names neither infer nor train" >&2
    exit 2
fi

# SAN stays off: sanitized timings mean nothing.
make --no-print-directory -s SAN=0 NO_BLAS="$NO_BLAS" B="$B" "$B/kdlc" "$B/libkdlrt.a"
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
echo "run.sh: $ROUNDS rounds, threads $THREADS, ${SECS}s per measurement, parts $PARTS, load average $load0" >&2
for r in $(seq "$ROUNDS"); do
    for m in $MODELS; do
        opts=()
        has_part infer || opts+=(--no-infer)
        has_part train && opts+=(--train "$(train_batch "$m")")
        # shellcheck disable=SC2086
        "$OUT/$m/bench" "$m" $THREADS -t "$SECS" "${opts[@]}" | sed "s/\$/ $r/" | tee -a "$RES" >&2
        if [ "$have_torch" = 1 ]; then
            # shellcheck disable=SC2086
            "$PY" tests/bench/torch_bench.py $THREADS -t "$SECS" --models "$m" "${opts[@]}" \
                | sed "s/\$/ $r/" | tee -a "$RES" >&2
        fi
    done
done
load1=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")

if [ "$NO_BLAS" = 1 ]; then
    backend="portable GEMM"
else
    backend="OpenBLAS, kernels $(awk '($1 == "RESULT" || $1 == "TRAIN") && $2 == "kdl" { print $10; exit }' "$RES")"
fi
torch_info="-"
if [ "$have_torch" = 1 ]; then
    torch_info="$("$PY" -c 'import torch; print(torch.__version__)'), Linear on OpenBLAS kernels $(awk '($1 == "RESULT" || $1 == "TRAIN") && $2 == "torch" { print $10; exit }' "$RES")"
fi
{
    echo "kdl: $backend; torch: $torch_info"
    echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1); load average $load0 before, $load1 after"
    echo "environment: $(env | grep -E '^(OPENBLAS|KDL)_' | sort | tr '\n' ' ')"
    # The runtime's own AVX-512 tiles take the convolutions and GEMM (runtime/gemm.c).
    if grep -qw avx512f /proc/cpuinfo 2>/dev/null && [ -z "${KDL_NO_AVX512:-}" ]; then
        echo "kdl: AVX-512 register tiles for convolutions and GEMM (the backend above for one-row B^T products and a B over 1 MB)"
    fi
    if has_part infer; then
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
    fi
    if has_part train; then
        has_part infer && echo
        echo "Training: samples/s = batch / median time of single train_on_batch steps (forward, loss,"
        echo "backward, Adam update); PyTorch: zero_grad, forward, CrossEntropyLoss, backward, Adam step."
        echo "Batch 32 (digits_mlp, digits_cnn), 256 (mlp784), 64 (cnn32); best of $ROUNDS rounds each."
        echo
        awk -v have_torch="$have_torch" -v models="$MODELS" -v threads="$THREADS" '
            $1 == "TRAIN" {
                k = $2 SUBSEP $3 SUBSEP $4
                if (!(k in tp) || $6 + 0 > tp[k] + 0) tp[k] = $6
                bs[$2, $3] = $5
                par[$2, $3] = $7
            }
            END {
                nm = split(models, M, " "); nt = split(threads, T, " ")
                print "| model | batch | threads | kdl train samples/s | torch train samples/s | kdl/torch | target | met |"
                print "|---|---:|---:|---:|---:|---:|---|---|"
                met = 0; missed = 0; miss = ""
                for (i = 1; i <= nm; i++) for (j = 1; j <= nt; j++) {
                    m = M[i]; t = T[j]
                    kt = tp["kdl", m, t]; tt = tp["torch", m, t]
                    want = (m == "digits_mlp" || m == "digits_cnn") ? 2 : 1
                    r = "-"; g = "-"
                    if (have_torch && tt != "" && tt > 0 && kt != "") {
                        r = sprintf("%.2f", kt / tt)
                        if (kt >= want * tt) { g = "met"; met++ }
                        else { g = "MISSED"; missed++; miss = miss " " m "/" t "t" }
                    }
                    printf "| %s | %s | %s | %s | %s | %s | >= %dx | %s |\n", m, bs["kdl", m] == "" ? "-" : bs["kdl", m], t,
                           kt == "" ? "-" : sprintf("%.0f", kt), tt == "" ? "-" : sprintf("%.0f", tt), r, want, g
                }
                print ""
                if (have_torch) {
                    printf "training targets met: %d of %d", met, met + missed
                    if (missed) printf "; missed:%s", miss
                    print ""
                    for (i = 1; i <= nm; i++) {
                        if (par["kdl", M[i]] != par["torch", M[i]])
                            printf "WARNING: %s has %s trainable parameters in kdl, %s in torch\n", M[i], par["kdl", M[i]], par["torch", M[i]]
                        if (bs["kdl", M[i]] != bs["torch", M[i]])
                            printf "WARNING: %s trains at batch %s in kdl, %s in torch\n", M[i], bs["kdl", M[i]], bs["torch", M[i]]
                    }
                }
            }' "$RES"
    fi
} | tee "$OUT/table.md"
