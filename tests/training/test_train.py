"""End-to-end training on the synthetic CamVid folder: the loss falls, checkpoints reload, a NaN loss
stops the run with exit code 3 and leaves the last good checkpoint untouched."""

from __future__ import annotations

import json
import math

import pytest
import torch
from safetensors.torch import load_file

import gald.train
from gald import GALDLoss, load_checkpoint
from gald.data import CAMVID_CLASSES, CAMVID_PALETTE


def test_training_lowers_the_loss_and_writes_reloadable_checkpoints(trained_run, tools):
    log = tools.read_log(trained_run)
    train = [r for r in log if r["event"] == "train"]
    assert [r["step"] for r in train] == list(range(1, 31))
    losses = [r["total"] for r in train]
    assert all(math.isfinite(v) for v in losses)
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < 0.8 * first, f"loss did not fall: first 5 mean {first:.3f}, last 5 mean {last:.3f}"
    val = [r for r in log if r["event"] == "val"]
    assert len(val) == 1 and val[0]["step"] == 30 and 0.0 <= val[0]["gald_miou"] <= 1.0

    for name in ("last", "best"):
        model, meta = load_checkpoint(trained_run / name)
        assert not model.training
        assert meta["class_names"] == CAMVID_CLASSES
        assert [tuple(c) for c in meta["palette"]] == CAMVID_PALETTE
        assert meta["training"]["step"] == 30 and meta["inference"]["scale"] == 1.0
        assert meta["training"]["hardware"].startswith("CPU, ") and "fp32" in meta["training"]["hardware"]
        assert set(meta["normalization"]) == {"mean", "std"}
        with torch.no_grad():
            out = model(torch.zeros(1, 3, 64, 80))
        assert out["out"].shape == (1, 11, 64, 80)
    assert "val" in json.loads((trained_run / "best.json").read_text())["metrics"]
    # the final weights are the ones in the newest snapshot (save_every=10: snapshots 20 and 30 are kept)
    assert sorted(p.name for p in trained_run.glob("snapshot-*")) == ["snapshot-00000020", "snapshot-00000030"]
    last = load_file(str(trained_run / "last.safetensors"))
    snap = load_file(str(trained_run / "snapshot-00000030" / "state.safetensors"))
    assert all(torch.equal(v, snap[f"model.{k}"]) for k, v in last.items())
    assert not list(trained_run.glob(".*tmp*")), "temporary files left behind"


def test_nan_loss_stops_with_exit_code_3_and_keeps_the_last_checkpoint(tiny_config, tmp_path, monkeypatch, capsys,
                                                                       tools, one_thread):
    calls = {"n": 0}
    forward = GALDLoss.forward

    def nan_at_step_3(self, logits, target):
        calls["n"] += 1
        parts = forward(self, logits, target)
        if calls["n"] == 3:
            parts["main"] = parts["main"] * float("nan")
            parts["total"] = sum(v for k, v in parts.items() if k != "total")
        return parts

    monkeypatch.setattr(GALDLoss, "forward", nan_at_step_3)
    out = tmp_path / "nan"
    rc = gald.train.main(tools.train_args(tiny_config, out, "--set", "optim.iters=6", "--set", "train.save_every=2"))
    err = capsys.readouterr().err
    assert rc == 3
    assert "loss became nan at step 3" in err and "last.safetensors" in err and "Traceback" not in err

    assert [r["step"] for r in tools.read_log(out) if r["event"] == "train"] == [1, 2]
    assert sorted(p.name for p in out.glob("snapshot-*")) == ["snapshot-00000002"]
    model, meta = load_checkpoint(out / "last")
    assert meta["training"]["step"] == 2
    snap = load_file(str(out / "snapshot-00000002" / "state.safetensors"))
    state = model.state_dict()
    assert all(torch.equal(state[k], snap[f"model.{k}"]) for k in state)
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())


def test_missing_snapshot_on_resume_is_an_error(tiny_config, tmp_path, tools):
    with pytest.raises(FileNotFoundError, match="no snapshot"):
        gald.train.main(tools.train_args(tiny_config, tmp_path / "empty", "--resume", "--set", "optim.iters=2"))


def test_time_budget_fits_the_schedule_and_no_val_trains_without_validation(tiny_config, tmp_path, tools, one_thread,
                                                                            monkeypatch):
    import gald.training.trainer as trainer

    # the budget logic on a clock that advances 0.2 s per reading, so the fitted schedule does not depend on how
    # fast (or how loaded) the test machine is; the wall-clock behaviour is the same code with time.monotonic
    ticks = iter(range(10**9))
    monkeypatch.setattr(trainer, "train_clock", lambda: 0.2 * next(ticks))
    out = tmp_path / "budget"
    budget = 6.0
    rc = gald.train.main(tools.train_args(tiny_config, out, "--set", "optim.iters=100000", "--set",
                                          f"optim.time_budget_s={budget}", "--set", "data.val=null",
                                          "--set", "train.save_every=100000"))
    assert rc == 0
    log = tools.read_log(out)
    fits = [r for r in log if r["event"] == "budget"]
    # first fit: 10 warm-up steps, then 5 timed steps once a tenth of the budget has passed
    assert fits and fits[0]["step"] == 15 and fits[0]["budget_s"] == budget
    total = fits[-1]["total_iters"]
    assert fits[0]["step"] < total < 100
    train = [r for r in log if r["event"] == "train"]
    # the run ends at the fitted step, with the lr decayed to ~0, and not by the 115 % safety stop
    assert train[-1]["step"] == total and not any(r["event"] == "budget_exceeded" for r in log)
    assert train[-1]["lr"] < 0.1 * max(r["lr"] for r in train)
    model, meta = load_checkpoint(out / "last")
    assert meta["training"]["optim"]["iters"] == total and 0.8 * budget < meta["training"]["train_seconds"] < 1.15 * budget
    assert not any(r["event"] == "val" for r in log) and not (out / "best.json").exists()


def test_init_checkpoint_starts_from_a_runs_weights_and_refuses_another_architecture(trained_run, tiny_config,
                                                                                   tmp_path, tools, one_thread):
    from gald.io.checkpoint import CheckpointError

    out = tmp_path / "continued"
    rc = gald.train.main(tools.train_args(tiny_config, out, "--set", "optim.iters=1", "--set", "optim.lr=0.0",
                                          "--set", f"init_checkpoint={trained_run / 'last'}"))
    assert rc == 0
    before, after = load_file(str(trained_run / "last.safetensors")), load_file(str(out / "last.safetensors"))
    # lr 0: the weights are the earlier run's (BN running statistics move with one batch, nothing else)
    assert all(torch.equal(v, after[k]) for k, v in before.items() if "running" not in k and "num_batches" not in k)
    with pytest.raises(CheckpointError, match="does not match the configured model"):
        gald.train.main(tools.train_args(tiny_config, tmp_path / "other", "--set", "optim.iters=1",
                                         "--set", "model.mid_channels=16",
                                         "--set", f"init_checkpoint={trained_run / 'last'}"))
