#!/usr/bin/env bash
# Evaluations and samples of experiments/results/text.md, for trained runs
# runs/text_ngram, runs/text_ngram_char, runs/text_gpt, runs/text_lstm (train
# commands in each config's docstring). Writes experiments/results/text/*.
# Usage: bash experiments/text/results.sh [RUNS_DIR]   (niced; one run at a time)
set -euo pipefail
RUNS=${1:-runs}
OUT=experiments/results/text
mkdir -p "$OUT"
J="nice -n 19 python3 -m jaxgen.cli"
timed() { local name=$1; shift; /usr/bin/time -f "$name: %e s wall" -a -o "$OUT/wall_times.txt" "$@"; }

for run in text_ngram text_ngram_char text_gpt text_lstm; do
  [ -d "$RUNS/$run" ] || continue
  timed "$run eval nll" $J eval --workdir "$RUNS/$run" --metrics nll,vocabulary --num 100000 \
    > "$OUT/${run}_nll.txt"
  [ -f "$RUNS/$run/metrics.png" ] && cp "$RUNS/$run/metrics.png" "$OUT/${run}_curve.png"
done

# Samples with and without the repetition penalty: 200 samples of up to 128
# words at temperature 0.7, seed 0 (the eval key).
for run in text_gpt text_lstm text_ngram; do
  [ -d "$RUNS/$run" ] || continue
  for penalty in 1.0 1.2; do
    timed "$run text_samples penalty $penalty" $J eval --workdir "$RUNS/$run" \
      --metrics text_samples --num 200 --config.sample_len=128 --config.temperature=0.7 \
      --config.repetition_penalty=$penalty > "$OUT/${run}_samples_penalty_${penalty}.txt"
    $J sample --workdir "$RUNS/$run" --num 5 --seed 0 --config.sample_len=128 \
      --config.temperature=0.7 --config.repetition_penalty=$penalty \
      --out "$OUT/${run}_penalty_${penalty}.txt" > /dev/null
  done
  $J sample --workdir "$RUNS/$run" --num 5 --seed 0 --config.prompt="The meaning of life is" \
    --config.temperature=0.8 --out "$OUT/${run}_prompt.txt" > /dev/null
done

# Sampling speed at 256 tokens, batch 8: cached against uncached.
for run in text_gpt text_lstm; do
  [ -d "$RUNS/$run" ] || continue
  timed "$run sample_speed" $J eval --workdir "$RUNS/$run" --metrics sample_speed --num 8 \
    > "$OUT/${run}_speed.txt"
done
