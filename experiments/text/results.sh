#!/usr/bin/env bash
# Evaluations and samples of experiments/results/text.md, for trained runs
# runs/text_ngram, runs/text_ngram_char, runs/text_gpt, runs/text_lstm,
# runs/text_lstm2, runs/text_lstm3 (train commands in each config's docstring: ngram.py,
# ngram_char.py, transformer.py, lstm.py, lstm_fast.py, lstm_long.py). Writes
# experiments/results/text/*; each eval also rewrites the run's eval.json.
# Usage: bash experiments/text/results.sh [RUNS_DIR]   (niced; one run at a time)
set -euo pipefail
RUNS=${1:-runs}
OUT=experiments/results/text
mkdir -p "$OUT"
J="nice -n 19 python3 -m jaxgen.cli"
timed() { local name=$1; shift; /usr/bin/time -f "$name: %e s wall" -a -o "$OUT/wall_times.txt" "$@"; }

for run in text_ngram text_ngram_char text_gpt text_lstm text_lstm2 text_lstm3; do
  [ -d "$RUNS/$run" ] || continue
  timed "$run eval nll" $J eval --workdir "$RUNS/$run" --metrics nll,vocabulary --num 100000 \
    > "$OUT/${run}_nll.txt"
  [ -f "$RUNS/$run/metrics.png" ] && cp "$RUNS/$run/metrics.png" "$OUT/${run}_curve.png"  # none for the n-grams: one step
done

# Samples without and with the repetition heuristic (CTRL penalty 1.2, or
# blocking every repeated 4-gram): 200 samples of up to 128 tokens at
# temperature 0.7 (the table), 5 of them written out as text, seed 0.
for run in text_gpt text_lstm2 text_ngram; do
  [ -d "$RUNS/$run" ] || continue
  for option in repetition_penalty=1.0 repetition_penalty=1.2 no_repeat_ngram=4; do
    name=${option/repetition_penalty=/penalty_}; name=${name/no_repeat_ngram=4/no_repeat_4gram}
    timed "$run text_samples $option" $J eval --workdir "$RUNS/$run" \
      --metrics text_samples --num 200 --config.sample_len=128 --config.temperature=0.7 \
      --config.$option > "$OUT/${run}_stats_${name}.txt"
    $J sample --workdir "$RUNS/$run" --num 5 --seed 0 --config.sample_len=128 \
      --config.temperature=0.7 --config.$option --out "$OUT/${run}_samples_${name}.txt" > /dev/null
  done
  $J sample --workdir "$RUNS/$run" --num 5 --seed 0 --config.prompt="The meaning of life is" \
    --config.temperature=0.8 --out "$OUT/${run}_prompt.txt" > /dev/null
done

# Sampling speed at 256 tokens, batch 8: cached against uncached.
for run in text_gpt text_lstm2; do
  [ -d "$RUNS/$run" ] || continue
  timed "$run sample_speed" $J eval --workdir "$RUNS/$run" --metrics sample_speed --num 8 \
    > "$OUT/${run}_speed.txt"
done
