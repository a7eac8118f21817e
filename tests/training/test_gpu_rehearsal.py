"""CPU rehearsal of the one lent-GPU call (benchmarks/gpu_run.sh): the same script end to end with tiny settings
(2 Table 1 rows x 2 seeds, a main run continued from one of them, a few steps, 32x32 crops, WebP inputs made
by prepare_gpu_inputs' own copier), then every file it sends back is checked. A GPU call must not fail on a
typo; this is where a typo fails instead. Plus: the main run's overrides load the bundled Lite2 checkpoint.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
import time

import pytest

from benchmarks.gpu_runs import MAIN_RUNS
from benchmarks.prepare_gpu_inputs import copy_split

TINY_MODEL = ("model: {backbone: resnet18, output_stride: 8, arrangement: gald, ga: cgnl, mid_channels: 16}\n"
              "data: {crop_size: [32, 32], scale_range: [0.75, 1.25], workers: 0}\n"
              "optim: {iters: 3, batch_size: 2, lr: 0.02, warmup_iters: 0}\n"
              "train: {log_every: 1, device: cpu, amp: false}\n")


def test_gpu_call_rehearsal_produces_every_file(camvid_root, tmp_path, tools):
    data = tmp_path / "gpu" / "camvid"
    for split in ("train", "val"):
        n, mad = copy_split(camvid_root, data, split, "webp", 95)
        assert n > 0 and mad < 10  # noisy synthetic scenes: WebP loses more than on photos
    config = tmp_path / "tiny.yaml"
    config.write_text("name: tiny\n" + TINY_MODEL)
    runs, out = tmp_path / "call", tmp_path / "out"
    # generous stage budgets (a loaded CPU must not cut a stage); the work itself is capped by --max-iters/-budget-s
    env = {**tools.cli_env(threads=1), "PY": sys.executable, "CALL_S": "1500", "IN": str(tmp_path / "gpu"),
           "RUNS": str(runs), "OUT": str(out), "T1_CONFIG": str(config), "MAIN_CONFIG": str(config),
           "ROWS": "fcn gald", "SEEDS": "0 1", "MAIN": "lite2_zoom15", "MAIN_INIT": str(runs / "table1/gald_seed0/last"),
           "CHECK_ARGS": "--models lite0 --batches 2 --crop 32 32 --warmup 1 --steps 1 --set model.mid_channels=16",
           "PLAN_ARGS": "--model lite0 --batch 2 --startup-s 1 --eval-s 1 --max-iters 3 --max-budget-s 2",
           "EVAL_LIMIT": "2", "PYTEST_S": "200", "CHECK_S": "200"}
    t0 = time.perf_counter()
    proc = subprocess.run(["bash", "benchmarks/gpu_run.sh"], cwd=tools.repo, env=env, capture_output=True, text=True,
                          timeout=1800)
    seconds = time.perf_counter() - t0
    print(f"rehearsal: {seconds:.0f} s")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-3000:]
    assert "Table 1, end to end" in proc.stdout and "main model" in proc.stdout  # the plan was printed first

    names = sorted(p.name for p in out.iterdir())
    assert len(names) <= 8
    assert {"summary.json", "logs.tar.gz", "lite2_zoom15.json"} <= set(names)
    assert any(n.startswith("lite2_zoom15.safetensors") for n in names)
    summary = json.loads((out / "summary.json").read_text())
    stages = {s["stage"]: s for s in summary["stages"]}
    assert {"env", "check", "table1", "main", "pytest"} <= set(stages)
    exits = {s: stages[s].get("exit") for s in ("check", "table1", "main", "pytest")}
    assert set(exits.values()) == {0}, (exits, proc.stdout[-3000:])
    assert summary["plan"]["table1"]["iters"] == 3 and summary["throughput"]["results"][0]["img_s"] > 0
    table1 = summary["results"]["table1"]
    assert sorted(table1) == ["fcn_seed0", "fcn_seed1", "gald_seed0", "gald_seed1"]
    for name, r in table1.items():
        assert r["status"] == "done" and r["steps"] == 3 and r["iters"] == 3, name
        heads = {"gald", "ga", "fcn"} if r["row"] == "gald" else {"gald", "fcn"}  # FCN has no GA to probe
        assert 0 <= r["miou"] <= 1 and set(r["evaluation"]["heads"]) == heads, name
        assert r["num_images"] == 2 and r["img_s"] > 0 and "boundary_iou_5" in r
    assert table1["gald_seed0"]["mask_vs_size"] is not None and table1["fcn_seed0"]["mask_vs_size"] is None
    main = summary["results"]["main"]["lite2_zoom15"]
    assert main["status"] == "done" and main["evaluation"]["input_scale"] == 1.5
    assert "data.scale_range=[0.75,3.0]" in main["overrides"]
    assert summary["pytest_gpu"]["exit"] == 0
    with tarfile.open(out / "logs.tar.gz") as tar:
        members = set(tar.getnames())
    assert {"table1/gald_seed1/log.jsonl", "main/lite2_zoom15/log.jsonl", "pytest_gpu.txt", "plan.json"} <= members


def test_main_run_overrides_load_the_bundled_checkpoint(tools):
    """What the GPU call's main run does first: the Lite2 recipe with MAIN_RUNS' overrides, then a strict load of
    the bundled weights (a wrong key or architecture would fail here, not on the GPU)."""
    from gald.io.config_file import load_config
    from gald.models import GALDConfig, GALDNet
    from gald.training.trainer import init_from_checkpoint

    bundled = tools.repo / "checkpoints" / "galdnet_lite2_camvid"
    if not (bundled / "model.safetensors").is_file():
        pytest.skip("bundled Lite2 checkpoint not in this checkout")
    overrides = [o.format(init=bundled) for o in MAIN_RUNS["lite2_zoom15"]]
    cfg = load_config(tools.repo / "configs" / "camvid_lite2_gald_gpu.yaml", overrides)
    assert cfg["data"]["input_scale"] == 1.5 and cfg["pretrained_backbone"] is None
    model = GALDNet(GALDConfig.from_dict({**cfg["model"], "num_classes": 11}))
    init_from_checkpoint(model, cfg["init_checkpoint"])


def test_plan_gives_every_run_the_same_steps_and_waves_by_memory(tmp_path, capsys):
    from benchmarks import gpu_plan

    (tmp_path / "t.json").write_text(json.dumps({"machine": {"gpu_mem_gib": 139.0}, "results": [
        {"model": "lite2", "batch": 16, "pipeline": "device", "compile": False, "img_s": 1000.0, "peak_mem_gib": 20.0}]}))
    plan = gpu_plan.main(["--throughput", str(tmp_path / "t.json"), "--elapsed-s", "40", "--bundled", "none"])
    t1 = plan["table1"]
    left = 540 - 40 - 45 - 20
    assert t1["parallel"] == 5 and t1["waves"] == 3  # 5 x (20 + 1.5) GiB fit in 85 % of 139 GiB, 12 runs do not
    assert t1["stage_s"] == int(left * 0.55) and plan["main"]["stage_s"] == left - t1["stage_s"]
    assert t1["iters"] == int(0.85 * 1000 * (t1["stage_s"] - 3 * (45 + 30)) / (12 * 16))
    assert "Table 1, end to end" in capsys.readouterr().out
    plan = gpu_plan.main(["--elapsed-s", "40", "--mains", "--bundled", "none"])  # no measurement, no main run
    assert plan["rate_source"].startswith("no measurement") and plan["table1"]["stage_s"] == left
    with pytest.raises(SystemExit):
        gpu_plan.main(["--rows", "fcn", "gald_typo"])  # a typo stops the call before any GPU time
