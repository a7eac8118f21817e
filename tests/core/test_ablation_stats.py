"""Exact Student-t quantiles and p-values, Holm's correction, and the comparison family of a Table 1."""

from __future__ import annotations

import json

import pytest

from gald.ablation import stats as st


@pytest.mark.parametrize(("df", "q975"), [(1, 12.706205), (2, 4.302653), (4, 2.776445), (10, 2.228139),
                                          (30, 2.042272), (200, 1.971896)])
def test_t_quantiles_match_tables(df, q975):
    assert st.t_quantile(0.975, df) == pytest.approx(q975, abs=2e-6)
    assert st.t_quantile(0.025, df) == pytest.approx(-q975, abs=2e-6)


def test_t_quantile_is_not_the_normal_one_beyond_ten_df():
    # the old table fell back to z = 1.96 above 10 df: 2.04 at 30 df, 2 % narrower than exact
    assert st.t_quantile(0.975, 11) == pytest.approx(2.200985, abs=2e-6)
    assert st.t_quantile(0.975, 30) > 1.96 + 0.08
    assert st.t_quantile(0.975, 10**7) == pytest.approx(1.959964, abs=1e-5)


def test_t_cdf_and_two_sided_p_values():
    assert st.t_cdf(0.0, 5) == pytest.approx(0.5)
    assert st.t_cdf(2.015048, 5) == pytest.approx(0.95, abs=1e-6)  # one-sided 95 % quantile, 5 df
    assert st.t_sf_two_sided(2.0, 10) == pytest.approx(0.073388, abs=1e-6)
    assert st.t_sf_two_sided(-2.0, 10) == st.t_sf_two_sided(2.0, 10)
    assert st.t_cdf(1.0, 1) == pytest.approx(0.75)  # Cauchy: 1/2 + atan(1)/pi
    for df in (2, 4, 30):
        for p in (0.6, 0.9, 0.995):
            assert st.t_cdf(st.t_quantile(p, df), df) == pytest.approx(p, abs=1e-10)


def test_holm_textbook_example():
    # Holm-Bonferroni, four hypotheses (the Wikipedia example; R: p.adjust(c(.01,.04,.03,.005), "holm"))
    p = [0.01, 0.04, 0.03, 0.005]
    assert st.holm_adjust(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    levels = st.holm_levels(p)
    assert levels == pytest.approx([0.05 / 3, 0.025, 0.025, 0.0125])  # frozen at the first non-rejection
    assert [a < 0.05 for a in st.holm_adjust(p)] == [pv < lv for pv, lv in zip(p, levels, strict=True)]
    assert st.holm_adjust([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert st.holm_adjust([]) == []


def _write(tmp_path, row, values):
    for seed, m in enumerate(values):
        (tmp_path / f"{row}_seed{seed}.json").write_text(json.dumps(
            {"miou": m, "small_miou": 0.1, "large_miou": 0.8, "boundary_iou_5": 0.3, "iters": 30}))


def test_family_has_every_pair_and_holm_widens_intervals(tmp_path):
    _write(tmp_path, "fcn", [0.50, 0.40, 0.45, 0.47, 0.43])
    _write(tmp_path, "ga", [0.505, 0.405, 0.452, 0.47, 0.436])
    _write(tmp_path, "ld", [0.51, 0.41, 0.46, 0.48, 0.44])
    _write(tmp_path, "gald", [0.52, 0.425, 0.465, 0.49, 0.451])
    family = st.comparisons(st.load(tmp_path))
    pairs = [(c["row"], c["base"]) for c in family]
    assert pairs == [("ga", "fcn"), ("ld", "fcn"), ("gald", "fcn"), ("gald", "ga"), ("gald", "ld")]
    for c in family:
        assert c["family_size"] == 5 and c["p_holm"] >= c["p"]
        assert c["holm"]["low"] <= c["low"] and c["holm"]["high"] >= c["high"]
        assert c["holm"]["excludes_zero"] == (c["p_holm"] < 0.05)
    ld = next(c for c in family if c["row"] == "ld")  # +1.0 every seed (up to rounding): p ~ 0
    assert ld["mean"] == pytest.approx(1.0) and ld["p"] < 1e-10 and ld["holm"]["excludes_zero"]
    gald_vs_fcn = family[2]
    # deltas +2, +2.5, +1.5, +2, +2.1: exact t with 4 df
    d = [2.0, 2.5, 1.5, 2.0, 2.1]
    m = sum(d) / 5
    sd = (sum((x - m) ** 2 for x in d) / 4) ** 0.5
    assert gald_vs_fcn["high"] - gald_vs_fcn["mean"] == pytest.approx(2.776445 * sd / 5 ** 0.5, rel=1e-5)
