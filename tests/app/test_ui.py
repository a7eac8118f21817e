"""UI wiring without a browser: launch options, endpoints, examples, dashboard files, the launcher."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import app_helpers
import pytest

from app import dashboard, ui

ROOT = Path(__file__).resolve().parents[2]


def test_launch_options_are_safe():
    opts = ui.launch_options()
    assert opts["share"] is False and opts["max_file_size"] == "25mb"
    assert opts["allowed_paths"] == [str(ui.EXAMPLES_DIR)]


def test_build_demo_endpoints_and_queue(predictor):
    demo = ui.build_demo(predictor)
    names = {fn.api_name for fn in demo.fns.values()}
    assert {"analyze", "overlay", "channel", "attribute", "dashboard"} <= names
    assert demo._queue.max_size == ui.QUEUE_SIZE


def test_outputs_are_named_once(predictor, example_files):
    """The API's outputs are the browser's steps put together, each name once; handlers return exactly those."""
    from app.handlers import ANALYZE_OUTPUTS, OUTPUT_GROUPS, make_handlers

    grouped = [n for group in OUTPUT_GROUPS.values() for n in group]
    assert len(set(ANALYZE_OUTPUTS)) == len(ANALYZE_OUTPUTS) and sorted(grouped) == sorted(ANALYZE_OUTPUTS)
    h = make_handlers(predictor)
    image, label = map(str, example_files)
    out = h.analyze(image, label)
    assert set(out) == set(ANALYZE_OUTPUTS)
    first = h.analyze_stages(image, label)
    assert set(first) == {*OUTPUT_GROUPS["stages"], "stage_status"}
    assert set(h.stage_details(first["state"], 0.6)) == set(OUTPUT_GROUPS["stage_details"])
    # a lazy tab fills once per analysis; the Stages tab has nothing lazy
    masks = h.open_tab("masks", first["state"], 3, {})
    assert set(masks) == {"open_tab", "filled", *OUTPUT_GROUPS["masks"]} and "Channel **3**" in masks["channel_text"]
    assert h.open_tab("masks", first["state"], 3, masks["filled"]) == {"open_tab": "masks"}
    assert set(h.open_tab("dashboard", first["state"], 0, masks["filled"])) >= set(OUTPUT_GROUPS["scores"])
    assert h.open_tab("stages", first["state"]) == {"open_tab": "stages"}
    assert h.open_tab("masks", None) == {"open_tab": "masks"}  # nothing analysed yet: nothing to fill


def test_examples_bundled():
    rows, labels = ui.example_rows()
    assert len(rows) >= 6 and all(lab and Path(lab).is_file() for _, lab in rows) and len(labels) == len(rows)
    total = sum(f.stat().st_size for f in ui.EXAMPLES_DIR.iterdir())
    assert total < 4 * 2**20


def _eval(names, miou):
    return {"heads": {h: {"miou": miou + d, "pixel_accuracy": 0.9,
                          "per_class_iou": {n: miou + d for n in names}} for h, d in (("fcn", -0.1), ("ga", -0.05),
                                                                                      ("gald", 0.0))},
            "boundary_iou": {"gald": {"2": 0.3, "5": 0.4}}, "class_pixel_share": {n: 0.1 for n in names},
            "error_decomposition": {h: {"missed_segment": 0.02, "hallucinated_segment": 0.01, "boundary": 0.05 + d,
                                        "interior": 0.03} for h, d in (("fcn", 0.02), ("gald", 0.0))}}


def _dashboard(predictor):
    v = dashboard.dashboard_values(predictor)
    return tuple(v[k] for k in ("dashboard_note", "class_iou", "small_large", "boundary", "errors", "learning",
                                "ablation_table", "ablation_plot", "has_eval", "has_ablations"))


def test_dashboard_values(predictor, tmp_path, monkeypatch):
    note, iou, sl, curves, errors, learning, abl, abl_fig, has_eval, has_abl = _dashboard(predictor)
    assert "No evaluation JSON found" in note and iou is None and learning is None
    assert not has_eval and not has_abl

    stem = tmp_path / "model"
    monkeypatch.setattr(predictor, "checkpoint_path", str(stem))
    (tmp_path / "model.eval.json").write_text(json.dumps(_eval(predictor.class_names, 0.6)))
    (tmp_path / "ablations").mkdir()
    (tmp_path / "ablations" / "no_ld.json").write_text(json.dumps({"name": "GA only", **_eval(predictor.class_names, 0.5)}))
    (tmp_path / "ablations" / "broken.json").write_text("{not json")
    (tmp_path / "ablations" / "ldga.json").write_text(json.dumps({"name": "camvid_ablation_ldga",
                                                                  **_eval(predictor.class_names, 0.4)}))
    curve = {"train": [{"step": s, "loss": 3.0 - s / 10, "lr": 0.01} for s in range(0, 30, 10)],
             "val": [{"step": 20, "gald_miou": 0.3, "ga_miou": 0.25, "fcn_miou": 0.2}]}
    monkeypatch.setitem(predictor.meta, "learning_curve", curve)
    note, iou, sl, curves, errors, learning, abl, abl_fig, has_eval, has_abl = _dashboard(predictor)
    assert has_eval and has_abl and "Validation results" in note
    assert str(tmp_path) not in note and "`model.eval.json`" in note  # never the machine's absolute path
    assert [t.name for t in learning.data] == ["train loss", "FCN val mIoU", "GA val mIoU", "GALD val mIoU"]
    assert list(learning.data[3].y) == [30.0] and list(learning.data[0].x) == [0, 10, 20]
    assert len(iou.data) == 3 and list(sl["head"]) == ["FCN", "GA", "GALD"]
    assert sl.iloc[2, 1] == 60.0  # small classes of the CamVid split
    assert list(abl["ablation"]) == ["LDGA", "GA only"] and abl.iloc[1, 3] == 50.0  # readable row titles
    assert len(curves.data) == 1
    assert [t.name for t in errors.data] == ["missed segment", "hallucinated segment", "boundary", "interior"]

    # a model trained in two phases without validation (the bundled Lite2): one curve over both phases, a val
    # point at the end of each (the parent's recorded mIoU, then this checkpoint's evaluation JSON)
    phase2 = {"train": [{"step": s, "loss": 1.0, "lr": 0.01} for s in (10, 20)], "val": []}
    parent = {"training": {"step": 30}, "val_miou": {"gald": 0.5, "ga": 0.4, "fcn": 0.45},
              "learning_curve": {"train": curve["train"], "val": []}}
    monkeypatch.setitem(predictor.meta, "learning_curve", phase2)
    monkeypatch.setitem(predictor.meta, "parent", parent)
    monkeypatch.setitem(predictor.meta, "training", {"step": 20})
    learning = dashboard.dashboard_values(predictor)["learning"]
    assert list(learning.data[0].x) == [0, 10, 20, 40, 50]
    assert list(learning.data[3].x) == [30, 50] and list(learning.data[3].y) == [50.0, 60.0]
    assert [s.x0 for s in learning.layout.shapes] == [30]
    assert list(errors.data[2].x) == [7.0, 5.0] and list(errors.data[2].y) == ["FCN", "GALD"]

    (tmp_path / "model.eval.json").write_text("[]")
    assert "no \"heads\" section" in dashboard.dashboard_values(predictor)["dashboard_note"]


def test_dashboard_shows_seeded_ablations_with_error_bars(predictor, tmp_path, monkeypatch):
    monkeypatch.setattr(predictor, "checkpoint_path", str(tmp_path / "model"))
    head = tmp_path / "ablations" / "head"
    head.mkdir(parents=True)
    runs = {"fcn": [0.40, 0.42, 0.44], "gald": [0.43, 0.45, 0.46], "nl_ld": [0.41]}
    for row, values in runs.items():
        for seed, m in enumerate(values):
            (head / f"{row}_seed{seed}.json").write_text(json.dumps(
                {"miou": m, "small_miou": 0.1, "large_miou": 0.7, "boundary_iou_5": 0.3}))
    note, *_, abl, abl_fig, _, has_abl = _dashboard(predictor)
    assert has_abl and "head protocol" in note and "end-to-end" not in note
    assert list(abl["row"]) == ["FCN", "+NL+LD", "+CGNL+LD (GALD)"]  # Table 1's order
    assert list(abl["seeds"]) == [3, 1, 3] and set(abl["protocol"]) == {"head"}
    assert abl.iloc[0, 3] == "42.0 ± 2.0" and abl.iloc[1, 3] == "41.0 (1 seed)"
    assert abl.iloc[2, 4].startswith("+2.7 [")  # paired by seed: +3, +3, +2
    points = abl_fig.data[1]  # the forest plot: FCN is the zero line, each other row a paired difference
    assert list(points.y) == ["head: +NL+LD (1 seed)", "head: +CGNL+LD (GALD) (3 seeds)"]
    assert list(points.x) == pytest.approx([1.0, 8 / 3])
    table_low = float(abl.iloc[2, 4].split("[")[1].split(",")[0])  # "+2.7 [+1.2, +4.1] ..."
    assert 8 / 3 - points.error_x.arrayminus[1] == pytest.approx(table_low, abs=0.06)  # the same interval
    assert abl.iloc[2, 5].endswith("] *") and abl.iloc[1, 5] == ""  # Holm (a family of one) and a sign count

    e2e = tmp_path / "ablations" / "e2e"  # the end-to-end protocol beside it: its own rows and bar trace
    e2e.mkdir()
    for row, values in {"fcn": [0.50, 0.52], "gald": [0.53, 0.52]}.items():
        for seed, m in enumerate(values):
            (e2e / f"{row}_seed{seed}.json").write_text(json.dumps(
                {"miou": m, "small_miou": 0.1, "large_miou": 0.7, "boundary_iou_5": 0.3}))
    note, *_, abl, abl_fig, _, has_abl = _dashboard(predictor)
    assert "end-to-end protocol" in note and list(abl["protocol"]) == ["head"] * 3 + ["end-to-end"] * 2
    assert abl.iloc[4, 4] == "+1.5 (1/2 seeds > 0)"
    assert [t.name for t in abl_fig.data if t.showlegend is not False] == ["head protocol", "end-to-end protocol"]


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRADIO_", "GALD_"))}
    env.update(GRADIO_ANALYTICS_ENABLED="False", **extra)
    return env


def test_launcher_missing_checkpoint(tmp_path):
    missing = tmp_path / "nope"
    r = subprocess.run([sys.executable, str(ROOT / "app.py"), "--checkpoint", str(missing)], capture_output=True,
                       text=True, timeout=120, env=_env())
    assert r.returncode == 2 and str(missing) in r.stderr and "GALD_CHECKPOINT" in r.stderr


def test_launcher_serves_and_stops_on_sigint_even_if_started_with_it_ignored(checkpoint, tmp_path):
    """A shell without job control starts background jobs with SIGINT ignored (CI's runner, `cmd &` in a
    script); app.py must still stop on SIGINT (and so run its exit clean-up), not hang until killed."""
    port = app_helpers.free_port()
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py")], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
                            env=_env(GALD_CHECKPOINT=str(checkpoint), GRADIO_SERVER_NAME="127.0.0.1",
                                     GRADIO_SERVER_PORT=str(port)))
    try:
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(f"app.py exited: {proc.stdout.read()}")
                if time.perf_counter() - t0 > 90:
                    pytest.fail("app.py not ready after 90 s")
                time.sleep(0.25)
        ready = time.perf_counter() - t0
        print(f"app.py ready in {ready:.1f} s")
        assert ready < 60  # the budget is 15 s on an idle 2-core machine; CI may be busier
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail("app.py ignored SIGINT")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


def test_picture_store_lossless_png_deduplicated_jpeg_close(tmp_path):
    import numpy as np
    from PIL import Image

    from app.picture_store import PictureStore

    store = PictureStore(tmp_path, keep=3)
    pics = {f"p{i}": np.full((8, 8, 3), v, np.uint8) for i, v in enumerate((1, 2, 1, 1, 3))} | {"none": None}
    paths = store.many(pics)
    assert paths["none"] is None and paths["p0"] == paths["p2"] == paths["p3"]
    assert (np.asarray(Image.open(paths["p1"])) == 2).all()
    for v in (4, 5, 6):
        store.png(np.full((8, 8, 3), v, np.uint8))
    assert len(list(tmp_path.glob("*.png"))) == 3 and not list(tmp_path.glob("*.tmp"))
    rng = np.random.default_rng(0)
    photo = np.clip(rng.normal(120, 30, (64, 64, 3)), 0, 255).astype(np.uint8)
    photo[20:40, 30:34] = (220, 20, 60)  # a thin class-coloured structure keeps its colour (4:4:4 chroma)
    jpeg = store.many({"photo": photo}, {"photo": "jpeg"})["photo"]
    back = np.asarray(Image.open(jpeg)).astype(int)
    assert jpeg.endswith(".jpg") and np.abs(back[22:38, 31:33] - (220, 20, 60)).max() < 24


def test_handlers_turn_crashes_into_messages(predictor, example_files, monkeypatch):
    import gradio as gr

    from app import views

    handlers = ui.make_handlers(predictor)
    monkeypatch.setattr(views, "stage_images", lambda *a, **k: 1 / 0)
    with pytest.raises(gr.Error, match=r"analyze failed \(ZeroDivisionError\)"):
        handlers.analyze(str(example_files[0]), None)
    with pytest.raises(gr.Error, match="Analyze an image first"):
        handlers.channel(None, 3)


def test_launcher_caps_malloc_arenas(monkeypatch):
    import importlib.util

    spec = importlib.util.spec_from_file_location("gald_launcher", Path(__file__).resolve().parents[2] / "app.py")
    launcher = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(launcher)
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert launcher.limit_malloc_arenas() is False  # the user's setting wins
    monkeypatch.delenv("MALLOC_ARENA_MAX")
    import platform

    glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert launcher.limit_malloc_arenas() is glibc


def test_ga_reach_note_reads_the_measurement(predictor, tmp_path, monkeypatch):
    from app import views

    monkeypatch.setattr(predictor, "checkpoint_path", str(tmp_path / "model"))
    note = views.ga_reach_note(predictor)
    assert "What this GA aggregates" not in note  # nothing measured yet
    (tmp_path / "model.ga_reach.json").write_text(json.dumps(
        {"images": 20, "split": "val", "relative_change_left_quarter": {"F": {"median": 0.001},
                                                                       "F_GA": {"median": 0.0009}}}))
    note = views.ga_reach_note(predictor)
    assert "changes F_GA in the left quarter by 0.09% (median), the backbone feature F by 0.10%" in note
    if predictor.model.config.ga == "cgnl":
        assert "sign" in note
