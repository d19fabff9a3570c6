"""The drift step and asset on the real embedded PostgreSQL: injected incidents are found,
healthy days stay quiet, and every stored figure matches an independent computation from
the stored counts or the raw rows (numpy, scipy, statsmodels)."""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
import yaml
from scipy import stats as sps
from scipy.spatial.distance import jensenshannon
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import confint_proportions_2indep

from monitoring_pipeline.config import load_config
from monitoring_pipeline.core.drift import FDR_LEVEL, KS_EXACT_MAX_N, PSI_EPSILON
from monitoring_pipeline.core.drift_baseline import resolve_drift_settings
from monitoring_pipeline.core.sufficient_stats import fit_categories, fit_numeric_bins
from monitoring_pipeline.defs.drift_assets import build_drift_asset
from monitoring_pipeline.defs.partitions import daily_partitions
from monitoring_pipeline.defs.resources import MonitoringDatabase
from monitoring_pipeline.demo.generator import generate_traffic
from monitoring_pipeline.demo.incidents import DistributionShift, FeatureNulls
from monitoring_pipeline.demo.publish import demo_config, publish_demo_sources
from monitoring_pipeline.pipeline.drift import (
    DayHistograms,
    baseline_histograms,
    build_drift,
    compute_day_histograms,
    drift_settings,
    ensure_bins,
    histograms_checksum,
    watched_features,
)
from monitoring_pipeline.pipeline.labeled_predictions import build_labeled_predictions
from monitoring_pipeline.storage.database import create_engine, with_database
from monitoring_pipeline.storage.drift import ingested_histograms
from monitoring_pipeline.storage.reads import iter_feature_values
from monitoring_pipeline.storage.writes import Audit
from monitoring_pipeline_tests.helpers.databases import create_database_from_template
from monitoring_pipeline_tests.helpers.interval_references import psi_js_bounds

MODEL = "loan_approval"
START = date(2026, 10, 1)
END = date(2026, 10, 8)
NOW = datetime(2026, 10, 9, 6, tzinfo=UTC)
SHIFTED = "postal_risk_index"  # independent of every other feature in the generator
SHIFT_DAYS = (date(2026, 10, 6), date(2026, 10, 7))
NULLS_DAY = date(2026, 10, 6)
HEALTHY_DAYS = (date(2026, 10, 4), date(2026, 10, 5))
DRIFT_TABLES = ("drift", "feature_histograms", "feature_bins")
_names = itertools.count()


@dataclass
class World:
    engine: sa.Engine
    url: str
    config: object
    results: dict


def _fresh_database(admin_url: str) -> str:
    name = f"drift_{os.getpid()}_{next(_names)}"
    create_database_from_template(admin_url, name)
    return with_database(admin_url, name)


def _config(directory: Path, baseline: dict):
    raw = demo_config(START, directory / "data")
    raw["models"][MODEL]["baseline"] = baseline
    path = directory / "monitored_models.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_config(path)


def _publish(engine, directory: Path, *, incidents=(), volume: int = 1500) -> None:
    traffic = {
        MODEL: generate_traffic(
            MODEL, START, END, now=NOW, seed=11, incidents=incidents, daily_volume=volume
        ),
        "job_screening": generate_traffic("job_screening", START, END, now=NOW, daily_volume=20),
    }
    publish_demo_sources(engine, traffic, directory / "data")


def _audit(run_id: str = "test-run") -> Audit:
    return Audit(run_id, datetime(2026, 10, 9, 7, tzinfo=UTC))


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


@pytest.fixture(scope="module")
def world(pg_admin_url, tmp_path_factory):
    """Eight days, a 3-day rolling baseline with 10 bins; ``postal_risk_index`` shifted by
    one standard deviation on days 6-7, ``debt_to_income`` 30% null on day 6."""
    url = _fresh_database(pg_admin_url)
    engine = create_engine(url)
    directory = tmp_path_factory.mktemp("drift_world")
    incidents = [
        DistributionShift(
            model=MODEL, start=SHIFT_DAYS[0], end=SHIFT_DAYS[1], feature=SHIFTED, shift=1.0
        ),
        FeatureNulls(
            model=MODEL, start=NULLS_DAY, end=NULLS_DAY, feature="debt_to_income", rate=0.3
        ),
    ]
    _publish(engine, directory, incidents=incidents)
    config = _config(directory, {"preceding_days": 3, "bins": 10})
    results = {}
    for day in _days(START, END):  # the daily schedule: each day once its log is in
        build_labeled_predictions(engine, config, MODEL, day, _audit())
        results[day] = build_drift(engine, config, MODEL, day, _audit())
    yield World(engine, url, config, results)
    engine.dispose()


def read(engine, query: str, **params) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql_query(sa.text(query), conn, params=params)


