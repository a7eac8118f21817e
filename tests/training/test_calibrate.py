"""Class-bias calibration (gald.calibrate): the fit recovers a known under-prediction and never lowers the
mIoU it maximises; the CLI folds the biases into the classifiers exactly (calibrated logits = logits + bias),
records the fit, and refuses what it cannot do with one line and exit code 2."""

from __future__ import annotations

import json

import pytest
import torch

import gald.calibrate
from gald import load_checkpoint
from gald.evaluation.calibration import fit_class_bias, miou_of


def test_fit_recovers_a_class_the_logits_under_predict():
    gen = torch.Generator().manual_seed(0)
    target = torch.randint(0, 4, (20000,), generator=gen)
    logits = torch.randn(20000, 4, generator=gen) + 3.0 * torch.nn.functional.one_hot(target, 4)
    logits[:, 2] -= 2.5  # class 2 loses most of its pixels to the others
    bias, before, after = fit_class_bias(logits, target)
    assert after > before + 0.1
    assert abs(after - miou_of((logits + bias).argmax(1), target, 4)) < 1e-9
    others = bias[[0, 1, 3]].mean()
    assert 1.5 < float(bias[2] - others) < 3.5, bias  # the shift it undoes, up to the grid and the noise
    assert abs(float(bias.sum())) < 1e-5


def test_fit_keeps_well_calibrated_logits_unchanged():
    gen = torch.Generator().manual_seed(1)
    target = torch.randint(0, 3, (5000,), generator=gen)
    logits = 10.0 * torch.nn.functional.one_hot(target, 3).float()  # already perfect
    bias, before, after = fit_class_bias(logits, target)
    assert before == after == 1.0 and torch.all(bias == 0)


def test_calibrate_cli_folds_biases_into_the_classifiers(trained_run, camvid_root, tmp_path, tools):
    out = tmp_path / "calibrated"
    proc = tools.run_module("gald.calibrate", "--checkpoint", str(trained_run / "best"), "--data",
                            f"camvid:{camvid_root}", "--out", str(out), "--no-progress", "--workers", "0")
    assert "gald: train mIoU" in proc.stdout and "wrote" in proc.stdout
    meta = json.loads(out.with_suffix(".json").read_text())
    record = meta["calibration"]
    assert record["split"] == "train" and record["source"] == str(trained_run / "best")
    assert set(record["bias"]) == {"gald", "ga", "fcn"} and record["pixels"] > 0
    for head in record["bias"]:
        assert record["miou_after"][head] >= record["miou_before"][head]
    # everything but the three classifier biases is unchanged, and those moved by exactly the recorded fit
    before, _ = load_checkpoint(trained_run / "best")
    after, _ = load_checkpoint(out)
    sb, sa = before.state_dict(), after.state_dict()
    moved = {k for k in sb if not torch.equal(sb[k], sa[k])}
    assert moved <= {"head.4.bias", "ga_probe.4.bias", "fcn_probe.4.bias"}
    names = meta["class_names"]
    expected = torch.tensor([record["bias"]["gald"][n] for n in names])
    assert torch.allclose(sa["head.4.bias"] - sb["head.4.bias"], expected, atol=1e-3)
    x = torch.randn(1, 3, 64, 80)
    with torch.no_grad():
        ya, yb = after(x), before(x)
    assert torch.allclose(ya["out"] - yb["out"], expected.view(1, -1, 1, 1), atol=1e-3)


def test_calibrate_cli_refusals_are_one_line_and_exit_2(trained_run, camvid_root, tmp_path, capsys, one_thread):
    ckpt, data = str(trained_run / "best"), f"camvid:{camvid_root}"
    assert gald.calibrate.main(["--checkpoint", ckpt, "--data", data, "--out", ckpt]) == 2
    assert "--out must differ" in capsys.readouterr().err
    out = tmp_path / "once"
    assert gald.calibrate.main(["--checkpoint", ckpt, "--data", data, "--out", str(out), "--no-progress",
                                "--workers", "0", "--limit", "2"]) == 0
    capsys.readouterr()
    assert gald.calibrate.main(["--checkpoint", str(out), "--data", data, "--out", str(tmp_path / "twice")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "already calibrated" in err and len(err.strip().splitlines()) == 1
    assert gald.calibrate.main(["--checkpoint", ckpt, "--data", f"camvid:{tmp_path / 'nope'}",
                                "--out", str(tmp_path / "x")]) == 2
    assert capsys.readouterr().err.startswith("error:")
    with pytest.raises(SystemExit):
        gald.calibrate.main(["--checkpoint", ckpt])


def test_inference_scale_benchmark_tables_each_scale_and_reuses_its_cache(trained_run, camvid_root, tmp_path,
                                                                          capsys, one_thread):
    from gald.reports import inference_scale

    cache, out = tmp_path / "cache", tmp_path / "scales.json"
    args = ["--checkpoint", str(trained_run / "best"), "--data", f"camvid:{camvid_root}", "--scales", "1.0,1.5",
            "--cache-dir", str(cache), "--json", str(out)]
    assert inference_scale.main(args) == 0
    table = capsys.readouterr().out
    assert "| 1 | 1.00x |" in table and "| 1.5 | 2.25x |" in table
    rows = json.loads(out.read_text())["rows"]
    assert [r["scale"] for r in rows] == [1.0, 1.5] and set(rows[0]["miou"]) == {"gald", "ga", "fcn"}
    cached = sorted(cache.iterdir())
    assert len(cached) == 2
    stamps = [p.stat().st_mtime_ns for p in cached]
    assert inference_scale.main(args) == 0  # same files, same settings: read back, not evaluated again
    assert [p.stat().st_mtime_ns for p in cached] == stamps
    assert json.loads(out.read_text())["rows"] == rows
