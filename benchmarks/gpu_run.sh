#!/usr/bin/env bash
# The one call on a lent GPU (docs/gpu.md): environment + throughput check, Table 1 end to end (rows x seeds,
# all runs at once, the same steps for every run, each evaluated on the device), the main model (continued from
# the bundled Lite2 weights at the zoom it runs at), `pytest -m gpu`, then the results packed into <= 8 files
# under $OUT. The plan (benchmarks/gpu_plan.py) prints every stage's budget first; each stage is stopped at it.
#   bash benchmarks/gpu_run.sh      # on the device machine, from the repository root, with .gpu carried
# Inputs: `python -m benchmarks.prepare_gpu_inputs` here writes .gpu/ (train and val images as WebP, labels,
# the ImageNet Lite2 trunk as fp16) and checks that the tree plus .gpu fit the 64 MiB a call carries.
# Every setting below is an environment variable; the CPU rehearsal (tests/training/test_gpu_rehearsal.py) runs
# this same script with tiny ones.
set -uo pipefail
PY=${PY:-python3}
CALL_S=${CALL_S:-540}                     # the whole command's time; the device tool allows 600
IN=${IN:-.gpu}
DATA=${DATA:-$IN/camvid}                  # train/ trainannot/ val/ valannot/
WEIGHTS=${WEIGHTS:-$IN/weights}
OUT=${OUT:-/tmp/gpu_out}
RUNS=${RUNS:-/tmp/gpu_call}
T1_CONFIG=${T1_CONFIG:-configs/camvid_lite2_gald_gpu.yaml}   # the bundled model's recipe
ROWS=${ROWS:-fcn ga ld gald}              # Table 1 rows (gald.head_protocol.ROWS names)
SEEDS=${SEEDS:-0 1 2}
MAIN=${MAIN:-lite2_zoom15}                # main run(s): benchmarks.gpu_runs.MAIN_RUNS names; empty: none
MAIN_CONFIG=${MAIN_CONFIG:-configs/camvid_lite2_gald_gpu.yaml}
MAIN_INIT=${MAIN_INIT:-checkpoints/galdnet_lite2_camvid}
CHECK_S=${CHECK_S:-30}
CHECK_ARGS=${CHECK_ARGS:---models lite2 --batches 16 64 --warmup 3 --steps 8}
PYTEST_S=${PYTEST_S:-45}
PACK_S=${PACK_S:-20}
PLAN_ARGS=${PLAN_ARGS:-}                  # e.g. --table1-share 0.7
EVAL_LIMIT=${EVAL_LIMIT:-}                # evaluate only the first N val images (rehearsal)
EXTRA=${EXTRA:-}                          # --set overrides for every run (rehearsal: tiny model and crops)
export PYTHONUNBUFFERED=1
mkdir -p "$OUT" "$RUNS/results"
start=$(date +%s)
stage() { echo "$(date +%s.%N) $1 $2 ${3:-}" >> "$RUNS/stages.log"; }
elapsed() { echo $(( $(date +%s) - start )); }

# --- environment; GPU utilisation sampled every 0.5 s for the whole call (util.csv: epoch, %, MiB) ---------
stage start env
{ command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
  $PY -c "import sys, torch, PIL; print(sys.version.split()[0], 'torch', torch.__version__, 'PIL', PIL.__version__,
torch.cuda.get_device_name() if torch.cuda.is_available() else 'no cuda')"; echo "cpus $(nproc)"
  du -sh "$IN" 2>/dev/null; } > "$RUNS/env.txt" 2>&1
cat "$RUNS/env.txt"
sampler=""
if command -v nvidia-smi > /dev/null; then
  while :; do echo "$(date +%s.%N),$(nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader,nounits \
    | head -n 1 | tr -d ' ')"; sleep 0.5; done > "$RUNS/util.csv" 2>/dev/null &
  sampler=$!
fi
stage end env

# --- throughput check (<= CHECK_S): Lite2 GALD steps with the data on the device ----------------------------
stage start check
# shellcheck disable=SC2086
timeout -k 5 "$CHECK_S" $PY -m benchmarks.gpu_throughput $CHECK_ARGS --pipelines device --data "camvid:$DATA" \
  --time-limit-s $(( CHECK_S * 2 / 3 )) --json "$RUNS/throughput.json" > "$RUNS/throughput.txt" 2>&1
