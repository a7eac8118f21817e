"""The three heads of a GALDNet, named once (Fig. 5 (b)-(d)).

Every module that names a head (evaluation JSON, calibration, predict, the model card, the app) reads this
registry: `key` is the name in evaluation JSON, checkpoints' metadata and the app; `output` the key in
`GALDNet.forward`'s dict; `stage` the key in `gald.stage_outputs`; `module` the classifier submodule whose
last 1x1 conv produces the logits; `title` and `card_title` the short and the descriptive display names.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Head:
    key: str
    output: str
    stage: str
    module: str
    title: str
    card_title: str


# display order: FCN -> GA -> GALD, as in Fig. 5
HEADS: tuple[Head, ...] = (
    Head("fcn", "fcn_probe", "logits_fcn", "fcn_probe", "FCN", "FCN probe"),
    Head("ga", "ga_probe", "logits_ga", "ga_probe", "GA", "GA probe"),
    Head("gald", "out", "logits_gald", "head", "GALD", "GALD (main head)"),
)
HEAD_KEYS: tuple[str, ...] = tuple(h.key for h in HEADS)
BY_KEY: dict[str, Head] = {h.key: h for h in HEADS}
TITLES: dict[str, str] = {h.key: h.title for h in HEADS}
CARD_TITLES: dict[str, str] = {h.key: h.card_title for h in HEADS}
BY_OUTPUT: dict[str, Head] = {h.output: h for h in HEADS}
# the main head with LD switched off (M := 0), from the same pass: an extra key beside the three heads
LD_OFF_KEY, LD_OFF_STAGE, LD_OFF_TITLE = "gald_ld_off", "logits_gald_ld_off", "GALD, LD off"