def drift_rows(world: World, day: date) -> pd.DataFrame:
    return read(
        world.engine,
        "SELECT * FROM monitoring.drift WHERE model_name = :m AND partition_date = :d",
        m=MODEL,
        d=day,
    )


def one(rows: pd.DataFrame, feature: str, method: str, attribute="all", value="all") -> pd.Series:
    match = rows[
        (rows.feature == feature)
        & (rows.method == method)
        & (rows.cohort_attribute == attribute)
        & (rows.cohort_value == value)
    ]
    assert len(match) == 1, (feature, method, attribute, value)
    return match.iloc[0]


def counts(world: World, first: date, last: date, feature: str, attribute="all", value="all"):
    """(value-bin counts, null count) summed over days, straight from feature_histograms."""
    rows = read(
        world.engine,
        "SELECT bin, sum(count) AS count FROM monitoring.feature_histograms "
        "WHERE model_name = :m AND partition_date BETWEEN :a AND :b AND feature = :f "
        "AND cohort_attribute = :ca AND cohort_value = :cv GROUP BY bin ORDER BY bin",
        m=MODEL,
        a=first,
        b=last,
        f=feature,
        ca=attribute,
        cv=value,
    ).set_index("bin")["count"]
    nulls = int(rows.get("__null__", 0))
    return rows.drop("__null__").astype(float), nulls


def aligned(world: World, day: date, feature: str, attribute="all", value="all"):
    rows = drift_rows(world, day)
    row = one(rows, feature, "psi", attribute, value)
    ref, ref_nulls = counts(world, row.baseline_from, row.baseline_to, feature, attribute, value)
    cur, cur_nulls = counts(world, day, day, feature, attribute, value)
    ref, cur = ref.align(cur, fill_value=0.0)
    return ref.to_numpy(), cur.to_numpy(), ref_nulls, cur_nulls


def raw_rows(world: World, first: date, last: date) -> pd.DataFrame:
    return read(
        world.engine,
        "SELECT partition_date, score, features, cohorts FROM monitoring.labeled_predictions "
        "WHERE model_name = :m AND partition_date BETWEEN :a AND :b",
        m=MODEL,
        a=first,
        b=last,
    )


def snapshot(engine) -> dict[str, pd.DataFrame]:
    out = {}
    for name in DRIFT_TABLES:
        frame = read(engine, f"SELECT * FROM monitoring.{name}").drop(
            columns=["run_id", "produced_at"]
        )
        for column in ("edges", "categories"):
            if column in frame:
                frame[column] = frame[column].map(lambda v: None if v is None else tuple(v))
        out[name] = frame.sort_values(list(frame.columns)).reset_index(drop=True)
    return out


# --------------------------------------------------------------------------------------
# Incidents and healthy days
# --------------------------------------------------------------------------------------


def test_distribution_shift_drifts_the_shifted_feature(world):
    for day in SHIFT_DAYS:
        rows = drift_rows(world, day)
        psi, ks = one(rows, SHIFTED, "psi"), one(rows, SHIFTED, "ks")
        assert psi.statistic > psi.threshold == 0.25 and psi.drifted, day
        assert ks.p_value_adjusted < 1e-20 and ks.drifted, day
        assert one(rows, SHIFTED, "js").drifted, day
        # Every sufficient cohort sees it too (the shift hits everyone).
        per_cohort = rows[(rows.feature == SHIFTED) & (rows.method == "ks") & rows.sufficient]
        assert len(per_cohort) >= 8 and per_cohort.drifted.all(), day
    first = drift_rows(world, SHIFT_DAYS[0])
    assert one(first, SHIFTED, "psi").statistic > 0.5  # a 1 SD shift, against a clean baseline


def test_healthy_days_and_untouched_features_stay_quiet(world):
    for day in HEALTHY_DAYS:
        rows = drift_rows(world, day)
        assert (rows.status == "ok").all()
        # Hundreds of tests a day: allow the odd false discovery, no more.
        assert rows.drifted.fillna(False).sum() <= 2, rows[rows.drifted.fillna(False)]
    rows = drift_rows(world, SHIFT_DAYS[0])
    # Features the incidents did not touch (the score follows the shifted feature, since the
    # model uses it; debt_to_income's nulls are a null-rate change, not a value drift; the
    # attributions of both move: the model sees the shift, and imputes the nulls).
    attribution = world.config.models[MODEL].attributions
    touched = [SHIFTED, "score", attribution[SHIFTED], attribution["debt_to_income"]]
    untouched = rows[~rows.feature.isin(touched)]
    untouched = untouched[
        ~((untouched.feature == "debt_to_income") & (untouched.method == "null_rate_change"))
    ]
    assert untouched.drifted.fillna(False).sum() <= 2, untouched[untouched.drifted.fillna(False)]


