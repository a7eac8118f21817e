"""Fold eval-mode BatchNorm into the convolution that feeds it: y = BN(conv(x)) becomes conv'(x) with
w' = w * gamma / sqrt(var + eps) and b' = beta + (b - mean) * gamma / sqrt(var + eps).

Which BN follows which conv is read from one traced forward pass (a BN whose input is exactly a conv's
output and which is the only module reading it), so no architecture has to list its pairs. A functional use
of the conv's output (`bn(y) + y`) is invisible to module hooks, so the folded model is checked against the
original on the example; if they differ, the pairs are tried one at a time and only those that keep the
output are folded. For inference only: the folded model has no BN statistics to update and its state dict
differs from the checkpoint's.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


def _conv_bn_pairs(model: nn.Module, example: torch.Tensor) -> list[tuple[str, str]]:
    produced: dict[int, str] = {}   # id(output tensor) -> conv name
    alive: list[torch.Tensor] = []  # the outputs are kept so that no later tensor reuses their id
    readers: dict[str, list[str]] = {}  # conv name -> modules that read its output
    order: list[tuple[str, str]] = []
    names = {m: n for n, m in model.named_modules()}
    handles = []

    def after_conv(module, _inputs, output):
        produced[id(output)] = names[module]
        alive.append(output)
        readers.setdefault(names[module], [])

    def before_any(module, inputs):
        for t in inputs:
            if isinstance(t, torch.Tensor) and id(t) in produced:
                readers[produced[id(t)]].append(names[module])
                if isinstance(module, nn.BatchNorm2d):
                    order.append((produced[id(t)], names[module]))

    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(after_conv))
        if not list(m.children()):
            handles.append(m.register_forward_pre_hook(before_any))
    try:
        with torch.no_grad():
            model(example)
    finally:
        for h in handles:
            h.remove()
    # only a conv whose one reader in this pass is its BN (a conv called twice has two readers: left alone)
    return [(c, b) for c, b in order if readers.get(c) == [b]]


def _outputs(model: nn.Module, example: torch.Tensor) -> list[torch.Tensor]:
    out = model(example)
    values = out.values() if isinstance(out, dict) else out if isinstance(out, (list, tuple)) else [out]
    return [v.float() for v in values if isinstance(v, torch.Tensor)]


def _same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return len(a) == len(b) and all(x.shape == y.shape and torch.allclose(x, y, rtol=1e-3, atol=1e-3 * float(
        y.abs().max().clamp(min=1))) for x, y in zip(a, b, strict=True))


@torch.no_grad()
def fold_batchnorm(model: nn.Module, example: torch.Tensor) -> int:
    """Fold, in place, every BN that directly follows a conv in `model` (which must be in eval mode);
    returns how many were folded. `example`: an input the model accepts, ideally random (the check compares
    outputs on it)."""
    if model.training:
        raise ValueError("fold_batchnorm needs an eval-mode model (training BN uses batch statistics)")
    pairs = _conv_bn_pairs(model, example)
    reference = _outputs(model, example)
    trial = copy.deepcopy(model)
    _fold(trial, pairs)
    if not _same(_outputs(trial, example), reference):
        kept = []
        for pair in pairs:  # rare (a functional skip around a BN): keep the pairs that keep the output
            trial = copy.deepcopy(model)
            _fold(trial, [*kept, pair])
            if _same(_outputs(trial, example), reference):
                kept.append(pair)
        pairs = kept
    _fold(model, pairs)
    return len(pairs)


def _fold(model: nn.Module, pairs: list[tuple[str, str]]) -> None:
    for conv_name, bn_name in pairs:
        conv, bn = model.get_submodule(conv_name), model.get_submodule(bn_name)
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
        conv.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1))
        conv.bias = nn.Parameter(bn.bias + (bias - bn.running_mean) * scale)
        parent, _, attr = bn_name.rpartition(".")
        setattr(model.get_submodule(parent) if parent else model, attr, nn.Identity())
