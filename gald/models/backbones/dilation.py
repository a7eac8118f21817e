"""The one place where stride turns into dilation, shared by every backbone (as timm's `make_blocks`)."""

from __future__ import annotations

from collections.abc import Sequence


def stage_strides_and_dilations(output_stride: int, stem_stride: int,
                                stage_strides: Sequence[int]) -> list[tuple[int, int]]:
    """(stride, dilation) per stage: once `output_stride` is reached, a stage's stride becomes dilation.

    ResNets: stem 4 (conv1 + maxpool), stages (1, 2, 2, 2). EfficientNet-Lite: stem 2, stages (2, 2, 2, 2).
    """
    full = stem_stride
    for s in stage_strides:
        full *= s
    if output_stride not in (8, 16, 32) or output_stride > full:
        raise ValueError(f"output_stride must be one of 8, 16, 32 (at most {full}), got {output_stride}")
    current_stride, dilation, plan = stem_stride, 1, []
    for stage_stride in stage_strides:
        if current_stride * stage_stride > output_stride:
            dilation *= stage_stride
            stage_stride = 1
        current_stride *= stage_stride
        plan.append((stage_stride, dilation))
    return plan
