"""Great Expectations checks on clean and dirty prediction logs."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from monitoring_pipeline.quality.expectations import (
    GX_BATCH_ROWS,
    QualitySpec,
    run_expectations,
    summarize_checks,
)

COHORTS = {"sex": ["female", "male"]}


def log(n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    score = rng.random(n)
    return pd.DataFrame(
        {
            "prediction_id": [f"p{i}" for i in range(n)],
            "scored_at": pd.date_range("2026-11-01", periods=n, freq="min", tz="UTC"),
            "model_version": "v1",
            "score": score,
            "decision": (score >= 0.5).astype(int),
            "sex": rng.choice(["female", "male"], n),
            "income": rng.normal(50, 10, n),
            "purpose": rng.choice(["car", "home"], n),
        }
    )


SPEC = QualitySpec(
    cohort_values=COHORTS,
    numeric_features=["income"],
    categorical_features=["purpose"],
    max_malformed_share=0.01,
    max_feature_null_share=0.05,
    row_count_range=(300, 500),
)


def checks(frame: pd.DataFrame, spec: QualitySpec = SPEC) -> dict:
    return summarize_checks(run_expectations(frame, spec))


def outcome(outcomes, expectation: str, column: str | None):
    (match,) = [o for o in outcomes if o.expectation == expectation and o.column_name == column]
    return match


def test_clean_log_passes_every_check():
    result = checks(log())
    assert {name: c["passed"] for name, c in result.items()} == {
        "schema": True,
        "keys_and_ranges": True,
        "cohort_values": True,
        "row_count": True,
        "feature_nulls": True,
    }
    assert result["keys_and_ranges"]["evaluated"] == 8  # 4 not-null, unique, range, decision x2


def test_few_bad_scores_pass_within_tolerance_and_are_counted():
    frame = log()
    frame.loc[[5, 9], "score"] = [1.7, -0.2]  # 0.5% of rows: below the 1% tolerance
    outcomes = run_expectations(frame, SPEC)
    between = outcome(outcomes, "expect_column_values_to_be_between", "score")
    assert between.success
    assert between.unexpected_count == 2
    assert between.unexpected_share == pytest.approx(2 / 400)


def test_many_bad_scores_fail_the_blocking_check():
    frame = log()
    frame.loc[:9, "score"] = 3.0  # 2.5%
    result = checks(frame)
    assert not result["keys_and_ranges"]["passed"] and result["keys_and_ranges"]["blocking"]
    assert any(
        "expect_column_values_to_be_between(score): 10 unexpected (2.50%)" in f
        for f in result["keys_and_ranges"]["failed"]
    )


def test_duplicate_ids_and_invalid_decisions_are_detected():
    frame = log()
    frame.loc[:7, "prediction_id"] = "same"
    frame.loc[20:29, "decision"] = 2
    outcomes = run_expectations(frame, SPEC)
    assert not outcome(outcomes, "expect_column_values_to_be_unique", "prediction_id").success
    in_set = outcome(outcomes, "expect_column_values_to_be_in_set", "decision")
    assert (in_set.success, in_set.unexpected_count) == (False, 10)


def test_unparseable_times_count_as_missing():
    frame = log().astype({"scored_at": object})
    frame.loc[:9, "scored_at"] = "yesterday-ish"
    outcomes = run_expectations(frame, SPEC)
    not_null = outcome(outcomes, "expect_column_values_to_not_be_null", "scored_at")
    assert (not_null.success, not_null.unexpected_count) == (False, 10)


def test_unknown_cohort_values_fail_cohort_check():
    frame = log()
    frame.loc[:19, "sex"] = "unknown"
    result = checks(frame)
    assert not result["cohort_values"]["passed"]
    assert result["keys_and_ranges"]["passed"]


def test_feature_nulls_fail_a_non_blocking_check():
    frame = log()
    frame.loc[:39, "income"] = np.nan  # 10% > 5%
    result = checks(frame)
    assert not result["feature_nulls"]["passed"] and not result["feature_nulls"]["blocking"]
    assert all(
        result[name]["passed"]
        for name in ("schema", "keys_and_ranges", "cohort_values", "row_count")
    )


def test_missing_column_and_wrong_type_fail_schema():
    frame = log().drop(columns=["purpose"]).astype({"score": str})
    outcomes = run_expectations(frame, SPEC)
    assert not outcome(outcomes, "expect_table_columns_to_match_set", None).success
    assert not outcome(outcomes, "expect_column_values_to_be_in_type_list", "score").success
    assert not checks(frame)["schema"]["passed"]


def test_row_count_outside_range_fails():
    assert not checks(log(250))["row_count"]["passed"]
    assert checks(log(250), QualitySpec(cohort_values=COHORTS))["row_count"]["passed"]  # no history
    assert not checks(log(0), QualitySpec(cohort_values=COHORTS))["row_count"][
        "passed"
    ]  # empty day


def dirty_log(n: int) -> pd.DataFrame:
    """Every kind of bad value, with repeated ids far apart (so they land in different
    chunks), raw-equal and equal only after stripping blanks."""
    frame = log(n).astype({"scored_at": object, "prediction_id": object, "decision": object})
    frame.loc[[0, n - 1], "prediction_id"] = "twin"  # first and last row
    frame.loc[[5, n // 2], "prediction_id"] = ["pad", " pad "]  # equal once stripped
    frame.loc[[7, 8], "prediction_id"] = [None, ""]
    frame.loc[[3, n - 3], "score"] = [1.5, np.nan]
    frame.loc[[4, 11], "decision"] = [2, None]
    frame.loc[[6, 12], "sex"] = ["unknown", None]
    frame.loc[[9], "scored_at"] = "yesterday-ish"
    frame.loc[10:13, "income"] = np.nan
    return frame


def chunked(frame: pd.DataFrame, spec: QualitySpec, chunk_rows: int, batch_rows: int):
    from monitoring_pipeline.quality.expectations import ChunkedExpectations

    quality = ChunkedExpectations(spec, list(frame.columns), batch_rows=batch_rows)
    for start in range(0, max(len(frame), 1), chunk_rows):
        quality.add(frame.iloc[start : start + chunk_rows])
    ids = frame["prediction_id"].dropna()
    return quality.finish(duplicated_id_rows=int(ids.duplicated(keep=False).sum()))


@pytest.mark.parametrize(
    ("rows", "chunk_rows", "batch_rows", "tolerance"),
    [
        (30, 1, 1, 0.2),  # one GX run per row
        (30, 4, 4, 0.01),
        (60, 7, 10, 0.06),  # runs of two chunks (14 rows) and a last one of 4
        (400, 64, 150, 0.01),  # runs of three chunks, the repeats in different runs
        (400, 399, 399, 0.01),
        (400, 64, GX_BATCH_ROWS, 0.01),  # the default: the day's chunks in one run
    ],
)
def test_chunked_outcomes_equal_the_whole_day_run(rows, chunk_rows, batch_rows, tolerance):
    frame = dirty_log(rows)
    spec = QualitySpec(
        cohort_values=COHORTS,
        numeric_features=["income"],
        categorical_features=["purpose"],
        max_malformed_share=tolerance,
        row_count_range=(rows // 2, rows * 2),
    )
    whole = run_expectations(frame, spec)
    merged = chunked(frame, spec, chunk_rows, batch_rows)
    assert merged == whole
    # The merge saw the repeat across chunks: both "twin" rows are unexpected, while "pad"
    # and " pad " differ as raw values.
    unique = outcome(merged, "expect_column_values_to_be_unique", "prediction_id")
    assert unique.unexpected_count == 2


def test_gx_batches_are_not_fingerprinted():
    """GX would otherwise hash every row of each batch (a marker no one reads here): as
    slow as validating it. A GX upgrade that renames its threshold makes this fail."""
    from monitoring_pipeline.quality.expectations import _gx_context, _validator

    gx, context = _gx_context()
    validation = _validator(gx, context, "fingerprint", [])
    batch = validation.batch_definition.get_batch(batch_parameters={"dataframe": log(10)})
    assert "pandas_data_fingerprint" not in batch.batch_markers
    assert batch.batch_markers["ge_load_time"]


def test_great_expectations_imported_in_the_background_is_imported_once():
    """A step starts GX's import on a thread and asks its database meanwhile; its first
    suite then waits for that import instead of making a second context. Run in a fresh
    interpreter: this one has GX imported already."""
    script = textwrap.dedent(
        """
        import sys
        from monitoring_pipeline.quality import expectations
        assert "great_expectations" not in sys.modules
        expectations.import_great_expectations_in_background()
        first = expectations._gx_context()  # while the thread still imports: it waits
        assert expectations._gx_context() is first
        info = expectations._made_context.cache_info()
        print(info.misses, info.hits)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    misses, hits = map(int, done.stdout.split())
    assert misses == 1  # one context made, by whichever thread came first
    assert hits == 2


