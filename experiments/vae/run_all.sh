#!/usr/bin/env bash
# Train and evaluate the VAE-family configs of experiments/vae/, appending
# "NAME train_seconds S load ..." and "NAME eval_seconds S load ..." lines to
# runs/train_times.txt; then build the table of experiments/results/vae.md:
#   bash experiments/vae/run_all.sh [config names...]
#   python experiments/vae/results_table.py runs/vae_latent2 runs/vae_latent32 ...
set -euo pipefail
cd "$(dirname "$0")/../.."
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(vae_latent2 vae_latent32 cvae_latent2 autoencoder_latent2)
mkdir -p runs
log_time() {  # NAME WHAT START
  echo "$1 $2 $(( $(date +%s) - $3 )) load $(cut -d' ' -f1-3 /proc/loadavg)" >> runs/train_times.txt
}
for name in "${names[@]}"; do
  start=$(date +%s)
  jaxgen train --config "experiments/vae/$name.py" --workdir "runs/$name" --no-progress
  log_time "$name" train_seconds "$start"
  # nll (the IWAE bound) exists for the discretized-logistic VAE only (vae_latent32):
  # the Bernoulli cross-entropy on grey levels is no likelihood of the images.
  metrics=elbo,pictures,fid,kid,is,pr
  [[ $name == vae_latent32 ]] && metrics=elbo,nll,pictures,fid,kid,is,pr
  [[ $name == autoencoder* ]] && metrics=recon,pictures,fid,kid,is,pr
  start=$(date +%s)
  jaxgen eval --workdir "runs/$name" --metrics "$metrics"
  log_time "$name" eval_seconds "$start"
done
