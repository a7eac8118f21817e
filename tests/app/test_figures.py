"""Pure picture / plot functions: shapes, dtypes, exact palette colours, segments, plots."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from app_helpers import CAMVID_CLASSES, CAMVID_PALETTE

from app import figures, plots


def test_colorize_exact_palette_and_void():
    labels = np.array([[0, 1, 255], [10, 11, 3]], np.uint8)
    out = figures.colorize(labels, CAMVID_PALETTE)
    assert out.dtype == np.uint8 and out.shape == (2, 3, 3)
    assert tuple(out[0, 1]) == tuple(CAMVID_PALETTE[1]) and tuple(out[1, 0]) == tuple(CAMVID_PALETTE[10])
    assert tuple(out[0, 2]) == (0, 0, 0) and tuple(out[1, 1]) == (0, 0, 0)


def test_label_overlay_alpha_and_ignore():
    image = np.full((4, 4, 3), 100, np.uint8)
    labels = np.zeros((4, 4), np.uint8)
    labels[0, 0] = 255
    full = figures.label_overlay(image, labels, CAMVID_PALETTE, 1.0)
    none = figures.label_overlay(image, labels, CAMVID_PALETTE, 0.0)
    assert tuple(full[1, 1]) == tuple(CAMVID_PALETTE[0]) and tuple(full[0, 0]) == (100, 100, 100)
    assert (none == image).all()


def test_heatmaps():
    image = np.zeros((60, 80, 3), np.uint8)
    heat = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    out = figures.heatmap_overlay(image, heat, alpha=1.0)
    assert out.shape == (60, 80, 3) and out.dtype == np.uint8
    assert tuple(out[0, 0]) == tuple(figures.VIRIDIS[0]) and tuple(out[-1, -1]) == tuple(figures.VIRIDIS[255])
    tile = figures.heat_tile(heat, width=40)
    assert tile.shape == (30, 40, 3)


def test_disagreement_colours():
    image = np.zeros((1, 4, 3), np.uint8)
    ga = np.array([[1, 1, 2, 5]], np.uint8)
    gald = np.array([[1, 2, 1, 6]], np.uint8)
    label = np.array([[1, 2, 2, 7]], np.uint8)  # agree | GALD right | GA right | both wrong
    pic, stats = figures.disagreement(image, ga, gald, label)
    assert tuple(pic[0, 1]) == figures.GALD_RIGHT and tuple(pic[0, 2]) == figures.GA_RIGHT
    assert tuple(pic[0, 3]) == figures.BOTH_WRONG and stats["differ"] == 0.75
    pic, stats = figures.disagreement(image, ga, gald, None)
    assert tuple(pic[0, 1]) == figures.DIFFER and set(stats) == {"differ"}


def test_connected_segments_matches_bfs():
    rng = np.random.default_rng(0)
    labels = (rng.random((40, 50)) > 0.6).astype(np.uint8) + 2 * (np.arange(50) > 30)[None].astype(np.uint8)
    seg, classes = figures.connected_segments(labels)  # re-exported from gald.segments

    def bfs_count(a):
        seen = np.zeros(a.shape, bool)
        n = 0
        for y, x in np.ndindex(a.shape):
            if seen[y, x]:
                continue
            n += 1
            stack = [(y, x)]
            seen[y, x] = True
            while stack:
                cy, cx = stack.pop()
                for ny, nx in ((cy + 1, cx), (cy - 1, cx), (cy, cx + 1), (cy, cx - 1)):
                    if 0 <= ny < a.shape[0] and 0 <= nx < a.shape[1] and not seen[ny, nx] and a[ny, nx] == a[cy, cx]:
                        seen[ny, nx] = True
                        stack.append((ny, nx))
        return n

    assert len(classes) == bfs_count(labels) == seg.max() + 1
    # every segment is single-class
    assert (classes[seg] == labels).all()


def test_segment_stats_and_scatter():
    pred = np.zeros((40, 60), np.uint8)
    pred[10:14, 10:14] = 9  # a small pedestrian blob
    mask = np.full((5, 8), 0.8, np.float32)
    stats = figures.segment_mask_stats(pred, mask)
    assert sorted(stats["area"].tolist()) == [16.0, 40 * 60 - 16.0]
    fig = plots.segment_scatter(stats, CAMVID_CLASSES, CAMVID_PALETTE)
    assert isinstance(fig, go.Figure) and fig.layout.xaxis.type == "log"
    assert {t.name for t in fig.data} >= {"Sky", "Pedestrian"}


def test_legend_html_escapes():
    html = figures.legend_html(["<b>x</b>", "y"], [[1, 2, 3], [4, 5, 6]], np.array([0.5, 0.5]))
    assert "&lt;b&gt;" in html and "rgb(1,2,3)" in html and "50.0%" in html


def test_confusion_and_tables():
    mat = np.diag(np.arange(1, 12))
    fig = plots.confusion_figure(mat, CAMVID_CLASSES)
    assert fig.data[0].z[3][3] == 1.0
    ev = {"heads": {h: {"miou": 0.5, "per_class_iou": {n: 0.1 * (i % 10) for i, n in enumerate(CAMVID_CLASSES)}}
                    for h in ("fcn", "ga", "gald")},
          "boundary_iou": {"gald": {"2": 0.3, "5": 0.4}, "ga": {"2": 0.25, "5": 0.38}}}
    bars = plots.iou_bars(ev, CAMVID_CLASSES)
    assert [t.name.split()[0] for t in bars.data] == ["FCN", "GA", "GALD"]
    headers, rows = plots.small_large_table(ev, CAMVID_CLASSES)
    assert len(rows) == 3 and "small" in headers[1]
    curves = plots.boundary_curves(ev)
    assert list(curves.data[0].x) == [2.0, 5.0]
    headers, rows = plots.ablation_rows([("a", {"name": "no LD", "heads": {"gald": {"miou": 0.4}}})])
    assert rows == [["no LD", "-", "-", 40.0]]
    assert isinstance(plots.ablation_bars(rows), go.Figure)


def test_split_classes_by_share():
    small, large = plots.split_classes(["a", "b"], {"a": 0.01, "b": 0.5})
    assert small == ["a"] and large == ["b"]
