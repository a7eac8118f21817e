"""Val mIoU against training wall time for several checkpoints (the pilot comparison of backbones/recipes).

    .venv/bin/python -m gald.reports.learning_curves [CKPT ...] [--out gald/reports/learning_curves.png]

Reads each checkpoint's `learning_curve` metadata (written by `python -m gald.export --log`). Runs exported
since the curve records wall time (`wall_s`) are plotted against it; older ones (no times in the metadata)
are plotted at `step * seconds_per_step`, with the per-step time taken from `--seconds-per-step CKPT=S`
and marked "(est.)" in the legend. Prints a table and writes a PNG (matplotlib).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

DEFAULT = ["checkpoints/galdnet_r18_camvid", "checkpoints/galdnet_lite0_camvid"]
# The bundled ResNet-18's model card: 1400 steps in about 95 minutes on this 2-core CPU.
DEFAULT_STEP_TIMES = {"checkpoints/galdnet_r18_camvid": 95 * 60 / 1400}


def curve_points(meta: dict[str, Any], seconds_per_step: float | None) -> tuple[list[float], list[float], bool]:
    """(minutes, GALD val mIoU %, estimated?) for one checkpoint's validations."""
    val = (meta.get("learning_curve") or {}).get("val") or []
    if val and all("wall_s" in r for r in val):
        return [r["wall_s"] / 60 for r in val], [100 * r["gald_miou"] for r in val], False
    if seconds_per_step is None:
        return [], [], True
    return [r["step"] * seconds_per_step / 60 for r in val], [100 * r["gald_miou"] for r in val], True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoints", nargs="*", default=DEFAULT)
    ap.add_argument("--out", type=Path, default=Path("gald/reports/learning_curves.png"))
    ap.add_argument("--seconds-per-step", action="append", default=[], metavar="CKPT=S")
    args = ap.parse_args()
    step_times = dict(DEFAULT_STEP_TIMES)
    for item in args.seconds_per_step:
        k, _, v = item.partition("=")
        step_times[k] = float(v)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    print("| checkpoint | backbone | validation | wall time (min) | GALD val mIoU |")
    print("|---|---|---|---|---|")
    for ck in args.checkpoints:
        path = Path(ck)
        meta = json.loads(path.with_name(path.name + ".json").read_text())
        minutes, miou, estimated = curve_points(meta, step_times.get(ck))
        if not minutes:
            print(f"| {ck} | | no learning curve with times | | |")
            continue
        cfg = meta.get("config") or {}
        init = "ImageNet" if (meta.get("training") or {}).get("pretrained_backbone") else "scratch"
        label = f"{cfg.get('backbone')} ({init}){' (est.)' if estimated else ''}"
        ax.plot(minutes, miou, marker="o", label=label)
        steps = [r["step"] for r in meta["learning_curve"]["val"]]
        for s, m, v in zip(steps, minutes, miou, strict=True):
            print(f"| {path.name} | {label} | step {s} | {m:.0f}{' (est.)' if estimated else ''} | {v:.1f} |")
    ax.set_xlabel("training wall time on a 2-core CPU (min)")
    ax.set_ylabel("GALD head val mIoU (%)")
    ax.set_title("CamVid val mIoU against training time")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(args.out)
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
