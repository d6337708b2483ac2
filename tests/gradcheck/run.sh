#!/bin/bash
# tests/gradcheck/run.sh OUTDIR FILE.kdl [LOSS]: compile every model of FILE
# for training (appending `model.compile(optimizer="sgd", loss=LOSS)` for
# each model when LOSS is given; else the file's own compile() calls count),
# and check each model's gradients against finite differences
# (gradcheck.c). Uses $KDLC, $RTCC and $RTLINK from tests/run-tests.sh.
# Directives in FILE: "# GRADCHECK: labels" (0/1 targets), "shift" (move the
# weights off their initial values), "scale S" (the models' optimizers have
# loss_scale_factor S: their gradients are S times those of the loss),
# "stochastic" (every model draws masks in training: the loss depends on the seed).
# Models with None input dimensions train at the sizes "# E2E-DIMS: D..." (or
# "# GRADCHECK: dims D...") gives, the first ndims of them. GRADCHECK_SHIFT=1 in
# the environment shifts the weights of every model (as the "shift" directive).
set -eu
out=$1 f=$2 loss=${3:-}
here=$(cd "$(dirname "$0")" && pwd)
b=$(basename "$f" .kdl)
d=$out/$b
rm -rf "$d" && mkdir -p "$d"
cp "$f" "$d/$b.kdl"
vars=$("$KDLC" emit "$f" --stats -o "$d/probe" 2>/dev/null |
       sed -n 's/^model \([A-Za-z0-9_]*\) (.*: [0-9]* ops,.*/\1/p')
if [ -n "$loss" ]; then
    for v in $vars; do
        echo "$v.compile(optimizer=\"sgd\", loss=\"$loss\")" >> "$d/$b.kdl"
    done
fi
"$KDLC" emit "$d/$b.kdl" -o "$d" > /dev/null
status=0
targets=targets
grep -q '^# GRADCHECK: labels' "$f" && targets=labels
shift=${GRADCHECK_SHIFT:-}
grep -q '^# GRADCHECK: shift' "$f" && shift=1
dims=$(sed -n 's/^# \(E2E-DIMS:\|GRADCHECK: dims\) *//p' "$f" | head -1)
scale=$(sed -n 's/^# GRADCHECK: scale \([0-9.]*\)$/\1/p' "$f" | head -1)
stochastic=
grep -q '^# GRADCHECK: stochastic' "$f" && stochastic=1
for v in $vars; do
    grep -q "${b}_${v}_compute_gradients" "$d/$b.h" || continue
    dyn=
    grep -q "${b}_${v}_plan_training" "$d/$b.h" && dyn=-DDYN
    $RTCC -std=c11 -O1 -I"$ROOT/include" -I"$d" -DMODEL="${b}_$v" -DHEADER="\"$b.h\"" $dyn \
        "$here/gradcheck.c" "$d/$b.c" $RTLINK -o "$d/gc_$v"
    printf '%s/%s: ' "$b" "$v"
    GRADCHECK_SHIFT=$shift GRADCHECK_SCALE=$scale GRADCHECK_STOCHASTIC=$stochastic \
        GRADCHECK_DIMS="$dims" \
        "$d/gc_$v" "$targets" || status=1
done
exit $status
