"""The Table 1 rows of the CamVid ablation study: file stem -> readable title and the paper's figures.

Shared by `gald/reports/ablation_table.py` (docs/ablations.md) and the app's Dashboard, which must show
"+CGNL+LD (GALD)" rather than a file name.
"""

from __future__ import annotations

# row file stem -> (title, paper Cityscapes val mIoU (Table 1, ResNet-50), paper baseline for the delta)
PAPER_ROWS: dict[str, tuple[str, float, float]] = {
    "fcn": ("FCN", 73.7, 73.7),
    "ga": ("+CGNL", 78.2, 73.7),
    "ld": ("+LD", 77.5, 73.7),
    "gald": ("+CGNL+LD (GALD)", 79.6, 73.7),
    "gald_seed1": ("+CGNL+LD (GALD), seed 1 (run-to-run noise)", 79.6, 73.7),
    "ldga": ("LDGA", 78.1, 73.7),
    "parallel": ("Parallel", 77.5, 73.7),
    "psp_ld": ("+PSP+LD", 78.9, 73.7),
    "aspp_ld": ("+ASPP+LD", 79.5, 73.7),
    "nl_ld": ("+NL+LD", 79.2, 73.7),
    "ld_avgpool": ("+CGNL+LD (avg-pool mask)", 76.5, 73.7),
    "ld_bilinear": ("+CGNL+LD (bilinear mask)", 77.6, 73.7),
}


def row_title(stem: str) -> str:
    """Readable title of an ablation row; unknown stems become words ("camvid_ablation_x" -> "x")."""
    key = stem.removeprefix("camvid_ablation_")
    if key in PAPER_ROWS:
        return PAPER_ROWS[key][0]
    return key.replace("_", " ")
