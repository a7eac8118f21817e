#!/usr/bin/env bash
# After the one lent-GPU call (benchmarks/gpu_run.sh), on the CPU: Table 1 end to end into the docs' layout, and
# the returned main model evaluated on the val PNGs, its input scale measured and its class biases fitted on
# TRAIN (as for the bundled model), and bundled only under the rule written in docs/gpu.md before any result.
#   RET=/work/.device/<files_at> bash benchmarks/gpu_afterwards.sh
# RET: the folder the call's files came back in (summary.json, logs.tar.gz, <main>.safetensors[.part-*], <main>.json).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
RET=${RET:?the folder the device call\'s files came back in}
PY=${PY:-.venv/bin/python}
DATA=${DATA:-camvid:../shared/data/camvid}
WORK=${WORK:-/work/runs/gpu_after}
SCALES=${SCALES:-0.75,1.0,1.25,1.5}     # relative to the candidate's own input scale, measured on train
RULE_MIOU=${RULE_MIOU:-0.712}            # docs/gpu.md: the bundled 70.7 + 0.5 (seed spread), GALD head, val PNGs
NAME=galdnet_lite2_camvid
mkdir -p "$WORK"

# 1. Table 1, end to end: the returned runs into checkpoints/ablations/gpu_e2e, and the table (mean ± sd, paired
#    deltas with 95 % intervals, Holm-corrected p-values)
$PY -m gald.ablation.gpu_protocol --summary "$RET/summary.json" --dest checkpoints/ablations/gpu_e2e --json "$WORK/table1.json" \
  | tee "$WORK/table1.md"

# 2. the candidate: of the main runs, the one with the higher GALD mIoU on the device's val copies (one pick on val)
CAND=$($PY -c "
import json, sys
runs = json.load(open(sys.argv[1]))['results'].get('main', {})
done = {k: v for k, v in runs.items() if v.get('status') == 'done'}
print(max(done, key=lambda k: done[k]['miou']) if done else '')" "$RET/summary.json")
[ -n "$CAND" ] || { echo "no finished main run came back"; exit 1; }
if compgen -G "$RET/$CAND.safetensors.part-*" > /dev/null; then
  cat "$RET/$CAND.safetensors.part-"* > "$WORK/$CAND.safetensors"
else
  cp "$RET/$CAND.safetensors" "$WORK/"
fi
cp "$RET/$CAND.json" "$WORK/"
echo "candidate: $CAND"

# 3. raw: the original val PNGs, full resolution, at the scale it trained for
$PY -m gald.evaluate --checkpoint "$WORK/$CAND" --data "$DATA" --split val --json "$WORK/$CAND.eval.json" --no-progress

# 4. input scale chosen on TRAIN (highest GALD train mIoU), then biases fitted on TRAIN, then val: bundle_model.sh
$PY -m gald.reports.inference_scale --checkpoint "$WORK/$CAND" --data "$DATA" --scales "$SCALES" \
  --cache-dir "$WORK/inference_scale" --json "$WORK/$CAND.inference_scale.json"
SCALE=$($PY -c "
import json, sys
d = json.load(open(sys.argv[1]))
best = max(d['rows'], key=lambda r: r['miou']['gald'])
print(round(best['scale'] * d['inference_scale_of_checkpoint'], 3))" "$WORK/$CAND.inference_scale.json")
echo "input scale chosen on train: $SCALE"
LOG=/dev/null PARENT=checkpoints/$NAME SCALE=$SCALE CALIBRATE=1 DATA=$DATA \
  bash benchmarks/bundle_model.sh "$WORK/$CAND" "${NAME}_candidate"

# 5. the rule (docs/gpu.md): replace the bundled model only if the candidate's val mIoU reaches RULE_MIOU
VERDICT=$($PY -c "
import json, sys
m = json.load(open(sys.argv[1]))['heads']['gald']['miou']
print(f'{m:.4f}', 'bundle' if m >= float(sys.argv[2]) else 'keep')" "checkpoints/${NAME}_candidate.eval.json" "$RULE_MIOU")
echo "candidate GALD val mIoU, verdict: $VERDICT (rule: >= $RULE_MIOU)"
if [ "${VERDICT##* }" = bundle ]; then
  for f in checkpoints/"${NAME}"_candidate.*; do mv "$f" "${f/_candidate/}"; done
  cp "$WORK/$CAND.inference_scale.json" "checkpoints/$NAME.inference_scale.json"
  $PY -m gald.reports.model_card --checkpoint "checkpoints/$NAME" --write   # docs/model_cards/$NAME.md
  echo "bundled: checkpoints/$NAME replaced (commit it with the candidate's numbers)"
else
  mkdir -p "$WORK/candidate" && mv checkpoints/"${NAME}"_candidate.* "$WORK/candidate/"
  echo "kept the bundled model; the candidate and its JSONs are in $WORK/candidate (report them in the docs)"
fi
