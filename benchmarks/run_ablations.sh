#!/usr/bin/env bash
# Train and evaluate CamVid ablation rows with the same recipe, writing checkpoints/ablations/<row>.json.
#   bash benchmarks/run_ablations.sh fcn ga ld gald          # the core four rows (default)
#   bash benchmarks/run_ablations.sh ldga parallel psp_ld aspp_ld nl_ld ld_avgpool ld_bilinear
# Weights stay in runs/ablation_<row>/ (not committed); only the evaluation JSONs are.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DATA=${DATA:-camvid:../shared/data/camvid}
rows=("$@")
[ ${#rows[@]} -gt 0 ] || rows=(fcn ga ld gald)
mkdir -p checkpoints/ablations
for row in "${rows[@]}"; do
    echo "=== $(date +%H:%M:%S) ablation row: $row ==="
    resume=()
    [ -d "runs/ablation_$row" ] && ls "runs/ablation_$row"/snapshot-* >/dev/null 2>&1 && resume=(--resume)
    .venv/bin/python -m gald.train --config "configs/camvid_ablation/$row.yaml" --out "runs/ablation_$row" \
        --no-progress "${resume[@]}"
    .venv/bin/python -m gald.evaluate --checkpoint "runs/ablation_$row/last" --data "$DATA" --split val \
        --json "checkpoints/ablations/$row.json"
done
.venv/bin/python -m gald.reports.ablation_table
