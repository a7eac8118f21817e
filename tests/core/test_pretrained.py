"""ImageNet weights load strictly through `pretrained=`; mismatches and offline URLs fail clearly."""

import pytest
import torch

from gald.models.backbones import PretrainedWeightsError
from gald.models.backbones.resnet import ResNet, resnet


def _torchvision_style_state(depth):
    state = ResNet(depth).state_dict()
    state["fc.weight"] = torch.zeros(1000, 512 if depth in ("resnet18", "resnet34") else 2048)
    state["fc.bias"] = torch.zeros(1000)
    return state


def test_strict_load_from_local_file(tmp_path):
    state = _torchvision_style_state("resnet18")
    state["layer4.1.conv2.weight"].fill_(0.123)
    path = tmp_path / "resnet18.pth"
    torch.save(state, path)
    model = resnet("resnet18", 8, pretrained=str(path))
    assert torch.all(model.layer4[1].conv2.weight == 0.123)


def test_mismatch_lists_keys(tmp_path):
    path = tmp_path / "resnet34.pth"
    torch.save(_torchvision_style_state("resnet34"), path)
    with pytest.raises(PretrainedWeightsError, match="unexpected keys.*layer1.2"):
        resnet("resnet18", 8, pretrained=str(path))


def test_offline_url_fails_clearly(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(PretrainedWeightsError, match="offline"):
        resnet("resnet18", 8, pretrained="http://127.0.0.1:9/resnet18.pth")


def test_missing_file():
    with pytest.raises(PretrainedWeightsError, match="not found"):
        resnet("resnet18", 8, pretrained="/nonexistent/resnet18.pth")
