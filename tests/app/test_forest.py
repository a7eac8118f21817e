"""The Dashboard's forest plot: paired differences to FCN, 95 % and Holm-corrected intervals, zero line, marks."""

from __future__ import annotations

import math

import pytest

from app.forest import forest_from_summaries, forest_plot


def test_forest_plot_draws_intervals_and_marks_only_corrected_significance():
    fig = forest_plot(["a", "b", "c"], delta=[2.0, 0.5, -1.0], lo=[1.0, -0.2, -1.5], hi=[3.0, 1.2, -0.5],
                      lo_corr=[0.5, -0.8, -2.1], hi_corr=[3.5, 1.8, 0.1], significant=[True, False, False],
                      groups=["head", "head", "end-to-end"])
    corrected, points = fig.data[0], fig.data[1]
    assert list(points.y) == ["a", "b"] and list(points.x) == [2.0, 0.5]
    assert list(points.error_x.array) == pytest.approx([1.0, 0.7]) and list(points.error_x.arrayminus) == \
        pytest.approx([1.0, 0.7])
    assert list(corrected.error_x.array) == pytest.approx([1.5, 1.3])  # the wider, corrected interval
    assert list(points.marker.symbol) == ["diamond", "circle-open"] and list(points.text) == ["*", ""]
    # row c's uncorrected interval excludes 0 but its corrected one does not: not marked
    assert fig.data[3].text == ("",) and fig.data[3].marker.symbol == ("circle-open",)
    assert [s.x0 for s in fig.layout.shapes] == [0]  # the zero line
    assert fig.layout.yaxis.autorange == "reversed"  # rows top to bottom in the table's order


def _row(title, mean, low=None, high=None, n=3, holm=None):
    delta = {"n": n, "mean": mean} | ({"low": low, "high": high, "excludes_zero": low > 0 or high < 0}
                                      if low is not None else {"positive": 1})
    if holm:
        delta["holm"] = {"low": holm[0], "high": holm[1], "excludes_zero": holm[0] > 0 or holm[1] < 0}
    return {"title": title, "delta": delta}


def test_adapter_reads_the_statistics_rows():
    fig = forest_from_summaries({"head": [{"title": "FCN", "delta": None}, _row("GA", 1.0, 0.2, 1.8, holm=(-0.1, 2.1)),
                                          _row("GALD", 2.0, 1.0, 3.0, holm=(0.6, 3.4)), _row("LD", 0.5, n=1)]})
    points = fig.data[1]
    assert list(points.y) == ["head: GA (3 seeds)", "head: GALD (3 seeds)", "head: LD (1 seed)"]
    assert list(points.text) == ["", "*", ""]  # GA's uncorrected interval excludes 0, its corrected one does not
    assert math.isnan(points.error_x.array[2])  # one seed: the difference only, no interval
    # statistics without corrected intervals (an older gald.ablation_stats): nothing is marked
    assert list(forest_from_summaries({"head": [_row("GALD", 2.0, 1.0, 3.0)]}).data[1].text) == [""]
    assert forest_from_summaries({"head": [{"title": "FCN", "delta": None}]}) is None
