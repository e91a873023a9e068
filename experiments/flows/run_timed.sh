#!/usr/bin/env bash
# Train a flow config for at most TRAIN_SECONDS of wall time (default 1080)
# at the lowest priority, then evaluate it. SIGINT at the deadline makes
# `jaxgen train` save a checkpoint of the last completed step; the same
# command resumes the run. Appends "NAME train_seconds S step N load ..." and
# "NAME eval_seconds S load ..." to runs/flows/train_times.txt.
#   TRAIN_SECONDS=1080 bash experiments/flows/run_timed.sh realnvp_fmnist glow_fmnist
set -uo pipefail
cd "$(dirname "$0")/../.."
mkdir -p runs/flows
budget=${TRAIN_SECONDS:-1080}
for name in "$@"; do
  workdir="runs/flows/$name"
  start=$(date +%s)
  timeout -s INT "$budget" nice -n 19 jaxgen train --config "experiments/flows/$name.py" \
    --workdir "$workdir" --no-progress
  status=$?
  if [ "$status" -ne 0 ] && [ "$status" -ne 124 ] && [ "$status" -ne 130 ]; then
    echo "training $name failed ($status)" >&2; exit "$status"
  fi
  step=$(ls "$workdir/checkpoints" | grep -E '^[0-9]+$' | sort -n | tail -1)
  echo "$name train_seconds $(( $(date +%s) - start )) step $step load $(cut -d' ' -f1-3 /proc/loadavg)" \
    >> runs/flows/train_times.txt
  start=$(date +%s)
  nice -n 19 jaxgen eval --workdir "$workdir" --metrics nll,sample_time,pictures,fid,kid --num 10000 \
    || exit $?
  echo "$name eval_seconds $(( $(date +%s) - start )) load $(cut -d' ' -f1-3 /proc/loadavg)" \
    >> runs/flows/train_times.txt
done
