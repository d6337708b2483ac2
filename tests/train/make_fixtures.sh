#!/usr/bin/env bash
# tests/train/make_fixtures.sh [MODEL...] - regenerate the training fixtures.
#
# Run by hand (needs /usr/bin/python3 with numpy and torch; CI does not run
# it). For each tests/train/models/<m>.kdl (or only the named ones):
#   1. build the program with kdlc; initialise the weights with
#      `init --seed $SEED` (xoshiro256**, the same on every machine, so the
#      initial weights are not committed);
#   2. draw the data with numpy (train_reference.py data: default_rng seeded
#      from the model's name; 40 samples unless `# TRAIN-SAMPLES: N`) into
#      fixtures/<m>/x.npy and y.npy (x.K.npy / y.K.npy for several);
#   3. train with train_reference.py (float64 PyTorch, Keras 3's rules, no
#      shuffling, the epochs and batch size of the .kdl fit() call) and write
#        fixtures/<m>/history.csv        per-epoch loss and metrics
#        fixtures/<m>/steps.csv          the loss of every step
#        fixtures/<m>/weights.safetensors  the final weights (float32)
#   4. write tests/train/<m>.test, whose RUN lines rebuild, init, fit with
#      the program (--no-shuffle), compare the final weights (stcmp), build
#      step_driver.c against the generated model and compare the loss of
#      every train_on_batch step, then compare the history (npycmp: the same
#      column names, in any order, and values);
#   5. run those comparisons here too and report any mismatch (a kdl bug or a
#      missing feature: the fixtures still come from the reference, never
#      from kdl).
#
# Directives in a model file (comment lines):
#   # TRAIN-INPUT: uniform LO HI     inputs uniform in [LO, HI) (default: normal(0, 1))
#   # TRAIN-SAMPLES: N               N samples (default 40: batches 16, 16, 8)
#   # TRAIN-DIMS: D...               the sizes of the inputs' None dimensions in the
#                                    data (in input order, then axis order)
#   # TRAIN-EVALUATE                 also evaluate the reference's final weights
#                                    (train_reference.py evaluate -> evaluate.csv)
#                                    and compare with the model's evaluate
#                                    (eval_driver.c, the same weights)
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PY=/usr/bin/python3
B=${B:-build}
KDLC=${KDLC:-$ROOT/$B/kdlc}
NPYCMP=${NPYCMP:-$ROOT/$B/npycmp}
STCMP=${STCMP:-$ROOT/$B/stcmp}
LIBKDLRT=${LIBKDLRT:-$ROOT/$B/libkdlrt.a}
SEED=${SEED:-20251125}
RTOL=1e-4
ATOL_LOSS=1e-6      # losses and metrics: numbers of order 1
ATOL_W=1e-5         # weights
export KDLC

for t in "$KDLC" "$NPYCMP" "$STCMP"; do
    [ -x "$t" ] ||
        { echo "make_fixtures: build $t first (make $B/kdlc $B/npycmp $B/stcmp)" >&2; exit 1; }
done
"$PY" -c 'import numpy, torch' || { echo "make_fixtures: $PY needs numpy and torch" >&2; exit 1; }
"$PY" "$HERE/train_reference.py" selftest > /dev/null ||
    { echo "make_fixtures: train_reference.py selftest failed" >&2; exit 1; }
RTLINK="$LIBKDLRT -lm $(pkg-config --libs openblas 2>/dev/null || echo -lopenblas)"

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

