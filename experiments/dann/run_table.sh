#!/usr/bin/env bash
# The three rows of experiments/results/domain_adaptation.md over SEEDS, one run
# at a time, then the table:
#   SEEDS="0 1 2" nice -n 19 bash experiments/dann/run_table.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
SEEDS=${SEEDS:-"0 1 2"}
CONFIG=experiments/dann/dann_fmnist.py
declare -A ROWS=(
  [source_only]="--config.adapt=false"
  [dann]=""
  [oracle]="--config.source=single --config.dataset=fashion_mnist_m --config.dataset_b="
)
for seed in $SEEDS; do
  for row in source_only dann oracle; do
    workdir="runs/dann/${row}_seed${seed}"
    [ -f "$workdir/eval.json" ] && continue
    start=$(date +%s)
    # shellcheck disable=SC2086
    python -m jaxgen.cli train --config "$CONFIG" --workdir "$workdir" --no-progress \
      --config.seed="$seed" ${ROWS[$row]}
    trained=$(date +%s)
    python -m jaxgen.cli eval --workdir "$workdir" --metrics accuracy,pictures --num 10000
    printf '{"train_seconds": %d, "load_after": "%s"}\n' $((trained - start)) \
      "$(cut -d' ' -f1-3 /proc/loadavg)" > "$workdir/timing.json"
  done
done
python experiments/dann/table.py runs/dann
