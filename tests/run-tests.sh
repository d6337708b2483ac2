#!/usr/bin/env bash
# tests/run-tests.sh BUILD_DIR - run the whole suite and print "N passed, N failed".
#
# 1. FileCheck tests: every tests/**/*.kdl and tests/**/*.test file with
#    "# RUN:" lines. Each RUN line is a shell pipeline run with pipefail;
#    substitutions: %kdlc (the compiler), %s (the test file), %S (its
#    directory), %t (a per-test temporary path), %shared (../shared if present),
#    %root (the repository), %npycmp (compares .npy outputs with fixtures),
#    %stcmp (compares safetensors weights with fixtures),
#    %rtcc / %rtlink (compile / link a C program against this build's runtime). FileCheck, not and count come from LLVM
#    (llvm-14-tools), found on PATH or under /usr/lib/llvm-*/bin.
#    A file with "# REQUIRES: shared" is skipped when ../shared is absent.
# 2. Unit tests: tests/unit/test_*.c, built against the compiler library.
# 3. Robustness: every prefix of every example and test input through the
#    compiler in-process (build/prefix_check).
# TESTS="tests/train/lstm.test tests/emit" runs only those files and
# directories' RUN-line tests (no unit tests, no prefix check): for
# iterating on a change, never in place of the whole suite.
set -u
B=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
KDLC="$ROOT/$B/kdlc"
NPYCMP="$ROOT/$B/npycmp"
STCMP="$ROOT/$B/stcmp"
# %rtlink: how a test program links this build's runtime (sanitizers and BLAS as built).
RTLINK="$ROOT/$B/libkdlrt.a -lm"
[ "${NO_BLAS:-0}" = 1 ] || RTLINK="$RTLINK $(pkg-config --libs openblas 2>/dev/null || echo -lopenblas)"
RTCC="cc"
[ "${SAN:-0}" = 1 ] && RTCC="cc -fsanitize=address,undefined"

find_llvm_tool() {
    local t=$1
    if command -v "$t" >/dev/null 2>&1; then command -v "$t"; return; fi
    for d in $(ls -d /usr/lib/llvm-*/bin 2>/dev/null | sort -t- -k2 -n -r); do
        if [ -x "$d/$t" ]; then echo "$d/$t"; return; fi
    done
    echo ""
}
FILECHECK=$(find_llvm_tool FileCheck)
NOT=$(find_llvm_tool not)
COUNT=$(find_llvm_tool count)
if [ -z "$FILECHECK" ] || [ -z "$NOT" ]; then
    echo "run-tests: FileCheck/not not found; install llvm-14-tools" >&2
    exit 1
fi
SHARED=""
[ -d "$ROOT/../shared" ] && SHARED=$(cd "$ROOT/../shared" && pwd)

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
export KDLC NPYCMP STCMP RTLINK RTCC FILECHECK NOT COUNT TMP ROOT SHARED

