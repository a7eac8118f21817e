"""The Table 1 rows, registered once: key -> title, the model overrides that make the row, the paper's figure.

Every protocol (the ResNet-18 recipe `configs/camvid_ablation.yaml`, the head protocol, the end-to-end and the GPU
protocols), every table (`gald.reports.ablation_table`, `gald.reports.head_protocol_table`, in docs/ablations.md)
and the app's Dashboard read this registry; a row is added here and nowhere else.

    python -m gald.ablation.rows ROW    # prints the `--set` overrides that turn a config's model into ROW
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from typing import Any

PAPER_BASELINE = 73.7  # Table 1, FCN (dilated ResNet-50) on Cityscapes val


@dataclass(frozen=True)
class Row:
    key: str
    title: str
    model: dict[str, Any] = field(default_factory=dict)  # GALDConfig overrides
    paper: float | None = None  # the paper's Cityscapes val mIoU (Table 1, ResNet-50); None: not in the paper


_CGNL_FULL = {"ga": "cgnl", "ga_kwargs": {"structure": "residual_full"}}
_CGNL_LAYER = {"ga": "cgnl", "ga_kwargs": {"structure": "official", "norm": "layer"}}
# display order: Table 1 (a) GA modules, (b) + LD, (c) arrangements, (e) LD downsampling, then our own rows
ROWS: dict[str, Row] = {r.key: r for r in (
    Row("fcn", "FCN", {"arrangement": "fcn"}, 73.7),
    Row("psp", "+PSP", {"arrangement": "ga", "ga": "psp"}),
    Row("aspp", "+ASPP", {"arrangement": "ga", "ga": "aspp"}),
    Row("nl", "+NL", {"arrangement": "ga", "ga": "nl"}),
    Row("ga", "+CGNL", {"arrangement": "ga", "ga": "cgnl"}, 78.2),
    Row("ld", "+LD", {"arrangement": "ld"}, 77.5),
    Row("psp_ld", "+PSP+LD", {"arrangement": "gald", "ga": "psp"}, 78.9),
    Row("aspp_ld", "+ASPP+LD", {"arrangement": "gald", "ga": "aspp"}, 79.5),
    Row("nl_ld", "+NL+LD", {"arrangement": "gald", "ga": "nl"}, 79.2),
    Row("gald", "+CGNL+LD (GALD)", {"arrangement": "gald", "ga": "cgnl"}, 79.6),
    Row("ldga", "LDGA", {"arrangement": "ldga", "ga": "cgnl"}, 78.1),
    Row("parallel", "Parallel", {"arrangement": "parallel", "ga": "cgnl"}, 77.5),
    Row("ld_avgpool", "+CGNL+LD (avg-pool mask)", {"arrangement": "gald", "ga": "cgnl", "ld_downsample": "avgpool"},
        76.5),
    Row("ld_bilinear", "+CGNL+LD (bilinear mask)", {"arrangement": "gald", "ga": "cgnl", "ld_downsample": "bilinear"},
        77.6),
    # the GA structure head-to-head: CGNL rows use the official structure (down conv -> CGNL with its residual
    # at half resolution -> upsample) unless a row names another
    Row("ga_residual_full", "+CGNL, full-resolution residual", {"arrangement": "ga", **_CGNL_FULL}),
    Row("gald_residual_full", "+CGNL+LD, full-resolution residual", {"arrangement": "gald", **_CGNL_FULL}),
    # beyond the paper: CGNL whose global statistic survives (one normalisation group over all channels instead
    # of GroupNorm with z's grouping, which keeps only sign(sum(p*g)); docs/architecture.md)
    Row("ga_layernorm", "+CGNL, 1 norm group", {"arrangement": "ga", **_CGNL_LAYER}),
    Row("gald_layernorm", "+CGNL+LD, 1 norm group", {"arrangement": "gald", **_CGNL_LAYER}),
)}
ROW_ORDER: tuple[str, ...] = tuple(ROWS)
CORE_ROWS: tuple[str, ...] = ("fcn", "ga", "ld", "gald")  # the paper's headline comparison


def row_key(name: str) -> tuple[str, int | None]:
    """(row key, seed or None) of a run name: "camvid_ablation_gald_seed1" -> ("gald", 1), "ga" -> ("ga", None)."""
    key = name.removeprefix("camvid_ablation_")
    seed = None
    if "_seed" in key and key.rsplit("_seed", 1)[1].isdigit():
        key, s = key.rsplit("_seed", 1)
        seed = int(s)
    return key, seed


def row_title(name: str) -> str:
    """Readable title of a row or run name; a seed is named; unknown keys become words."""
    key, seed = row_key(name)
    title = ROWS[key].title if key in ROWS else key.replace("_", " ")
    return title + (f", seed {seed}" if seed is not None else "")


def config_overrides(key: str) -> list[str]:
    """`--set` overrides that turn a config's model into the row (JSON values, so dicts survive)."""
    return [f"model.{k}={json.dumps(v)}" for k, v in ROWS[key].model.items()]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="print the --set overrides of a Table 1 row, one per line")
    p.add_argument("row", choices=list(ROWS))
    print("\n".join(f"--set\n{o}" for o in config_overrides(p.parse_args(argv).row)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
