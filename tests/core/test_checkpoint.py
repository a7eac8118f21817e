"""Safetensors + JSON checkpoints: bit-exact round trip, clear errors, nothing ever unpickled."""

import json
import pickle

import pytest
import torch

import gald
from gald.io.checkpoint import CheckpointError, checkpoint_paths

META = {"class_names": ["a", "b", "c"], "palette": [[1, 2, 3], [4, 5, 6], [7, 8, 9]],
        "normalization": {"mean": [0.5] * 3, "std": [0.25] * 3}}


@pytest.fixture()
def model():
    torch.manual_seed(0)
    m = gald.build_model(num_classes=3, mid_channels=32)
    for p in m.parameters():  # non-trivial values everywhere (zero-init params too)
        p.data.add_(torch.randn_like(p) * 0.05)
    return m.eval()


def test_round_trip_is_bit_exact(tmp_path, model):
    w, j = gald.save_checkpoint(tmp_path / "ck", model, META)
    assert w.name == "ck.safetensors" and j.name == "ck.json"
    loaded, meta = gald.load_checkpoint(tmp_path / "ck.json")
    assert meta["class_names"] == META["class_names"] and meta["config"]["num_classes"] == 3
    a, b = model.state_dict(), loaded.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    x = torch.randn(1, 3, 40, 48)
    assert torch.equal(model(x)["out"], loaded(x)["out"])


def test_fp16_storage_loads_as_fp32(tmp_path, model):
    gald.save_checkpoint(tmp_path / "half", model, META, dtype=torch.float16)
    loaded, meta = gald.load_checkpoint(tmp_path / "half")
    assert meta["storage_dtype"] == "float16"
    assert all(p.dtype == torch.float32 for p in loaded.parameters())


def test_pickle_renamed_as_checkpoint_is_refused_unexecuted(tmp_path, model):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    gald.save_checkpoint(tmp_path / "ck", model, META)
    weights, _ = checkpoint_paths(tmp_path / "ck")
    weights.write_bytes(pickle.dumps({"state": Payload()}))
    with pytest.raises(CheckpointError, match="pickle"):
        gald.load_checkpoint(tmp_path / "ck")
    torch.save({"x": Payload()}, weights)  # zip-based torch.save is refused too
    with pytest.raises(CheckpointError, match="pickle"):
        gald.load_checkpoint(tmp_path / "ck")
    assert not marker.exists()


def test_clear_errors(tmp_path, model):
    with pytest.raises(CheckpointError, match="not found"):
        gald.load_checkpoint(tmp_path / "missing")
    w, j = gald.save_checkpoint(tmp_path / "ck", model, META)
    data = w.read_bytes()
    w.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="safetensors|could not read"):
        gald.load_checkpoint(tmp_path / "ck")
    w.write_bytes(data)
    # huge header length
    w.write_bytes((2**40).to_bytes(8, "little") + b"{}")
    with pytest.raises(CheckpointError, match="not a valid safetensors"):
        gald.load_checkpoint(tmp_path / "ck")
    w.write_bytes(data)
    meta = json.loads(j.read_text())
    meta["config"]["num_classes"] = 5
    meta["class_names"] = list("abcde")
    j.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="wrong class count"):
        gald.load_checkpoint(tmp_path / "ck")
    meta["class_names"] = ["a"]
    j.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="class names"):
        gald.load_checkpoint(tmp_path / "ck")
    meta = json.loads(j.read_text())
    meta["config"].update(num_classes=3, backbone="resnet34")
    meta["class_names"] = ["a", "b", "c"]
    j.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="does not match"):
        gald.load_checkpoint(tmp_path / "ck")
    meta["config"]["backbone"] = "alexnet"
    j.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="invalid architecture"):
        gald.load_checkpoint(tmp_path / "ck")
    j.write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        gald.load_checkpoint(tmp_path / "ck")


def test_export_fp16_keeps_metadata_and_predictions(tmp_path, model):
    from gald.export import main as export_main

    gald.save_checkpoint(tmp_path / "src", model, META)
    assert export_main([str(tmp_path / "src"), str(tmp_path / "dst"), "--fp16"]) == 0
    loaded, meta = gald.load_checkpoint(tmp_path / "dst")
    assert meta["storage_dtype"] == "float16" and meta["export"]["source"].endswith("src")
    assert meta["class_names"] == META["class_names"] and meta["normalization"] == META["normalization"]
    src_size = (tmp_path / "src.safetensors").stat().st_size
    assert (tmp_path / "dst.safetensors").stat().st_size < 0.6 * src_size
    x = torch.randn(1, 3, 40, 48)
    with torch.no_grad():
        a, b = model(x)["out"], loaded(x)["out"]
    assert not torch.equal(a, b) and torch.allclose(a, b, atol=1e-2, rtol=1e-2)
    assert torch.equal(a.argmax(1), b.argmax(1)) or (a.argmax(1) != b.argmax(1)).float().mean() < 0.01


