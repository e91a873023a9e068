#!/usr/bin/env bash
# Train and evaluate every VAE-family config in experiments/vae/, writing
# wall times to runs/<name>/timing.txt. Reproduces experiments/results/vae.md.
#   bash experiments/vae/run_all.sh [config names...]
set -euo pipefail
cd "$(dirname "$0")/../.."
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(vae_latent2 vae_latent32 cvae_latent2 autoencoder_latent2)
for name in "${names[@]}"; do
  workdir="runs/$name"
  start=$(date +%s)
  jaxgen train --config "experiments/vae/$name.py" --workdir "$workdir" --no-progress
  trained=$(date +%s)
  metrics=elbo,iwae,pictures
  [[ $name == autoencoder* ]] && metrics=recon,pictures
  jaxgen eval --workdir "$workdir" --metrics "$metrics"
  done_at=$(date +%s)
  printf 'train_seconds %d\neval_seconds %d\nmachine %s, %s cores\nload_after %s\n' \
    $((trained - start)) $((done_at - trained)) \
    "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" "$(nproc)" \
    "$(cut -d' ' -f1-3 /proc/loadavg)" > "$workdir/timing.txt"
  cat "$workdir/timing.txt"
done