def test_feature_nulls_show_as_a_null_rate_change(world):
    rows = drift_rows(world, NULLS_DAY)
    change = one(rows, "debt_to_income", "null_rate_change")
    assert change.statistic == pytest.approx(0.3, abs=0.04)
    assert change.lower > change.threshold and change.drifted
    assert change.direction == "higher_is_drift" and change.decided_on == "interval"
    # The values that remain are distributed as before.
    assert not one(rows, "debt_to_income", "psi").drifted
    assert not one(rows, "debt_to_income", "ks").drifted
    # Independent Newcombe interval from the stored null counts.
    ref, cur, ref_nulls, cur_nulls = aligned(world, NULLS_DAY, "debt_to_income")
    n_ref, n_cur = ref.sum() + ref_nulls, cur.sum() + cur_nulls
    assert change.n_reference == n_ref and change.n_current == n_cur
    lo, hi = confint_proportions_2indep(
        cur_nulls, n_cur, ref_nulls, n_ref, method="newcomb", compare="diff"
    )
    assert (change.lower, change.upper) == (pytest.approx(lo), pytest.approx(hi))
    quiet = one(drift_rows(world, HEALTHY_DAYS[1]), "debt_to_income", "null_rate_change")
    assert quiet.statistic == 0 and quiet.drifted == False  # noqa: E712


# --------------------------------------------------------------------------------------
# Figures against independent computations
# --------------------------------------------------------------------------------------


def test_baseline_histogram_is_the_sum_of_the_daily_histograms(world):
    day = SHIFT_DAYS[0]
    bins = ensure_bins(
        world.engine, world.config, MODEL, drift_settings(world.config, MODEL), _audit()
    ).bins
    window = (day - timedelta(days=3), day - timedelta(days=1))
    baseline, days_found = baseline_histograms(world.engine, MODEL, window, bins)
    assert set(days_found.values()) == {3}
    daily = read(
        world.engine,
        "SELECT cohort_attribute, cohort_value, feature, bin, partition_date, count "
        "FROM monitoring.feature_histograms WHERE model_name = :m "
        "AND partition_date BETWEEN :a AND :b",
        m=MODEL,
        a=window[0],
        b=window[1],
    )
    assert daily.partition_date.nunique() == 3
    keys = ["cohort_attribute", "cohort_value", "feature", "bin"]
    summed = daily.groupby(keys)["count"].sum()
    pd.testing.assert_series_equal(
        baseline.set_index(keys)["count"].sort_index(), summed.sort_index(), check_dtype=False
    )
    # ... and it is what the drift rows were computed against.
    rows = drift_rows(world, day)
    row = one(rows, "income", "ks", "region", "west")
    west = baseline[
        (baseline.feature == "income")
        & (baseline.cohort_value == "west")
        & (baseline.bin != "__null__")
    ]
    assert row.n_reference == west["count"].sum()
    assert (row.baseline_from, row.baseline_to, row.baseline_days) == (*window, 3)


def test_daily_histograms_count_the_raw_rows_on_the_stored_edges(world):
    day = SHIFT_DAYS[0]
    raw = raw_rows(world, day, day)
    edges = read(
        world.engine,
        "SELECT edges FROM monitoring.feature_bins WHERE model_name = :m AND feature = :f",
        m=MODEL,
        f=SHIFTED,
    ).edges.iloc[0]
    west = raw[raw.cohorts.map(lambda c: c["region"]) == "west"]
    values = west.features.map(lambda f: f.get(SHIFTED)).astype(float).to_numpy()
    expected = np.bincount(
        np.searchsorted(edges, values[~np.isnan(values)], side="right"), minlength=len(edges) + 1
    )
    stored, nulls = counts(world, day, day, SHIFTED, "region", "west")
    assert stored.to_numpy().tolist() == expected.tolist()
    assert nulls == np.isnan(values).sum()


def test_psi_and_js_match_numpy_and_scipy_on_the_stored_counts(world):
    rows = drift_rows(world, SHIFT_DAYS[0])
    cases = [(SHIFTED, "all", "all"), ("income", "sex", "female"), ("loan_purpose", "all", "all")]
    for feature, attribute, value in cases:
        ref, cur, _, _ = aligned(world, SHIFT_DAYS[0], feature, attribute, value)
        p, q = ref / ref.sum(), cur / cur.sum()
        p, q = np.where(p > 0, p, PSI_EPSILON), np.where(q > 0, q, PSI_EPSILON)
        p, q = p / p.sum(), q / q.sum()
        expected_psi = float(np.sum((q - p) * np.log(q / p)))
        assert one(rows, feature, "psi", attribute, value).statistic == pytest.approx(
            expected_psi, rel=1e-9
        )
        assert one(rows, feature, "js", attribute, value).statistic == pytest.approx(
            float(jensenshannon(ref, cur)), rel=1e-9
        )