# Run one test file; print "PASS name" / "FAIL name" (+ log) / "SKIP name".
run_one() {
    local f=$1
    local name=${f#tests/}
    local t="$TMP/$(echo "$name" | tr '/' '_')"
    if grep -q '^# REQUIRES: shared' "$f" && [ -z "$SHARED" ]; then
        echo "SKIP $name"; return 0
    fi
    local n=0 line
    while IFS= read -r line; do
        local cmd=${line#*RUN: }
        cmd=${cmd//%kdlc/$KDLC}
        cmd=${cmd//%npycmp/$NPYCMP}
        cmd=${cmd//%stcmp/$STCMP}
        cmd=${cmd//%rtlink/$RTLINK}
        cmd=${cmd//%rtcc/$RTCC}
        cmd=${cmd//%shared/$SHARED}
        cmd=${cmd//%root/$ROOT}
        cmd=${cmd//%s/$ROOT/$f}
        cmd=${cmd//%S/$ROOT/$(dirname "$f")}
        cmd=${cmd//%t/$t}
        cmd=$(echo "$cmd" | sed -E "s#(^|[|;&(] *)FileCheck #\1$FILECHECK #g; s#(^|[|;&(] *)not #\1$NOT #g; s#(^|[|;&(] *)count #\1$COUNT #g")
        n=$((n + 1))
        if ! (cd "$ROOT" && COLUMNS=${TEST_COLUMNS:-80} bash -o pipefail -c "$cmd") > "$t.log" 2>&1; then
            echo "FAIL $name (RUN line $n)"
            echo "  \$ $cmd" | cut -c1-400
            sed 's/^/  | /' "$t.log" | head -40
            return 0
        fi
    done < <(grep -E '^#+ ?RUN: ' "$f")
    if [ $n -eq 0 ]; then echo "FAIL $name (no RUN lines)"; return 0; fi
    echo "PASS $name"
}
export -f run_one

RESULTS="$TMP/results"
if [ -n "${TESTS:-}" ]; then
    # shellcheck disable=SC2086
    find $TESTS -type f \( -name '*.kdl' -o -name '*.test' \) -not -path '*/Inputs/*' | sort | \
        xargs -P "$(nproc 2>/dev/null || echo 2)" -I{} bash -c 'run_one "$@"' _ {} > "$RESULTS"
    grep -a -v '^PASS' "$RESULTS" || true
    pass=$(grep -a -c '^PASS' "$RESULTS")
    fail=$(grep -a -c '^FAIL' "$RESULTS")
    echo "$pass passed, $fail failed (TESTS=$TESTS)"
    [ "$fail" -eq 0 ]
    exit
fi
find tests -type f \( -name '*.kdl' -o -name '*.test' \) -not -path 'tests/inputs/*' \
    -not -path '*/Inputs/*' -not -path 'tests/bench/*' | sort | \
    xargs -P "$(nproc 2>/dev/null || echo 2)" -I{} bash -c 'run_one "$@"' _ {} > "$RESULTS"

# C test programs: tests/unit/test_*.c (the compiler library) and
# tests/runtime/test_*.c (kernels against naive references), built by make
# with this run's flags; each prints "N passed, N failed" and exits non-zero
# on failure.
run_program() { # run_program NAME EXE [VAR=VALUE...]
    local name=$1 exe=$2
    shift 2
    if ! make -s --no-print-directory B="$B" "$exe" > "$TMP/prog.log" 2>&1; then
        { echo "FAIL $name (build)"; sed 's/^/  | /' "$TMP/prog.log" | head -30; } >> "$RESULTS"
    elif env "$@" "$exe" > "$TMP/prog.log" 2>&1; then
        echo "PASS $name" >> "$RESULTS"
    else
        { echo "FAIL $name"; sed 's/^/  | /' "$TMP/prog.log" | tail -30; } >> "$RESULTS"
    fi
}
avx512=0
grep -qw avx512f /proc/cpuinfo 2>/dev/null && avx512=1
for src in tests/unit/test_*.c tests/runtime/test_*.c; do
    [ -e "$src" ] || continue
    base=$(basename "$src" .c)
    case $src in
    tests/unit/*) run_program "unit/$base" "$B/$base" ;;
    *) run_program "runtime/$base" "$B/rt_$base"
       # On an AVX-512 CPU the kernels above took the register-tile paths;
       # run them again on the portable ones (im2col + GEMM) as well.
       if [ "$avx512" = 1 ]; then
           run_program "runtime/$base (KDL_NO_AVX512=1)" "$B/rt_$base" KDL_NO_AVX512=1
       fi ;;
    esac
done

# Every prefix of every example and test input: a diagnostic or success,
# never a crash, a hang or a sanitizer report.
inputs=$(ls examples/*.kdl tests/inputs/*.kdl 2>/dev/null; [ -n "$SHARED" ] && ls "$SHARED"/seed/examples/*.kdl)
if "$B/prefix_check" $inputs > "$TMP/prefix.log" 2>&1; then
    echo "PASS robustness/prefixes ($(tail -1 "$TMP/prefix.log"))" >> "$RESULTS"
else
    { echo "FAIL robustness/prefixes"; sed 's/^/  | /' "$TMP/prefix.log" | tail -30; } >> "$RESULTS"
fi

grep -a -v '^PASS' "$RESULTS" | grep -a -v '^SKIP' || true
pass=$(grep -a -c '^PASS' "$RESULTS")
fail=$(grep -a -c '^FAIL' "$RESULTS")
skip=$(grep -a -c '^SKIP' "$RESULTS")
if [ "$skip" -gt 0 ]; then
    echo "$pass passed, $fail failed, $skip skipped"
else
    echo "$pass passed, $fail failed"
fi
[ "$fail" -eq 0 ]
