#!/usr/bin/env bash
# Train and evaluate the MLP and CNN classifiers, re-create the shipped
# extractor weights from the CNN run, build the test-split reference
# statistics, and print the FID-FMNIST sanity table. Reproduces
# experiments/results/classifier.md.
#   nice -n 19 bash experiments/classifier/run_all.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
for model in mlp cnn; do
  workdir="runs/classifier_$model"
  start=$(date +%s)
  jaxgen train --config "experiments/classifier/$model.py" --workdir "$workdir" --no-progress
  trained=$(date +%s)
  jaxgen eval --workdir "$workdir" --metrics accuracy
  printf 'train_seconds %d\nmachine %s, %s cores\nload_after %s\n' $((trained - start)) \
    "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" "$(nproc)" \
    "$(cut -d' ' -f1-3 /proc/loadavg)" > "$workdir/timing.txt"
  cat "$workdir/timing.txt"
done
# The CNN run is exactly the extractor's recipe (seed 0), so this only exports it.
python -m jaxgen.build_extractor --workdir runs/classifier_cnn --no-progress
python -m jaxgen.metrics.reference --split test
vae_runs=()
[ -d runs/vae_latent2 ] && vae_runs=(--run runs/vae_latent2)
python experiments/classifier/sanity_table.py "${vae_runs[@]}"