stage end check $?
cat "$RUNS/throughput.txt" | tail -n 6

# --- the plan: every stage's budget, Table 1's steps, the main model's training budget ------------------------
read -ra rows <<< "$ROWS"; read -ra seeds <<< "$SEEDS"; read -ra mains <<< "$MAIN"
# shellcheck disable=SC2086
$PY -m benchmarks.gpu_plan --call-s "$CALL_S" --elapsed-s "$(elapsed)" --throughput "$RUNS/throughput.json" \
  --rows "${rows[@]}" --seeds "${seeds[@]}" --mains "${mains[@]}" --data "$DATA" --pytest-s "$PYTEST_S" \
  --pack-s "$PACK_S" $PLAN_ARGS --json "$RUNS/plan.json" --env "$RUNS/plan.env" || exit 2
# shellcheck disable=SC1091
source "$RUNS/plan.env"
common=(--val "camvid:$DATA" --set "data.train=camvid:$DATA" --set data.val=null --set data.on_device=true
        --set train.save_every=1000000 --set train.eval_every=0)
[ -n "$EVAL_LIMIT" ] && common+=(--eval-limit "$EVAL_LIMIT")
extra=(); for o in $EXTRA; do extra+=(--set "$o"); done

# --- Table 1, end to end: every row x seed at once, the same steps each, evaluated on the device --------------
if [ "${#rows[@]}" -gt 0 ] && [ "$T1_S" -gt 0 ]; then
  stage start table1
  trunk=(); [ -f "$WEIGHTS/efficientnet_lite2.safetensors" ] && \
    trunk=(--set "pretrained_backbone=$WEIGHTS/efficientnet_lite2.safetensors")
  timeout -k 20 "$T1_S" $PY -m benchmarks.gpu_runs --rows "${rows[@]}" --seeds "${seeds[@]}" \
    --config "$T1_CONFIG" --runs "$RUNS/table1" --out "$RUNS/results/table1" --deadline-s "$T1_DEADLINE_S" \
    --parallel "$T1_PARALLEL" "${common[@]}" --set "optim.iters=$T1_ITERS" --set optim.time_budget_s=null \
    "${trunk[@]}" "${extra[@]}" > "$RUNS/table1.txt" 2>&1
  stage end table1 $?
  cat "$RUNS/table1.txt"; grep -h "val mIoU" "$RUNS"/table1/*.console 2>/dev/null
fi

# --- the main model: continued from the bundled weights for the rest of the time ------------------------------
if [ "${#mains[@]}" -gt 0 ] && [ "$MAIN_S" -gt 0 ]; then
  stage start main
  timeout -k 20 "$MAIN_S" $PY -m benchmarks.gpu_runs --main "${mains[@]}" --config "$MAIN_CONFIG" \
    --init "$MAIN_INIT" --runs "$RUNS/main" --out "$RUNS/results/main" --export "$RUNS/export" \
    --deadline-s "$MAIN_DEADLINE_S" "${common[@]}" --set "optim.time_budget_s=$MAIN_BUDGET_S" \
    "${extra[@]}" > "$RUNS/main.txt" 2>&1
  stage end main $?
  cat "$RUNS/main.txt"; grep -h "val mIoU" "$RUNS"/main/*.console 2>/dev/null
fi

# --- pytest -m gpu (the GPU code paths against the CPU) --------------------------------------------------------
stage start pytest
timeout -k 5 "$PYTEST_S" $PY -m pytest -m gpu tests/gpu -q -s -p no:cacheprovider > "$RUNS/pytest_gpu.txt" 2>&1
stage end pytest $?
tail -n 3 "$RUNS/pytest_gpu.txt"

# --- pack: summary.json, logs.tar.gz, the main runs' weights --------------------------------------------------
[ -n "$sampler" ] && kill "$sampler" 2>/dev/null
stage start pack
timeout -k 5 "$PACK_S" $PY -m benchmarks.gpu_pack --runs "$RUNS" --out "$OUT" \
  --results "$RUNS/results/table1" "$RUNS/results/main" --export "$RUNS/export"
rc=$?
echo "call: $(elapsed) s of $CALL_S planned; pack exit $rc"
exit $rc
