"""Does the LD mask follow pattern size? The paper's claim (Sec. 3.3, Fig. 4): M is high inside large
patterns and low on small ones. Measured on a checkpoint over a dataset split, as the app's Masks tab
does per image.

    .venv/bin/python -m gald.reports.mask_vs_segment [--checkpoint checkpoints/galdnet_lite2_camvid] [--json OUT]
                                                   [--data camvid:../shared/data/camvid] [--split val]

For every image: the mean of M over channels (at feature resolution, as in the app), the predicted
segments of the GALD head (connected components) with their area and mean M, and the correlation of
mean M with log10(area). Prints the spread of M and the distribution of the per-image correlations, and
the pooled correlation over all segments of all images.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm


def main() -> None:
    from .. import stage_outputs
    from ..data import build_dataset, load_image
    from ..evaluation.inference import Inference
    from ..evaluation.segments import segment_mask_stats

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default="checkpoints/galdnet_lite2_camvid")
    ap.add_argument("--data", default="camvid:../shared/data/camvid")
    ap.add_argument("--split", default="val")
    ap.add_argument("--limit", type=int, help="only the first N images")
    ap.add_argument("--json", type=Path, help="also write the figures here (the model card reads them)")
    args = ap.parse_args()
    inference = Inference.from_checkpoint(args.checkpoint, "cpu")
    if not inference.config.uses_ld:
        raise SystemExit(f"{args.checkpoint} has no LD module")
    dataset = build_dataset(args.data, args.split)
    if not hasattr(dataset, "files"):
        raise SystemExit("needs a file-based dataset spec (camvid:PATH or cityscapes:PATH)")
    n = min(len(dataset.files), args.limit or len(dataset.files))
    per_image, areas, means, spreads, centres = [], [], [], [], []
    for i in tqdm(range(n), desc="images", mininterval=10):
        rgb = load_image(dataset.files[i][0], str(dataset.files[i][0]))
        x = inference.preprocess(rgb)
        stages = stage_outputs(inference.model, x, upsample_logits=False)
        pred = Inference.class_maps({"gald": stages["logits_gald"]}, tuple(x.shape[-2:]), rgb.shape[:2])["gald"]
        mean = stages["M"][0].mean(0).numpy()  # the app's mean LD mask: M averaged over channels
        spreads.append(float(mean.max() - mean.min()))
        centres.append(float(mean.mean()))
        stats = segment_mask_stats(pred.to(torch.uint8).numpy(), mean)
        area, m = stats["area"], stats["mean_m"]
        areas.append(area)
        means.append(m)
        if len(area) > 2 and np.ptp(m) > 0:
            per_image.append(float(np.corrcoef(np.log10(np.maximum(area, 1)), m)[0, 1]))
    area, m = np.concatenate(areas), np.concatenate(means)
    pooled = float(np.corrcoef(np.log10(np.maximum(area, 1)), m)[0, 1])
    corr = np.asarray(per_image)
    print(f"{args.checkpoint} on {args.data} [{args.split}], {n} images, {len(area)} predicted segments")
    print(f"mean of M over channels: image means {np.mean(centres):.3f} (min {np.min(centres):.3f}, max "
          f"{np.max(centres):.3f}); range within an image {np.median(spreads):.3f} (median)")
    print(f"correlation of segment mean M with log10(area), per image: median {np.median(corr):+.2f}, "
          f"quartiles {np.percentile(corr, 25):+.2f} / {np.percentile(corr, 75):+.2f}, positive in "
          f"{(corr > 0).mean():.0%} of {len(corr)} images")
    print(f"pooled over all segments: {pooled:+.2f}")
    big, small = m[area >= np.percentile(area, 75)], m[area <= np.percentile(area, 25)]
    print(f"mean M of the largest quarter of segments {big.mean():.4f} vs the smallest quarter {small.mean():.4f}")
    if args.json:
        args.json.write_text(json.dumps({
            "checkpoint": args.checkpoint, "data": args.data, "split": args.split, "images": n,
            "segments": int(len(area)), "image_mean_m": {"mean": float(np.mean(centres)), "min": float(np.min(centres)),
                                                        "max": float(np.max(centres))},
            "within_image_range_median": float(np.median(spreads)),
            "corr_per_image": {"median": float(np.median(corr)), "p25": float(np.percentile(corr, 25)),
                               "p75": float(np.percentile(corr, 75)), "positive_share": float((corr > 0).mean()),
                               "images": int(len(corr))},
            "corr_pooled": pooled, "mean_m_largest_quarter": float(big.mean()),
            "mean_m_smallest_quarter": float(small.mean())}, indent=1) + "\n")


if __name__ == "__main__":
    main()
