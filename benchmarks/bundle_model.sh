#!/usr/bin/env bash
# Turn a finished training run into the bundled checkpoint and every JSON the model card reads.
#   bash benchmarks/bundle_model.sh RUN_DIR NAME [OUTPUT_STRIDE]
#   bash benchmarks/bundle_model.sh /work/runs/camvid_lite0_gald_cpu galdnet_lite0_camvid 8
#   LOG=run.log.jsonl PARENT=phase1_ckpt bash benchmarks/bundle_model.sh EXPORTED_CKPT NAME   # a continued run
#   SCALE=1.5 CALIBRATE=1 bash benchmarks/bundle_model.sh EXPORTED_CKPT NAME   # run at input scale 1.5 and
#       calibrate the class biases on the train split (gald.calibrate) before evaluating
# Exports RUN_DIR/best (selected on val by the trainer; else RUN_DIR/last, else RUN_DIR itself as a checkpoint) with fp16 storage and the run's learning curve,
# optionally rebuilt at another output stride (same weights), then evaluates it on CamVid val at the labels'
# full resolution and measures the LD mask statistics and what the GA aggregates. Prints the model card.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
RUN=${1:?run directory}
NAME=${2:?checkpoint name}
OS=${3:-}
DATA=${DATA:-camvid:../shared/data/camvid}
CK=checkpoints/$NAME
os_args=()
[ -n "$OS" ] && os_args=(--output-stride "$OS")
# the source: RUN/best (selected on val), else RUN/last (a run without validation), else RUN as a checkpoint
SRC=$RUN/best
[ -f "$SRC.json" ] || SRC=$RUN/last
[ -f "$SRC.json" ] || SRC=$RUN
LOG=${LOG:-$RUN/log.jsonl}
log_args=()
[ -f "$LOG" ] && log_args=(--log "$LOG")
parent_args=()
[ -n "${PARENT:-}" ] && parent_args=(--parent "$PARENT")
scale_args=()
[ -n "${SCALE:-}" ] && scale_args=(--inference-scale "$SCALE")
# with CALIBRATE the export is an intermediate that gald.calibrate turns into the bundled checkpoint
EXPORTED=$CK
if [ -n "${CALIBRATE:-}" ]; then
  TMP=$(mktemp -d)
  trap 'rm -rf "$TMP"' EXIT
  EXPORTED=$TMP/$NAME
fi
.venv/bin/python -m gald.export "$SRC" "$EXPORTED" --fp16 "${log_args[@]}" "${parent_args[@]}" "${os_args[@]}" "${scale_args[@]}"
if [ -n "${CALIBRATE:-}" ]; then
  .venv/bin/python -m gald.calibrate --checkpoint "$EXPORTED" --data "$DATA" --split train --out "$CK" --no-progress
fi
.venv/bin/python -m gald.evaluate --checkpoint "$CK" --data "$DATA" --split val --json "$CK.eval.json" --no-progress
.venv/bin/python -m gald.reports.mask_vs_segment --checkpoint "$CK" --data "$DATA" --json "$CK.mask.json"
.venv/bin/python -m gald.reports.ga_reach --checkpoint "$CK" --data "$DATA" --json "$CK.ga_reach.json"
.venv/bin/python -m gald.reports.model_card --checkpoint "$CK"
