#!/usr/bin/env bash
# Second call on a lent GPU: continue one run of benchmarks/gpu_train.sh from its exported weights with a new,
# shorter poly schedule (half the learning rate), alone on the GPU with all CPU cores loading data, then
# export it and run `pytest -m gpu` (-s: the tests print their measured differences).
#   NAME=lite2 CONFIG=configs/camvid_lite2_gald_gpu.yaml INIT=.gpu/init/lite2 bash benchmarks/gpu_continue.sh
set -uo pipefail
PY=${PY:-python3}
NAME=${NAME:-lite2}
CONFIG=${CONFIG:-configs/camvid_lite2_gald_gpu.yaml}
INIT=${INIT:-.gpu/init/$NAME}
BUDGET=${BUDGET:-220}
DATA=${DATA:-.gpu/camvid}
OUT=${OUT:-/tmp/gpu_out}
RUNS=${RUNS:-/tmp/gpu_runs}
EXTRA=${EXTRA:-}
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=2
mkdir -p "$OUT" "$RUNS"
run="$RUNS/${NAME}_continued"
# shellcheck disable=SC2086
$PY -m gald.train --config "$CONFIG" --out "$run" --no-progress --set "name=$(basename "$CONFIG" .yaml)_continued" \
  --set "data.train=camvid:$DATA" --set data.val=null --set "init_checkpoint=$INIT" --set pretrained_backbone=null \
  --set "optim.time_budget_s=$BUDGET" --set optim.lr=0.01 --set optim.warmup_iters=50 --set data.workers=12 \
  $EXTRA > "$RUNS/console.txt" 2>&1
echo "train: exit $?"; tail -n 3 "$RUNS/console.txt"
$PY -m gald.export "$run/last" "$OUT/${NAME}_continued" --fp16 --log "$run/log.jsonl"
cp "$run/log.jsonl" "$OUT/${NAME}_continued.log.jsonl"; cp "$RUNS/console.txt" "$OUT/${NAME}_continued.console.txt"
timeout "${PYTEST_TIMEOUT:-45}" $PY -m pytest -m gpu tests/gpu -q -s -p no:cacheprovider > "$OUT/pytest_gpu.txt" 2>&1
echo "pytest -m gpu: exit $?"; grep -E "relative|passed|failed" "$OUT/pytest_gpu.txt" | tail -n 5
ls -la "$OUT"
