#!/usr/bin/env bash
# Train and evaluate flow configs of experiments/flows/ one after another, at
# the lowest priority, appending "NAME train_seconds S load ..." and
# "NAME eval_seconds S load ..." lines to runs/flows/train_times.txt:
#   bash experiments/flows/run_all.sh realnvp_moons realnvp_checkerboard ...
# 2-D runs are evaluated with nll,pictures; image runs with
# nll,sample_time,pictures,fid,kid (test NLL on all 10,000 test images).
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p runs/flows
log_time() {  # NAME WHAT START
  echo "$1 $2 $(( $(date +%s) - $3 )) load $(cut -d' ' -f1-3 /proc/loadavg)" >> runs/flows/train_times.txt
}
for name in "$@"; do
  start=$(date +%s)
  nice -n 19 jaxgen train --config "experiments/flows/$name.py" --workdir "runs/flows/$name" --no-progress
  log_time "$name" train_seconds "$start"
  metrics=nll,pictures
  [[ $name == *fmnist* ]] && metrics=nll,sample_time,pictures,fid,kid
  start=$(date +%s)
  nice -n 19 jaxgen eval --workdir "runs/flows/$name" --metrics "$metrics" --num 10000
  log_time "$name" eval_seconds "$start"
done
