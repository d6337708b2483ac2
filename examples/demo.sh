#!/bin/sh
# examples/demo.sh KDLC [BUILD_DIR] - the README's first command (`make demo`):
#   1. check every example (each compiles and its shapes check),
#   2. compile examples/digits_cnn.kdl (a CNN with BatchNormalization and
#      Dropout) to C and build its program,
#   3. train it on the UCI digits in examples/data (the epochs, batch size and
#      validation split come from the .kdl fit() call) with Keras's progress bar,
#   4. evaluate it on the held-out test digits and require >= 97% accuracy.
set -u
KDLC=$(cd "$(dirname "${1:-build/kdlc}")" && pwd)/$(basename "${1:-build/kdlc}")
OUT=${2:-build/demo}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
cd "$(dirname "$0")"

echo "== kdlc check examples/*.kdl"
status=0
for f in *.kdl; do
    if "$KDLC" check "$f" > /dev/null; then
        echo "   ok  examples/$f"
    else
        status=1
    fi
done
[ $status = 0 ] || exit 1

echo
echo "== kdlc build examples/digits_cnn.kdl -o $OUT"
"$KDLC" build digits_cnn.kdl -o "$OUT" || exit 1
"$OUT/digits_cnn" summary || exit 1

echo
echo "== $OUT/digits_cnn fit --data examples/data/digits_train.csv (1,437 UCI digits)"
start=$(date +%s)
"$OUT/digits_cnn" fit --data data/digits_train.csv --seed 1 -o "$OUT/digits_cnn.safetensors" \
    > /dev/null || exit 1
end=$(date +%s)

echo
echo "== $OUT/digits_cnn evaluate --data examples/data/digits_test.csv (360 held-out digits)"
result=$("$OUT/digits_cnn" evaluate --weights "$OUT/digits_cnn.safetensors" \
    --data data/digits_test.csv --verbose 0) || exit 1
echo "$result"
acc=$(echo "$result" | sed -n 's/.*accuracy: \([0-9.]*\).*/\1/p')
echo "trained in $((end - start)) s; test accuracy $acc (the demo requires >= 0.97)"
awk -v a="$acc" 'BEGIN { exit !(a >= 0.97) }' || { echo "demo: accuracy below 0.97" >&2; exit 1; }
