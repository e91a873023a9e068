#!/usr/bin/env bash
# VAE-GAN against a VAE of the same widths at equal wall time: both trained at
# once (same machine load), each stopped by SIGTERM after SECONDS_EACH seconds
# (the engine finishes the step, saves and exits), then evaluated on 2000
# samples and drawn in one picture. Appends wall times and load to
# runs/vaegan_times.txt (exit=124 there is timeout's code for "stopped at the
# limit"; the train log says the engine saved). VAEGAN_ARGS: extra overrides
# of the VAE-GAN run, e.g. VAEGAN_ARGS=--config.gamma=0.01 (the first run).
set -u
SECONDS_EACH=${SECONDS_EACH:-900}
JG="nice -n 19 python3 -m jaxgen.cli"
mkdir -p runs
train() {  # name config [overrides...]
  local start=$(date +%s)
  timeout -s TERM "$SECONDS_EACH" $JG train --config "$2" --workdir "runs/$1" --no-progress "${@:3}" \
    > "runs/$1.train.log" 2>&1
  echo "$1 train exit=$? wall_s=$(( $(date +%s) - start )) end=$(date -u +%H:%M:%S) load=$(cut -d' ' -f1-3 /proc/loadavg)" >> runs/vaegan_times.txt
}
train vaegan experiments/vae/vaegan.py ${VAEGAN_ARGS:-} &
train vaegan_vae experiments/vae/vaegan_matching_vae.py &
wait
for run in vaegan vaegan_vae; do
  start=$(date +%s)
  $JG eval --workdir "runs/$run" --metrics fid,pr,classes,pictures --num 2000 > "runs/$run.eval.log" 2>&1
  echo "$run eval exit=$? wall_s=$(( $(date +%s) - start )) load=$(cut -d' ' -f1-3 /proc/loadavg)" >> runs/vaegan_times.txt
done
mkdir -p experiments/results/vae/vaegan
nice -n 19 python3 experiments/vae/vaegan_figure.py runs/vaegan_vae runs/vaegan \
  experiments/results/vae/vaegan/reconstructions_vs_vae.png
