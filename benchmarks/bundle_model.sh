#!/usr/bin/env bash
# Turn a finished training run into the bundled checkpoint and every JSON the model card reads.
#   bash benchmarks/bundle_model.sh RUN_DIR NAME [OUTPUT_STRIDE]
#   bash benchmarks/bundle_model.sh /work/runs/camvid_lite0_gald_cpu galdnet_lite0_camvid 8
# Exports RUN_DIR/best (selected on val by the trainer) with fp16 storage and the run's learning curve,
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
.venv/bin/python -m gald.export "$RUN/best" "$CK" --fp16 --log "$RUN/log.jsonl" "${os_args[@]}"
.venv/bin/python -m gald.evaluate --checkpoint "$CK" --data "$DATA" --split val --json "$CK.eval.json" --no-progress
.venv/bin/python -m benchmarks.mask_vs_segment --checkpoint "$CK" --data "$DATA" --json "$CK.mask.json"
.venv/bin/python -m benchmarks.ga_reach --checkpoint "$CK" --data "$DATA" --json "$CK.ga_reach.json"
.venv/bin/python -m benchmarks.model_card --checkpoint "$CK"
