"""The authors' architecture options (deep stem, multi-grid, aux width, no head dropout, decay on every
parameter) and the preset that switches them on (configs/cityscapes/r50_gald_official.yaml)."""

from pathlib import Path

import pytest
import torch

from gald.io.config_file import load_config
from gald.models import GALDConfig, GALDNet
from gald.models.backbones import build_backbone
from gald.models.backbones.resnet import ResNet
from gald.training.engine import make_optimizer

PRESET = Path(__file__).resolve().parents[2] / "configs" / "cityscapes" / "r50_gald_official.yaml"


def _dilations(stage):
    return [block.conv2.dilation[0] for block in stage]


def test_deep_stem_has_the_authors_names_and_shapes():
    net = ResNet("resnet18", 8, deep_stem=True)
    shapes = {k: tuple(v.shape) for k, v in net.state_dict().items() if k.startswith(("conv1", "bn1."))}
    assert shapes["conv1.0.weight"] == (64, 3, 3, 3) and shapes["conv1.3.weight"] == (64, 64, 3, 3)
    assert shapes["conv1.6.weight"] == (128, 64, 3, 3) and shapes["bn1.weight"] == (128,)
    assert {"conv1.1.weight", "conv1.4.weight"} <= set(shapes) and net.maxpool.ceil_mode
    assert net.layer1[0].conv1.in_channels == 128
    out = net(torch.randn(1, 3, 65, 65))
    assert out["layer4"].shape[-2:] == (9, 9)  # 65 -> 33 -> 17 (ceil-mode pool) -> stride 8 overall
    assert ResNet("resnet18", 8)(torch.randn(1, 3, 65, 65))["layer4"].shape[-2:] == (9, 9)


def test_multi_grid_and_stage_dilation_give_the_authors_dilations():
    official = ResNet("resnet50", 8, multi_grid=(1, 2, 4), first_dilation="stage")
    assert _dilations(official.layer3) == [2] * 6 and _dilations(official.layer4) == [4, 8, 16]
    default = ResNet("resnet50", 8)
    assert _dilations(default.layer3) == [1] + [2] * 5 and _dilations(default.layer4) == [2, 4, 4]
    with pytest.raises(ValueError, match="first_dilation"):
        ResNet("resnet18", 8, first_dilation="nope")
    with pytest.raises(ValueError, match="no options"):
        build_backbone("efficientnet_lite0", 16, deep_stem=True)


def test_weight_decay_on_every_parameter_only_when_asked():
    model = GALDNet(GALDConfig(num_classes=3, mid_channels=32))
    norm_params = sum(p.numel() for p in model.parameters() if p.ndim == 1)
    default = make_optimizer(model, 0.01, weight_decay=5e-4)
    undecayed = sum(p.numel() for g in default.param_groups if g["weight_decay"] == 0 for p in g["params"])
    assert undecayed == norm_params > 0
    decay_all = make_optimizer(model, 0.01, weight_decay=5e-4, decay_norm_and_bias=True)
    assert all(g["weight_decay"] == 5e-4 for g in decay_all.param_groups)


def test_official_preset_builds_the_authors_model():
    cfg = load_config(PRESET)
    mcfg = GALDConfig.from_dict({**cfg["model"], "num_classes": 19, "probes": False})
    model = GALDNet(mcfg)
    assert model.context.structure == "official" and model.config.ld_variant == "authors" and hasattr(model, "convb")
    assert model.aux_head[0].out_channels == 512 and model.aux_head[3].p == 0.1
    assert model.head[3].p == 0.0  # no dropout before the main classifier
    assert _dilations(model.backbone.layer4) == [4, 8, 16] and model.backbone.bn1.num_features == 128
    assert cfg["optim"]["decay_norm_and_bias"] and not cfg["optim"]["no_decay_depthwise"]
    assert cfg["data"]["scale_range"] == [0.7, 2.1] and cfg["data"]["eval_max_size"] == 769
    assert cfg["loss"]["min_kept"] == 100000
    default = GALDNet(GALDConfig(num_classes=19, backbone="resnet50", probes=False))
    assert default.aux_head[0].out_channels == 256 and default.head[3].p == 0.1  # unchanged defaults
