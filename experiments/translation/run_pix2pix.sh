#!/usr/bin/env bash
# Pix2Pix ablation on edges2fashion, one run at a time (ROWS picks which):
#   ROWS="l1_cgan l1" SEED=0 nice -n 19 bash experiments/translation/run_pix2pix.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
ROWS=${ROWS:-"l1_cgan l1 cgan l1_cgan_16"}
SEED=${SEED:-0}
CONFIG=experiments/translation/pix2pix_edges.py
declare -A OVERRIDES=([l1_cgan]="" [l1]="--config.gan_weight=0" [cgan]="--config.l1_weight=0"
                      [l1_cgan_16]="--config.d_layers=1")
for row in $ROWS; do
  workdir="runs/pix2pix/${row}_seed${SEED}"
  [ -f "$workdir/eval.json" ] && continue
  start=$(date +%s)
  # shellcheck disable=SC2086
  python -m jaxgen.cli train --config "$CONFIG" --workdir "$workdir" --no-progress \
    --config.seed="$SEED" ${OVERRIDES[$row]}
  trained=$(date +%s)
  python -m jaxgen.cli eval --workdir "$workdir" --metrics translation,pictures --num 10000
  printf '{"train_seconds": %d, "load_after": "%s"}\n' $((trained - start)) \
    "$(cut -d' ' -f1-3 /proc/loadavg)" > "$workdir/timing.json"
done