def test_psi_and_js_intervals_match_a_scipy_inversion_on_the_stored_counts(world):
    for day in (HEALTHY_DAYS[0], SHIFT_DAYS[0]):
        rows = drift_rows(world, day)
        cases = [
            (SHIFTED, "all", "all"),
            ("income", "region", "west"),
            ("loan_purpose", "all", "all"),
        ]
        for feature, attribute, value in cases:
            ref, cur, _, _ = aligned(world, day, feature, attribute, value)
            expected = psi_js_bounds(ref, cur)
            for method in ("psi", "js"):
                row = one(rows, feature, method, attribute, value)
                _, lower, upper = expected[method]
                assert row.lower == pytest.approx(lower, rel=1e-5, abs=1e-12), (day, feature)
                assert row.upper == pytest.approx(upper, rel=1e-5, abs=1e-12), (day, feature)
        # Every psi and js row with both sides has bounds; the decision is still the
        # statistic against the threshold; ks and chi2 have none.
        distances = rows[rows.method.isin(["psi", "js"]) & rows.statistic.notna()]
        assert distances[["lower", "upper"]].notna().all().all()
        judged = distances[distances.sufficient]
        assert (judged.drifted == (judged.statistic >= judged.threshold)).all()
        assert rows.loc[rows.method.isin(["ks", "chi2"]), ["lower", "upper"]].isna().all().all()
    shifted = one(drift_rows(world, SHIFT_DAYS[0]), SHIFTED, "psi")
    assert shifted.lower > shifted.threshold  # the 1 SD shift is beyond doubt


def test_ks_matches_scipy_on_the_binned_data(world):
    day = SHIFT_DAYS[0]
    rows = drift_rows(world, day)
    for feature, attribute, value in ((SHIFTED, "all", "all"), ("income", "age_band", "61+")):
        ref, cur, _, _ = aligned(world, day, feature, attribute, value)
        index = np.arange(len(ref))
        expected = sps.ks_2samp(
            np.repeat(index, ref.astype(int)), np.repeat(index, cur.astype(int)), method="asymp"
        )
        row = one(rows, feature, "ks", attribute, value)
        assert row.statistic == pytest.approx(expected.statistic, rel=1e-12)
        # scipy's formula up to the cut-off, the corrected Kolmogorov limit above it.
        effective_n = round(ref.sum() * cur.sum() / (ref.sum() + cur.sum()))
        if effective_n <= KS_EXACT_MAX_N:
            assert row.p_value == pytest.approx(expected.pvalue, rel=1e-6, abs=1e-300)
        else:
            assert row.p_value == pytest.approx(expected.pvalue, abs=1.5e-4)


def test_chi_square_matches_scipy_on_the_stored_counts(world):
    day = SHIFT_DAYS[0]
    rows = drift_rows(world, day)
    for feature in ("employment_type", "loan_purpose"):
        ref, cur, _, _ = aligned(world, day, feature)
        keep = (ref + cur) > 0
        expected = sps.chi2_contingency(np.vstack([ref[keep], cur[keep]]), correction=False)
        row = one(rows, feature, "chi2")
        assert row.statistic == pytest.approx(expected.statistic, rel=1e-9)
        assert row.p_value == pytest.approx(expected.pvalue, rel=1e-9)


def test_benjamini_hochberg_over_the_days_p_value_tests_matches_statsmodels(world):
    for day in (HEALTHY_DAYS[0], SHIFT_DAYS[0]):
        rows = drift_rows(world, day)
        family = rows[rows.p_value_adjusted.notna()]
        # The family: every sufficient ks, chi2, psi and js test of the model and day.
        expected_family = rows[rows.method.isin(["ks", "chi2", "psi", "js"]) & rows.sufficient]
        assert sorted(family.index) == sorted(expected_family.index)
        assert len(family) > 50
        assert rows[rows.method == "null_rate_change"].p_value.isna().all()
        # One hypothesis per histogram and test: psi, js and chi2 share Pearson's test of
        # the bins (one p-value), ks is its own.
        keys = ["model_version", "cohort_attribute", "cohort_value", "feature"]
        family = family.assign(hypothesis=np.where(family.method == "ks", "ks", "binned"))
        assert family.groupby([*keys, "hypothesis"]).p_value.nunique().max() == 1
        unique = family.drop_duplicates([*keys, "hypothesis"])
        _, adjusted, _, _ = multipletests(unique.p_value.to_numpy(), method="fdr_bh")
        expected = unique.assign(expected=adjusted)[[*keys, "hypothesis", "expected"]]
        merged = family.merge(expected, on=[*keys, "hypothesis"])
        np.testing.assert_allclose(merged.p_value_adjusted, merged.expected, rtol=1e-12)
        tests = family[family.method.isin(["ks", "chi2"])]
        assert (tests.drifted == (tests.p_value_adjusted < tests.threshold)).all()
        distances = family[family.method.isin(["psi", "js"])]
        expected_flags = (distances.statistic >= distances.threshold) & (
            distances.p_value_adjusted < FDR_LEVEL
        )
        assert (distances.drifted == expected_flags).all()


