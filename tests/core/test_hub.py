"""Checkpoint folders (the Hub's model-repository layout): conversion keeps the weights byte for byte, both
loaders read the folder offline, the model card carries the Hub metadata, pushing fails clearly offline."""

from __future__ import annotations

import hashlib
import json

import pytest
import torch
import yaml

import gald
from gald import hub
from gald.io.checkpoint import checkpoint_paths, sidecar_path


@pytest.fixture()
def two_files(tmp_path):
    torch.manual_seed(0)
    model = gald.build_model(num_classes=11, backbone="resnet18", arrangement="gald").eval()
    gald.save_checkpoint(tmp_path / "tiny", model, {"class_names": [f"c{i}" for i in range(11)],
                                                   "inference": {"scale": 1.5}})
    (tmp_path / "tiny.eval.json").write_text(json.dumps({"split": "val", "heads": {
        "gald": {"miou": 0.7071}, "ga": {"miou": 0.69}, "fcn": {"miou": 0.6}}}))
    (tmp_path / "tiny.mask.json").write_text("{}")
    return tmp_path / "tiny", model


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_convert_keeps_weights_and_metadata_and_moves_measurements(two_files):
    stem, model = two_files
    weights, meta = checkpoint_paths(stem)
    before, meta_bytes = _sha(weights), meta.read_bytes()
    folder = hub.convert(stem)
    assert folder == stem and folder.is_dir() and not weights.exists() and not meta.exists()
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "eval.json", "mask.json",
                                                         "model.safetensors"]
    assert _sha(folder / "model.safetensors") == before and (folder / "config.json").read_bytes() == meta_bytes
    assert sidecar_path(folder, "eval") == folder / "eval.json" and sidecar_path(stem.with_name("x"), "eval").name \
        == "x.eval.json"
    loaded, meta = gald.load_checkpoint(folder)  # the folder, or a file inside it
    assert gald.load_checkpoint(folder / "config.json")[1] == meta
    for (k, a), b in zip(model.state_dict().items(), loaded.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    with pytest.raises(gald.CheckpointError, match="already a folder"):
        hub.convert(folder)


def test_model_card_front_matter_has_the_hub_metadata(two_files):
    folder = hub.convert(two_files[0])
    text = (folder / "README.md").read_text()
    assert text.startswith("---\n")
    front = yaml.safe_load(text.split("---\n")[1])
    assert front["license"] == "mit" and front["library_name"] == "gald" and front["datasets"] == ["camvid"]
    assert "semantic-segmentation" in front["tags"] and "model_hub_mixin" not in front["tags"]
    result = front["model-index"][0]["results"][0]
    assert result["dataset"] == {"type": "camvid", "name": "CamVid", "split": "val"}
    assert [(m["name"], m["value"]) for m in result["metrics"]] == [
        ("val mIoU, GALD (main head)", 70.71), ("val mIoU, GA probe", 69.0), ("val mIoU, FCN probe", 60.0)]


def test_from_pretrained_offline_and_save_pretrained_round_trip(two_files, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    stem, model = two_files
    folder = hub.convert(stem)
    net = hub.PretrainedGALDNet.from_pretrained(str(folder))
    assert isinstance(net, gald.GALDNet) and not net.training and net.meta["inference"]["scale"] == 1.5
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), net.state_dict().values(), strict=True))
    net.save_pretrained(tmp_path / "again")
    again, meta = gald.load_checkpoint(tmp_path / "again")
    assert meta["class_names"] == net.meta["class_names"] and (tmp_path / "again" / "README.md").is_file()
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), again.state_dict().values(), strict=True))
    with pytest.raises(gald.CheckpointError, match="could not be downloaded"):
        hub.PretrainedGALDNet.from_pretrained("someone/not-here")


def test_push_needs_the_network_and_says_so(two_files, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = hub.convert(two_files[0])
    assert hub.main(["push", str(folder), "someone/tiny"]) == 2
    assert "needs the network" in capsys.readouterr().err
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")  # no network in the tests either: the error names the repository
    monkeypatch.setattr("huggingface_hub.HfApi.create_repo", lambda *a, **k: (_ for _ in ()).throw(OSError("down")))
    with pytest.raises(gald.CheckpointError, match=r"could not push .* to 'someone/tiny' \(OSError: down\)"):
        hub.push(folder, "someone/tiny")
    assert hub.main(["push", str(two_files[0].with_name("missing")), "someone/tiny"]) == 2
