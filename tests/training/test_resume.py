"""Interrupting a run and resuming it gives bit-identical weights to an uninterrupted run: same data
order and augmentation, dropout RNG, optimizer momentum, LR schedule and BN statistics."""

from __future__ import annotations

import json

import torch
from safetensors.torch import load_file

# eval_every=5 makes a validation coincide with the interruption at step 5 (it must not shift the RNG or
# lose the best mIoU); save_every=100 means the only snapshots are the ones taken on stop and at the end.
SCHEDULE = ["--set", "optim.iters=12", "--set", "train.eval_every=5", "--set", "train.save_every=100"]


def test_interrupt_and_resume_is_bit_identical(tiny_config, tmp_path, tools):
    a, b = tmp_path / "straight", tmp_path / "interrupted"
    tools.run_module("gald.train", *tools.train_args(tiny_config, a, *SCHEDULE))
    tools.run_module("gald.train", *tools.train_args(tiny_config, b, *SCHEDULE, "--stop-after", "5"))
    assert json.loads((b / "last.json").read_text())["training"]["step"] == 5
    assert sorted(p.name for p in b.glob("snapshot-*")) == ["snapshot-00000005"]
    tools.run_module("gald.train", *tools.train_args(tiny_config, b, *SCHEDULE, "--resume"))

    for name in ("last", "best"):
        meta_a, meta_b = (json.loads((d / f"{name}.json").read_text()) for d in (a, b))
        assert meta_a["training"]["step"] == meta_b["training"]["step"]
        wa, wb = (load_file(str(d / f"{name}.safetensors")) for d in (a, b))
        assert wa.keys() == wb.keys()
        differ = [k for k in wa if not torch.equal(wa[k], wb[k])]
        assert not differ, f"{name}: {len(differ)} of {len(wa)} tensors differ, e.g. {differ[:5]}"
    assert json.loads((a / "last.json").read_text())["training"]["step"] == 12

    log_a, log_b = tools.read_log(a), tools.read_log(b)
    assert [r["event"] for r in log_b].count("resume") == 1

    def losses(log):
        return {r["step"]: (r["total"], r["lr"]) for r in log if r["event"] == "train"}

    def vals(log):
        return [(r["step"], r["gald_miou"]) for r in log if r["event"] == "val"]

    assert losses(log_a) == losses(log_b)
    assert vals(log_a) == vals(log_b) and [s for s, _ in vals(log_a)] == [5, 10, 12]


def test_stale_temp_files_of_a_killed_run_are_removed(tmp_path):
    from gald.training.train_state import remove_stale_temp_files, write_snapshot

    run = tmp_path / "run"
    write_snapshot(run, 3, {"model": {"w": torch.ones(2)}})
    (run / ".last.safetensors.x1y2.tmp").write_bytes(b"half")  # save_checkpoint's own temp file
    (run / ".tmpqJ8Dqs").write_bytes(b"half")  # safetensors' Rust writer
    (run / ".snapshot-00000004.tmp").mkdir()  # write_snapshot's staging folder
    (run / ".snapshot-00000004.tmp" / "state.json").write_text("{")
    keep = ["log.jsonl", "best.json", "best.safetensors", "tmp_notes.txt", ".tmpdir-of-user", "snapshot-00000003"]
    for name in keep[:-1]:
        (run / name).write_text("x")
    removed = remove_stale_temp_files(run)
    assert sorted(removed) == [".last.safetensors.x1y2.tmp", ".snapshot-00000004.tmp", ".tmpqJ8Dqs"]
    assert sorted(p.name for p in run.iterdir()) == sorted(keep)
    assert remove_stale_temp_files(tmp_path / "missing") == []