def test_bins_are_fitted_once_on_the_first_window_like_the_core_fitters(world):
    bins = read(
        world.engine, "SELECT * FROM monitoring.feature_bins WHERE model_name = :m", m=MODEL
    )
    assert set(bins.feature) == set(watched_features(world.config, MODEL))
    assert set(bins.fitted_from) == {START} and set(bins.fitted_to) == {date(2026, 10, 3)}
    assert set(bins.run_id) == {"test-run"}
    raw = raw_rows(world, START, date(2026, 10, 3))
    by_feature = bins.set_index("feature")
    score = fit_numeric_bins(raw.score, n_bins=10)
    np.testing.assert_allclose(by_feature.loc["score", "edges"], score.inner_edges, rtol=1e-12)
    for feature in ("income", "credit_history_months", SHIFTED):
        values = raw.features.map(lambda f, name=feature: f.get(name)).astype(float)
        expected = fit_numeric_bins(values, n_bins=10)
        np.testing.assert_allclose(
            by_feature.loc[feature, "edges"], expected.inner_edges, rtol=1e-12
        )
        assert by_feature.loc[feature, "n_bins_requested"] == 10
        assert by_feature.loc[feature, "fitted_values"] == values.notna().sum()
    purpose = raw.features.map(lambda f: f.get("loan_purpose"))
    assert list(by_feature.loc["loan_purpose", "categories"]) == fit_categories(purpose)
    assert by_feature.loc["loan_purpose", "max_categories"] == 50
    # Only the run that found the window complete fitted them; later runs reused them.
    fitted = {day: r.bins_fitted for day, r in world.results.items() if r.bins_fitted}
    assert list(fitted) == [date(2026, 10, 3)]


