"""Two CPU processes under torchrun (gloo): one set of checkpoints and one log line per step."""

from __future__ import annotations

import subprocess
import sys

import pytest

from gald import load_checkpoint


@pytest.mark.torchrun
def test_torchrun_two_ranks_write_one_set_of_checkpoints(tiny_config, tmp_path, tools):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "gald.train",
           *tools.train_args(tiny_config, out, "--set", "optim.iters=4", "--set", "train.save_every=2")]
    proc = subprocess.run(cmd, cwd=tools.repo, env=tools.cli_env(threads=1), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, f"torchrun failed\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    assert proc.stdout.count("done: 4 steps") == 1, proc.stdout

    files = sorted(p.name for p in out.iterdir())
    assert files == ["best.json", "best.safetensors", "config.json", "last.json", "last.safetensors", "log.jsonl",
                     "snapshot-00000002", "snapshot-00000004"], files
    for snap in ("snapshot-00000002", "snapshot-00000004"):
        assert sorted(p.name for p in (out / snap).iterdir()) == ["state.json", "state.safetensors"]

    log = tools.read_log(out)
    assert [r["step"] for r in log if r["event"] == "train"] == [1, 2, 3, 4]
    assert [r["step"] for r in log if r["event"] == "val"] == [4]
    _, meta = load_checkpoint(out / "last")
    assert meta["training"]["step"] == 4
