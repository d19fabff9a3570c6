"""Attribution summaries against independent computations: pandas group-bys on the rows,
statsmodels' normal interval of a mean, and additivity over chunks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.weightstats import DescrStatsW

from monitoring_pipeline.core.attributions import (
    attribution_sums,
    merge_attribution_sums,
    summarize_attributions,
)

ATTRIBUTIONS = {"income": "shap_income", "debt": "shap_debt"}


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    n = 3000
    frame = pd.DataFrame(
        {
            "shap_income": rng.normal(0.2, 0.8, n),
            "shap_debt": rng.normal(-0.1, 0.3, n),
            "region": rng.choice(["north", "south", "west"], n, p=[0.5, 0.4, 0.1]),
            "sex": rng.choice(["f", "m"], n),
        }
    )
    frame.loc[rng.random(n) < 0.05, "shap_debt"] = np.nan  # some rows logged without it
    return frame


def test_sums_and_figures_match_a_group_by_and_statsmodels(rows):
    summary = summarize_attributions(attribution_sums(rows, ATTRIBUTIONS, ["region", "sex"]))
    assert set(summary.cohort_attribute) == {"all", "region", "sex"}
    checked = 0
    for row in summary.itertuples():
        mine = (
            rows
            if row.cohort_attribute == "all"
            else rows[rows[row.cohort_attribute] == row.cohort_value]
        )
        values = mine[row.attribution_column].dropna()
        assert row.n == len(values)
        assert row.mean_abs == pytest.approx(values.abs().mean(), rel=1e-12)
        assert row.mean == pytest.approx(values.mean(), rel=1e-10, abs=1e-12)
        lower, upper = DescrStatsW(values.abs().to_numpy()).zconfint_mean(alpha=0.05)
        assert (row.lower, row.upper) == (
            pytest.approx(lower, rel=1e-9),
            pytest.approx(upper, rel=1e-9),
        )
        everyone = mine[list(ATTRIBUTIONS.values())].abs().mean()
        assert row.share == pytest.approx(
            everyone[row.attribution_column] / everyone.sum(), rel=1e-10
        )
        checked += 1
    assert checked == 2 * (1 + 3 + 2)


def test_chunks_add_up_to_the_whole_day(rows):
    whole = attribution_sums(rows, ATTRIBUTIONS, ["region"])
    parts = [
        attribution_sums(rows.iloc[i : i + 700], ATTRIBUTIONS, ["region"])
        for i in range(0, len(rows), 700)
    ]
    merged = merge_attribution_sums(parts)
    keys = ["cohort_attribute", "cohort_value", "feature"]
    pd.testing.assert_frame_equal(
        merged.sort_values(keys).reset_index(drop=True),
        whole.sort_values(keys).reset_index(drop=True),
        check_exact=False,
        rtol=1e-12,
    )


def test_a_cohort_without_attributions_has_no_figures():
    rows = pd.DataFrame({"shap_income": [np.nan, np.nan], "region": ["west", "west"]})
    summary = summarize_attributions(
        attribution_sums(rows, {"income": "shap_income"}, ["region"]), min_count=1
    )
    assert (summary.n == 0).all() and summary[
        ["mean_abs", "lower", "upper", "share"]
    ].isna().all().all()
    assert not summary.sufficient.any()