def test_large_fitting_windows_fit_on_a_deterministic_id_hash_sample(world, monkeypatch):
    from monitoring_pipeline.pipeline import drift as drift_pipeline

    window = (START, date(2026, 10, 3))
    monkeypatch.setattr(drift_pipeline, "FIT_SAMPLE_ROWS", 400)
    with world.engine.connect() as conn:
        total = conn.execute(
            sa.text(
                "SELECT count(*) FROM monitoring.labeled_predictions "
                "WHERE model_name = :m AND partition_date BETWEEN :a AND :b"
            ),
            {"m": MODEL, "a": window[0], "b": window[1]},
        ).scalar_one()
        every = -(-total // 400)
        assert every > 1
        sampled = drift_pipeline._numeric_fitting_values(conn, MODEL, ["score", "income"], window)
        again = drift_pipeline._numeric_fitting_values(conn, MODEL, ["score", "income"], window)
    raw = read(
        world.engine,
        "SELECT score FROM monitoring.labeled_predictions WHERE model_name = :m "
        "AND partition_date BETWEEN :a AND :b AND (hashtext(prediction_id) & 2147483647) % :k = 0",
        m=MODEL,
        a=window[0],
        b=window[1],
        k=every,
    )
    assert sorted(sampled["score"]) == sorted(raw.score)  # exactly the hash residue class
    assert 0.5 * total / every < len(raw) < 1.5 * total / every
    np.testing.assert_array_equal(np.sort(sampled["income"]), np.sort(again["income"]))


# --------------------------------------------------------------------------------------
# No baseline, reruns, the Dagster asset
# --------------------------------------------------------------------------------------


def test_days_inside_the_first_window_have_no_baseline(world):
    kinds = watched_features(world.config, MODEL)
    for day in (START, date(2026, 10, 2)):  # before the window was complete: no bins yet
        rows = drift_rows(world, day)
        assert (rows.status == "no_baseline").all()
        assert set(zip(rows.cohort_attribute, rows.cohort_value, strict=True)) == {("all", "all")}
        # Four methods per feature; three per attribution (no null_rate_change).
        attributions = world.config.models[MODEL].attribution_columns
        assert len(rows) == sum(3 if f in attributions else 4 for f in kinds)
        assert rows.statistic.isna().all() and rows.drifted.isna().all()
        assert rows.n_current.isna().all() and rows.baseline_from.isna().all()
        assert "not materialized" in world.results[day].baseline_description
    rows = drift_rows(world, date(2026, 10, 3))  # the bins exist, the day helped fit them
    assert (rows.status == "no_baseline").all() and rows.drifted.isna().all()
    assert rows.statistic.isna().all() and (rows.n_reference == 0).all()
    assert rows.cohort_attribute.nunique() == 4  # all + sex, age_band, region
    assert (rows.baseline_days == 0).all() and rows.baseline_to.isna().all()
    # Their histograms were stored when the bins were fitted, for later baselines.
    assert world.results[date(2026, 10, 4)].backfilled_days == [START, date(2026, 10, 2)]
    first = read(
        world.engine,
        "SELECT DISTINCT partition_date FROM monitoring.feature_histograms WHERE model_name = :m",
        m=MODEL,
    )
    assert set(first.partition_date) == set(_days(START, END))


def counted_from_rows(world: World, day: date, bins, attributes, chunk_rows: int):
    """The day's histograms counted from its stored rows (drift's read-back path)."""
    counted = DayHistograms(bins, attributes)
    for chunk in iter_feature_values(
        world.engine, MODEL, day, numeric_features=counted.numeric_features,
        categorical_features=counted.categorical_features,
        cohort_attributes=counted.cohort_attributes, chunk_rows=chunk_rows,
    ):  # fmt: skip
        counted.add(chunk)
    return counted.frame()


def test_chunks_merge_into_the_same_day(world):
    bins = ensure_bins(
        world.engine, world.config, MODEL, drift_settings(world.config, MODEL), _audit()
    ).bins
    attributes = list(world.config.models[MODEL].cohorts.attributes)
    whole = counted_from_rows(world, NULLS_DAY, bins, attributes, chunk_rows=1_000_000)
    chunked = counted_from_rows(world, NULLS_DAY, bins, attributes, chunk_rows=97)
    pd.testing.assert_frame_equal(whole, chunked)
    assert whole["count"].sum() > 0


def test_days_ingested_on_fitted_bins_are_counted_as_their_rows_are_written(world):
    """Ingestion counts a day's histograms when the bins exist (fitted by the first day
    after the 3-day fitting window): drift stores exactly the counts of the stored rows."""
    bins = ensure_bins(
        world.engine, world.config, MODEL, drift_settings(world.config, MODEL), _audit()
    ).bins
    attributes = list(world.config.models[MODEL].cohorts.attributes)
    checksum = histograms_checksum(bins, attributes)
    for day in _days(START, END):
        ingested = ingested_histograms(world.engine, MODEL, day, checksum)
        # Ingested after drift fitted the bins (the 4th day's run; earlier days may have
        # been ingested again since, by other tests of this world).
        if day > START + timedelta(days=3):
            assert not ingested.empty, day
        from_rows = counted_from_rows(world, day, bins, attributes, chunk_rows=97)
        taken = compute_day_histograms(world.engine, MODEL, day, bins, attributes)
        pd.testing.assert_frame_equal(taken, from_rows, obj=str(day))
        stored = read(
            world.engine,
            "SELECT cohort_attribute, cohort_value, feature, feature_kind, bin, count "
            "FROM monitoring.feature_histograms WHERE model_name = :m AND partition_date = :d",
            m=MODEL, d=day,
        )  # fmt: skip
        assert len(stored) == len(from_rows) and stored["count"].sum() == from_rows["count"].sum()
    # Other cohort attributes than those counted at ingestion: the rows are counted again.
    fewer = attributes[:1]
    taken = compute_day_histograms(world.engine, MODEL, END, bins, fewer)
    pd.testing.assert_frame_equal(taken, counted_from_rows(world, END, bins, fewer, 97))
    assert set(taken.cohort_attribute) == {"all", fewer[0]}


def test_the_asset_reruns_a_partition_without_changing_the_tables(world, dagster_instance):
    before = snapshot(world.engine)
    day = SHIFT_DAYS[0]
    asset = build_drift_asset(
        world.config,
        MODEL,
        daily_partitions(world.config.partitions_start),
        upstream=dg.AssetKey([MODEL, "labeled_predictions"]),
        properties={"owners": ["team:credit-risk"], "code_version": "1+abc"},
    )
    assert asset.key == dg.AssetKey([MODEL, "drift"])
    assert asset.specs_by_key[asset.key].owners == ["team:credit-risk"]
    assert asset.code_versions_by_key[asset.key] == "1+abc"
    assert asset.group_names_by_key[asset.key] == MODEL
    result = dg.materialize(
        [asset],
        partition_key=day.isoformat(),
        resources={"monitoring_db": MonitoringDatabase(database_url=world.url)},
        instance=dagster_instance,
    )
    assert result.success
    after = snapshot(world.engine)
    for name in DRIFT_TABLES:
        pd.testing.assert_frame_equal(before[name], after[name], obj=name)
    rows = drift_rows(world, day)
    assert set(rows.run_id) == {result.run_id}

    (materialization,) = result.asset_materializations_for_node(asset.node_def.name)
    metadata = materialization.metadata
    assert metadata["dagster/row_count"].value == len(rows)
    assert metadata["drifted_tests"].value == rows.drifted.fillna(False).sum()
    assert metadata["p_value_tests"].value == rows.p_value_adjusted.notna().sum()
    assert metadata["baseline_from"].value == "2026-10-03"
    assert metadata["baseline"].value == "2026-10-03..2026-10-05: 3 of 3 days found"
    table = metadata["drifted_features"]
    assert [c.name for c in table.schema.columns] == [
        "feature", "cohort", "method", "statistic", "threshold", "p_value_adjusted",
    ]  # fmt: skip
    # Strongest evidence first: the shifted feature or its attribution (the same shift).
    attribution = world.config.models[MODEL].attributions[SHIFTED]
    assert table.records[0].data["feature"] in (SHIFTED, attribution)
    assert metadata["drift_flags"].value == rows.drifted.fillna(False).sum() > 0
    (check,) = result.get_asset_check_evaluations()
    assert check.check_name == "no_flagged_drift" and check.partition == day.isoformat()
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert check.metadata["drift_flags"].value == metadata["drift_flags"].value


def test_rerunning_with_the_step_is_idempotent_too(world):
    before = snapshot(world.engine)
    build_drift(world.engine, world.config, MODEL, HEALTHY_DAYS[0], _audit("another-run"))
    after = snapshot(world.engine)
    for name in DRIFT_TABLES:
        pd.testing.assert_frame_equal(before[name], after[name], obj=name)


# --------------------------------------------------------------------------------------
# Fixed baseline, refit rule, out-of-order runs, settings, odd feature values
# --------------------------------------------------------------------------------------


def test_fixed_baseline_refit_rule_and_run_order(pg_admin_url, tmp_path):
    engine = create_engine(_fresh_database(pg_admin_url))
    try:
        _publish(engine, tmp_path, volume=300)
        fixed = {"start": "2026-10-01", "end": "2026-10-02", "bins": 5}
        config = _config(tmp_path, fixed)
        for day in (START, date(2026, 10, 3)):
            build_labeled_predictions(engine, config, MODEL, day, _audit())
        # Day 2 of the fixed window is missing: nothing can be fitted yet.
        waiting = build_drift(engine, config, MODEL, date(2026, 10, 3), _audit())
        assert waiting.bins_fitted == [] and waiting.statuses == {"no_baseline": waiting.rows}
        assert "1 of 2 days" in waiting.baseline_description

        build_labeled_predictions(engine, config, MODEL, date(2026, 10, 2), _audit())
        first = build_drift(engine, config, MODEL, date(2026, 10, 3), _audit())
        # The score, 9 features and the 7 numeric features' attributions.
        assert len(first.bins_fitted) == 10 + len(config.models[MODEL].attributions)
        assert first.backfilled_days == [START, date(2026, 10, 2)]
        assert first.statuses.get("ok") == first.rows
        assert (first.baseline_from, first.baseline_to, first.baseline_days) == (
            START,
            date(2026, 10, 2),
            2,
        )
        inside = build_drift(engine, config, MODEL, START, _audit())
        assert inside.statuses == {"no_baseline": inside.rows}

        again = build_drift(engine, config, MODEL, date(2026, 10, 3), _audit())
        assert again.bins_fitted == [] and again.backfilled_days == []

        # A new bins count refits the numeric features only; the window is rebuilt on them.
        config4 = _config(tmp_path, {**fixed, "bins": 4})
        refit = build_drift(engine, config4, MODEL, date(2026, 10, 3), _audit())
        categorical = set(config4.models[MODEL].features.categorical)
        assert set(refit.bins_fitted) == set(watched_features(config4, MODEL)) - categorical
        assert refit.backfilled_days == [START, date(2026, 10, 2)]
        assert refit.statuses.get("ok") == refit.rows
        bins = read(engine, "SELECT * FROM monitoring.feature_bins")
        numeric = bins[bins.feature_kind == "numeric"]
        assert set(numeric.n_bins_requested) == {4}
        # Discrete features keep one bin per value whatever the bins count.
        assert (numeric[~numeric.discrete].edges.map(len) <= 3).all()
        assert (numeric[numeric.discrete].edges.map(len) > 3).all()
        histograms = read(
            engine,
            "SELECT h.partition_date, count(*) AS n FROM monitoring.feature_histograms h "
            "JOIN monitoring.feature_bins b USING (model_name, feature, bins_checksum) "
            "GROUP BY 1",
        )
        assert set(histograms.partition_date) == {START, date(2026, 10, 2), date(2026, 10, 3)}

        # Configurable thresholds (here passed as settings; see drift_settings).
        strict = resolve_drift_settings({"psi": 1e-6}, min_count_distance=1)
        result = build_drift(engine, config4, MODEL, date(2026, 10, 3), _audit(), settings=strict)
        rows = read(engine, "SELECT * FROM monitoring.drift WHERE partition_date = '2026-10-03'")
        psi = rows[rows.method == "psi"]
        assert set(psi.threshold) == {1e-6} and psi.sufficient.all()
        # Every PSI reaches 1e-6: the flag is then the evidence (adjusted p < the FDR level).
        assert (psi.drifted == (psi.p_value_adjusted < FDR_LEVEL)).all()
        assert result.drifted_tests >= psi.drifted.sum()
    finally:
        engine.dispose()


def test_drift_settings_come_from_the_validated_config_block(tmp_path):
    from monitoring_pipeline.config import ConfigError
    from monitoring_pipeline.demo.publish import demo_config

    raw = demo_config(date(2026, 10, 1), tmp_path)
    raw["models"]["loan_approval"]["drift"] = {
        "thresholds": {"psi": 0.1, "chi2": 0.01},
        "min_count": 30,
    }
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(raw))
    config = load_config(path)
    assert drift_settings(config, "job_screening") == resolve_drift_settings()
    tuned = drift_settings(config, "loan_approval")
    assert (tuned.thresholds["psi"], tuned.thresholds["chi2"], tuned.min_count) == (0.1, 0.01, 30)

    raw["models"]["loan_approval"]["drift"] = {"thresholds": {"kl": 1.0}}
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=r"models\.loan_approval\.drift\.thresholds\.kl"):
        load_config(path)
    raw["models"]["loan_approval"]["drift"] = {}
    raw["models"]["loan_approval"]["features"]["numeric"].append("score")
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match="'score' is watched for drift already"):
        load_config(path)