def test_the_suite_is_built_once_and_each_day_judged_by_its_own_row_count_bounds(monkeypatch):
    """Days of one model reuse its suite; the row count's bounds and basis change daily and
    are each day's own."""
    from monitoring_pipeline.quality import expectations

    built = []
    build = expectations._build_suite
    monkeypatch.setattr(
        expectations, "_build_suite", lambda *args: built.append(args) or build(*args)
    )
    monkeypatch.setattr(expectations, "_SUITES", {})
    frame = log(400)
    days = [((300, 500), "median 400 +- 25%"), ((450, 900), "median 600 +- 50%"), (None, "none")]
    found = []
    for bounds, basis in days:
        spec = QualitySpec(
            cohort_values=COHORTS,
            numeric_features=["income"],
            categorical_features=["purpose"],
            row_count_range=bounds,
            row_count_basis=basis,
        )
        for outcomes in (chunked(frame, spec, 64, 150), run_expectations(frame, spec)):
            count = outcome(outcomes, "expect_table_row_count_to_be_between", None)
            found.append((count.success, count.tolerance, count.observed_value))
    assert found == [
        (True, "median 400 +- 25%", "400"),
        (True, "median 400 +- 25%", "400"),
        (False, "median 600 +- 50%", "400"),
        (False, "median 600 +- 50%", "400"),
        (True, "none", "400"),
        (True, "none", "400"),
    ]
    assert len(built) == 2  # one chunked suite, one whole-frame suite, for three days
    # Another column set is another suite.
    chunked(frame.drop(columns=["purpose"]), spec, 64, 150)
    assert len(built) == 3
