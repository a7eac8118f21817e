#!/usr/bin/env bash
# Train and evaluate CamVid ablation rows with one recipe (configs/camvid_ablation.yaml) and each row's model
# overrides from the registry (gald/ablation/rows.py), writing checkpoints/ablations/<row>.json.
#   bash benchmarks/run_ablations.sh fcn ga ld gald          # the core four rows (default)
#   bash benchmarks/run_ablations.sh ldga parallel psp_ld aspp_ld nl_ld ld_avgpool ld_bilinear
#   SEED=1 bash benchmarks/run_ablations.sh gald             # another seed: writes <row>_seed1.json
# Weights stay in runs/ablation_<row>/ (not committed); only the evaluation JSONs are.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DATA=${DATA:-camvid:../shared/data/camvid}
rows=("$@")
[ ${#rows[@]} -gt 0 ] || rows=(fcn ga ld gald)
mkdir -p checkpoints/ablations
SEED=${SEED:-0}
for row in "${rows[@]}"; do
    stem=$row; [ "$SEED" = 0 ] || stem="${row}_seed$SEED"
    echo "=== $(date +%H:%M:%S) ablation row: $stem ==="
    resume=()
    [ -d "runs/ablation_$stem" ] && ls "runs/ablation_$stem"/snapshot-* >/dev/null 2>&1 && resume=(--resume)
    mapfile -t overrides < <(.venv/bin/python -m gald.ablation.rows "$row")
    .venv/bin/python -m gald.train --config configs/camvid_ablation.yaml "${overrides[@]}" \
        --set "name=camvid_ablation_$stem" --set "train.seed=$SEED" --out "runs/ablation_$stem" \
        --no-progress "${resume[@]}"
    .venv/bin/python -m gald.evaluate --checkpoint "runs/ablation_$stem/last" --data "$DATA" --split val \
        --json "checkpoints/ablations/$stem.json"
done
.venv/bin/python -m gald.reports.ablation_table