def test_discrete_numeric_feature_gets_value_bins_and_chi_square(world):
    discrete = "num_open_accounts"  # 17 distinct values in the demo's traffic
    bins = read(
        world.engine, "SELECT * FROM monitoring.feature_bins WHERE model_name = :m", m=MODEL
    ).set_index("feature")
    raw = raw_rows(world, START, date(2026, 10, 3))
    values = raw.features.map(lambda f: f.get(discrete)).astype(float).dropna()
    assert values.nunique() <= 20
    assert bins.loc[discrete, "discrete"]
    np.testing.assert_array_equal(bins.loc[discrete, "edges"], np.unique(values))
    assert not bins.loc["income", "discrete"] and not bins.loc["loan_purpose", "discrete"]

    day = SHIFT_DAYS[0]
    rows = drift_rows(world, day)
    methods = set(rows[rows.feature == discrete].method)
    assert methods == {"psi", "js", "chi2", "null_rate_change"}  # chi2 in place of ks
    assert "ks" in set(rows[rows.feature == "income"].method)
    # The test against scipy on the raw values of the baseline window and the day, each
    # value in its bin: itself, or the nearest smaller baseline value for a value the
    # fitting rows never held.
    row = one(rows, discrete, "chi2")
    window = raw_rows(world, row.baseline_from, day)
    window_values = window.features.map(lambda f: f.get(discrete)).astype(float)
    present = window_values.notna().to_numpy()
    value_bin = np.searchsorted(np.unique(values), window_values[present], side="right")
    is_day = (window.partition_date == day).to_numpy()[present]
    table = pd.crosstab(is_day, value_bin).to_numpy()
    expected = sps.chi2_contingency(table, correction=False)
    assert row.statistic == pytest.approx(expected.statistic, rel=1e-9)
    assert row.p_value == pytest.approx(expected.pvalue, rel=1e-9)
    # And on the stored counts, as for categorical features.
    ref, cur, _, _ = aligned(world, day, discrete)
    keep = (ref + cur) > 0
    stored = sps.chi2_contingency(np.vstack([ref[keep], cur[keep]]), correction=False)
    assert row.statistic == pytest.approx(stored.statistic, rel=1e-9)
    assert row.p_value_adjusted >= row.p_value and row.threshold == pytest.approx(0.05)