if [ $# -gt 0 ]; then
    files=()
    for m in "$@"; do files+=("$HERE/models/${m%.kdl}.kdl"); done
else
    files=("$HERE"/models/*.kdl)
fi

status=0
for kdl in "${files[@]}"; do
    m=$(basename "$kdl" .kdl)
    echo "== $m"
    out="$HERE/fixtures/$m"
    rm -rf "$out"
    mkdir -p "$out"
    dist=(--dist normal)
    line=$(grep -m1 '^# TRAIN-INPUT:' "$kdl" | sed 's/^# TRAIN-INPUT: *//')
    if [ -n "$line" ]; then
        read -r kind lo hi <<< "$line"
        dist=(--dist "$kind" --lo "$lo" --hi "$hi")
    fi
    n=$(grep -m1 '^# TRAIN-SAMPLES:' "$kdl" | sed 's/^# TRAIN-SAMPLES: *//')
    n=${n:-40}
    tdims=$(grep -m1 '^# TRAIN-DIMS:' "$kdl" | sed 's/^# TRAIN-DIMS: *//')
    dseed=$(( $(printf %s "$m" | cksum | cut -d' ' -f1) % 100000 ))
    var=$("$PY" "$ROOT/tests/e2e/reference.py" models "$kdl" | head -1) || { status=1; continue; }
    args=$("$PY" "$HERE/train_reference.py" fitargs "$kdl" --model "$var") ||
        { status=1; continue; }
    read -r epochs batch nin nout <<< "$args"

    b="$TMP/$m"
    mkdir -p "$b"
    if ! "$KDLC" build "$kdl" -o "$b/prog" > "$TMP/build.log" 2>&1; then
        echo "   kdlc build failed:"; sed 's/^/   | /' "$TMP/build.log" | head -30
        status=1
        continue
    fi
    stem=$(ls "$b/prog" | grep -v '\.' | head -1)
    if ! "$b/prog/$stem" init --model "$var" --seed "$SEED" -o "$b/w0.safetensors"; then
        echo "   init failed"; status=1; continue
    fi
    "$PY" "$HERE/train_reference.py" data "$kdl" --model "$var" --n "$n" --seed "$dseed" \
        "${dist[@]}" ${tdims:+--dims $tdims} --out "$out" || { status=1; continue; }
    xs=() ys=() txs="" tys=""
    for k in $(seq 0 $((nin - 1))); do
        f=x.npy; [ "$nin" -gt 1 ] && f=x.$k.npy
        xs+=(--x "$out/$f"); txs="$txs --x %S/fixtures/$m/$f"
    done
    for k in $(seq 0 $((nout - 1))); do
        f=y.npy; [ "$nout" -gt 1 ] && f=y.$k.npy
        ys+=(--y "$out/$f"); tys="$tys --y %S/fixtures/$m/$f"
    done
    if ! "$PY" "$HERE/train_reference.py" fit "$kdl" --model "$var" --weights "$b/w0.safetensors" \
        "${xs[@]}" "${ys[@]}" --epochs "$epochs" --batch-size "$batch" \
        --out-weights "$out/weights.safetensors" --history "$out/history.csv" \
        --steps "$out/steps.csv"; then
        echo "   reference failed"; status=1; continue
    fi

    evaluate=0
    if grep -q '^# TRAIN-EVALUATE' "$kdl"; then
        evaluate=1
        if ! "$PY" "$HERE/train_reference.py" evaluate "$kdl" --model "$var" \
            --weights "$out/weights.safetensors" "${xs[@]}" "${ys[@]}" --batch-size "$batch" \
            --out "$out/evaluate.csv"; then
            echo "   reference evaluate failed"; status=1; continue
        fi
    fi

    prefix="${stem}_$var"
    fit="fit --model $var$txs$tys --epochs $epochs --batch-size $batch --no-shuffle"
    fit="$fit --weights %t/w0.safetensors -o %t/w1.safetensors --history %t/history.csv --verbose 0"
    cc="%rtcc -std=c11 -O2 -I%root/include -I%t/prog -DKDL_MODEL_H='\"$stem.h\"'"
    cc="$cc -DKDL_MODEL=$prefix %S/step_driver.c %t/prog/$stem.c %rtlink -o %t/steps"
    steps="%t/steps %t/w0.safetensors$txs$tys --epochs $epochs --batch-size $batch -o %t/steps.csv"
    ecc="%rtcc -std=c11 -O2 -I%root/include -I%t/prog -DKDL_MODEL_H='\"$stem.h\"'"
    ecc="$ecc -DKDL_MODEL=$prefix %S/eval_driver.c %t/prog/$stem.c %rtlink -o %t/eval"
    erun="%t/eval %S/fixtures/$m/weights.safetensors$txs$tys --batch-size $batch"
    erun="$erun -o %t/evaluate.csv"
    t="$HERE/$m.test"
    {
        echo "# Training: tests/train/models/$m.kdl compiled by kdlc, weights from"
        echo "# \`init --seed $SEED\`, trained by the program's fit ($epochs epochs, batches of"
        echo "# $batch, no shuffling) on the committed data. Compared with fixtures computed by"
        echo "# tests/train/train_reference.py (float64 PyTorch, Keras 3's rules): the final"
        echo "# weights (stcmp), the loss of every train_on_batch step (step_driver.c built"
        echo "# against the generated model), then the history fit wrote (npycmp, the"
        echo "# columns by name: Keras's log names)."
        echo "# Generated by tests/train/make_fixtures.sh; regenerate with it."
        echo "# RUN: rm -rf %t && mkdir -p %t"
        echo "# RUN: %kdlc build %S/models/$m.kdl -o %t/prog > /dev/null"
        echo "# RUN: %t/prog/$stem init --model $var --seed $SEED -o %t/w0.safetensors"
        echo "# RUN: %t/prog/$stem $fit"
        echo "# RUN: %stcmp %t/w1.safetensors %S/fixtures/$m/weights.safetensors" \
            "--rtol $RTOL --atol $ATOL_W"
        echo "# RUN: $cc"
        echo "# RUN: $steps"
        echo "# RUN: %npycmp %t/steps.csv %S/fixtures/$m/steps.csv --rtol $RTOL --atol $ATOL_LOSS"
        echo "# RUN: %npycmp %t/history.csv %S/fixtures/$m/history.csv" \
            "--rtol $RTOL --atol $ATOL_LOSS"
        if [ $evaluate = 1 ]; then
            echo "# RUN: $ecc"
            echo "# RUN: $erun"
            echo "# RUN: %npycmp %t/evaluate.csv %S/fixtures/$m/evaluate.csv" \
                "--rtol $RTOL --atol $ATOL_LOSS"
        fi
    } > "$t"

    # The same comparisons here.
    sub() { sed -e "s#%t#$b#g" -e "s#%S#$HERE#g" -e "s#%root#$ROOT#g" -e "s#%rtcc#cc#g" \
                -e "s#%rtlink#$RTLINK#g"; }
    if ! eval "$b/prog/$stem $(echo "$fit" | sub)" > "$TMP/fit.log" 2>&1; then
        echo "   fit failed:"; sed 's/^/   | /' "$TMP/fit.log" | head -20; status=1
    else
        if ! r=$("$NPYCMP" "$b/history.csv" "$out/history.csv" --rtol $RTOL --atol $ATOL_LOSS); then
            echo "   MISMATCH history:"; echo "$r" | sed 's/^/   | /'; status=1
        fi
        if ! r=$("$STCMP" "$b/w1.safetensors" "$out/weights.safetensors" --rtol $RTOL \
                 --atol $ATOL_W); then
            echo "   MISMATCH weights:"; echo "$r" | grep -v '^ok' | sed 's/^/   | /'; status=1
        fi
    fi
    if ! eval "$(echo "$cc" | sub)" > "$TMP/cc.log" 2>&1; then
        echo "   step driver build failed:"; sed 's/^/   | /' "$TMP/cc.log" | head -20; status=1
    elif ! eval "$(echo "$steps" | sub)" > "$TMP/steps.log" 2>&1; then
        echo "   step driver failed:"; sed 's/^/   | /' "$TMP/steps.log" | head -20; status=1
    elif ! r=$("$NPYCMP" "$b/steps.csv" "$out/steps.csv" --rtol $RTOL --atol $ATOL_LOSS); then
        echo "   MISMATCH steps:"; echo "$r" | sed 's/^/   | /'; status=1
    fi
    if [ $evaluate = 1 ]; then
        if ! eval "$(echo "$ecc" | sub)" > "$TMP/cc.log" 2>&1; then
            echo "   eval driver build failed:"; sed 's/^/   | /' "$TMP/cc.log" | head -20; status=1
        elif ! eval "$(echo "$erun" | sub)" > "$TMP/eval.log" 2>&1; then
            echo "   eval driver failed:"; sed 's/^/   | /' "$TMP/eval.log" | head -20; status=1
        elif ! r=$("$NPYCMP" "$b/evaluate.csv" "$out/evaluate.csv" --rtol $RTOL \
                   --atol $ATOL_LOSS); then
            echo "   MISMATCH evaluate:"; echo "$r" | sed 's/^/   | /'; status=1
        fi
    fi
    echo "   $(du -sh --apparent-size "$out" | cut -f1) in fixtures/$m"
done
echo "fixtures: $(du -sh --apparent-size "$HERE/fixtures" | cut -f1) in total"
exit $status