def test_export_refuses_same_path_and_bad_source(tmp_path, model, capsys):
    from gald.export import main as export_main

    gald.save_checkpoint(tmp_path / "src", model, META)
    assert export_main([str(tmp_path / "src"), str(tmp_path / "src.json")]) == 2
    (tmp_path / "bad.safetensors").write_bytes(pickle.dumps({"x": 1}))
    (tmp_path / "bad.json").write_text(json.dumps({"format": "gald-checkpoint", "format_version": 1}))
    assert export_main([str(tmp_path / "bad"), str(tmp_path / "out")]) == 2
    assert "error:" in capsys.readouterr().err and not (tmp_path / "out.safetensors").exists()


def test_export_learning_curve_from_a_resumed_log(tmp_path, model):
    from gald.export import export_checkpoint

    gald.save_checkpoint(tmp_path / "src", model, META)
    lines = [{"step": 10, "event": "train", "total": 2.5, "lr": 0.01},
             {"step": 20, "event": "train", "total": 2.0, "lr": 0.009},
             {"step": 20, "event": "val", "gald_miou": 0.3, "ga_miou": 0.2, "fcn_miou": 0.1, "boundary_iou_5": 0.1},
             {"step": 20, "event": "train", "total": 1.9, "lr": 0.009}]  # resumed: step 20 logged again
    log = tmp_path / "log.jsonl"
    log.write_text("\n".join(json.dumps(r) for r in lines) + '\n{"step": 30, "ev')  # last line cut by a kill
    export_checkpoint(tmp_path / "src", tmp_path / "dst", log=log)
    curve = gald.read_metadata(tmp_path / "dst")["learning_curve"]
    assert [(r["step"], r["loss"]) for r in curve["train"]] == [(10, 2.5), (20, 1.9)]
    assert curve["val"] == [{"step": 20, "gald_miou": 0.3, "ga_miou": 0.2, "fcn_miou": 0.1, "boundary_iou_5": 0.1,
                             "wall_s": 0.0}]


def test_learning_curve_wall_time_skips_session_gaps(tmp_path):
    from gald.reports.training_phases import learning_curve

    t0 = 1_800_000_000
    lines = [{"step": 10, "event": "train", "total": 2.0, "time": t0},
             {"step": 20, "event": "train", "total": 1.5, "time": t0 + 25},
             {"step": 20, "event": "val", "gald_miou": 0.3, "time": t0 + 85},
             {"step": 30, "event": "train", "total": 1.2, "time": t0 + 85 + 7200},  # resumed two hours later
             {"step": 40, "event": "train", "total": 1.1, "time": t0 + 85 + 7225}]
    log = tmp_path / "log.jsonl"
    log.write_text("\n".join(json.dumps(r) for r in lines))
    curve = learning_curve(log)
    assert [r["wall_s"] for r in curve["train"]] == [0.0, 25.0, 85.0, 110.0]
    assert curve["val"][0]["wall_s"] == 85.0


def test_export_at_another_output_stride_keeps_the_weights(tmp_path):
    from gald.export import export_checkpoint

    torch.manual_seed(0)
    src = gald.build_model(num_classes=3, mid_channels=32, output_stride=16).eval()
    gald.save_checkpoint(tmp_path / "src", src, META)
    export_checkpoint(tmp_path / "src", tmp_path / "os8", output_stride=8)
    loaded, meta = gald.load_checkpoint(tmp_path / "os8")
    assert loaded.config.output_stride == 8 and meta["trained_output_stride"] == 16
    for (k, a), (k2, b) in zip(src.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert k == k2 and torch.equal(a, b)
    x = torch.randn(1, 3, 64, 64)
    assert gald.stage_outputs(loaded, x)["F"].shape[-2:] == (8, 8)
    assert gald.stage_outputs(src, x)["F"].shape[-2:] == (4, 4)


def test_export_keeps_the_parent_phase_for_the_model_card(tmp_path, model):
    from gald.export import export_checkpoint
    from gald.reports.model_card import history_lines

    phase1 = {**META, "training": {"pretrained_backbone": "imagenet", "step": 100,
                                   "optim": {"batch_size": 16, "lr": 0.02, "warmup_iters": 10, "time_budget_s": 60},
                                   "data": {"crop_size": [64, 64]}}}
    gald.save_checkpoint(tmp_path / "phase1", model, phase1)
    (tmp_path / "phase1.eval.json").write_text(json.dumps({"heads": {"gald": {"miou": 0.5}, "ga": {"miou": 0.4},
                                                                     "fcn": {"miou": 0.45}}}))
    phase2 = {**META, "training": {"init_checkpoint": str(tmp_path / "phase1"), "step": 50,
                                   "optim": {"batch_size": 16, "lr": 0.01, "warmup_iters": 5}, "data": {}}}
    gald.save_checkpoint(tmp_path / "phase2", model, phase2)
    export_checkpoint(tmp_path / "phase2", tmp_path / "dst", parent=tmp_path / "phase1")
    meta = gald.read_metadata(tmp_path / "dst")
    parent = meta["parent"]
    assert parent["training"]["step"] == 100 and parent["val_miou"] == {"gald": 0.5, "ga": 0.4, "fcn": 0.45}
    lines = history_lines(meta).splitlines()
    assert lines[1].startswith("1. from ImageNet weights (imagenet): 100 steps (time budget 60 s)")
    assert "GALD 50.0" in lines[1] and lines[2].startswith("2. from the previous phase (phase1): 50 steps")