def test_attributions_drift_like_features_in_the_same_family(world):
    """The logged attributions are watched like numeric features: the shifted feature's
    attribution drifts on the shift days, the nulled feature's (imputed: 0) on the nulls
    day, and neither on the healthy days; they share the day's Benjamini-Hochberg family."""
    attribution = world.config.models[MODEL].attributions
    shifted, nulled = attribution[SHIFTED], attribution["debt_to_income"]
    for day in SHIFT_DAYS:
        rows = drift_rows(world, day)
        assert bool(one(rows, shifted, "ks").drifted) and bool(one(rows, shifted, "psi").drifted)
    rows = drift_rows(world, NULLS_DAY)
    assert bool(one(rows, nulled, "ks").drifted)
    for day in HEALTHY_DAYS:
        rows = drift_rows(world, day)
        judged = rows[rows.feature.isin(list(attribution.values())) & rows.sufficient]
        assert len(judged) > 0 and not judged.drifted.fillna(False).astype(bool).any()
        # One family: the attributions' tests are adjusted with the features' ones.
        family = rows[rows.p_value_adjusted.notna()]
        assert set(judged.feature) <= set(family.feature)
        assert set(family.feature) - set(attribution.values())
        # Their values are tested, not their presence (a version may log none).
        mine = rows[rows.feature.isin(list(attribution.values()))]
        assert set(mine.method) == {"psi", "ks", "js"}
