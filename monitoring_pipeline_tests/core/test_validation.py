"""Row-level validation: which rows are quarantined, and with which reasons."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from monitoring_pipeline.core.validation import (
    coerce_labels,
    coerce_predictions,
    split_malformed_labels,
    split_malformed_predictions,
)

DAY = date(2026, 11, 1)
COHORTS = {"sex": ["female", "male"], "region": ["north", "west"]}


def clean_rows(n: int = 6) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "prediction_id": [f"p{i}" for i in range(n)],
            "scored_at": pd.date_range("2026-11-01 01:00", periods=n, freq="h", tz="UTC"),
            "model_version": "v1",
            "score": np.linspace(0.1, 0.9, n),
            "decision": (np.linspace(0.1, 0.9, n) >= 0.5).astype(int),
            "sex": ["female", "male"] * (n // 2),
            "region": ["north"] * n,
            "income": np.arange(n, dtype=float),
        }
    )


def split(frame: pd.DataFrame, **kwargs):
    return split_malformed_predictions(
        coerce_predictions(frame), day=DAY, cohort_values=COHORTS, **kwargs
    )


def test_clean_rows_all_pass_and_features_may_be_null():
    frame = clean_rows()
    frame.loc[2, "income"] = np.nan  # a missing feature is a quality signal, not a malformed row
    result = split(frame)
    assert len(result.valid) == 6
    assert result.quarantined.empty
    assert result.valid["decision"].dtype == np.int16


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("prediction_id", None, "prediction_id missing"),
        ("prediction_id", "  ", "prediction_id missing"),
        ("scored_at", "not a time", "scored_at missing or not a time"),
        ("scored_at", "2026-11-02 00:00:00+00:00", "scored_at outside the partition day"),
        ("model_version", None, "model_version missing"),
        ("score", 1.5, "score outside [0, 1]"),
        ("score", -0.1, "score outside [0, 1]"),
        ("score", "abc", "score missing or not a number"),
        ("decision", 2, "decision not 0 or 1"),
        ("decision", None, "decision not 0 or 1"),
        ("sex", None, "sex missing"),
        ("region", "atlantis", "region value 'atlantis' not allowed"),
    ],
)
def test_each_malformation_is_quarantined_with_its_reason(column, value, reason):
    frame = clean_rows().astype({column: object})
    frame.loc[3, column] = value
    result = split(frame)
    assert result.reasons.to_dict() == {3: reason}
    assert list(result.quarantined.index) == [3]
    assert len(result.valid) == 5


def test_several_reasons_on_one_row_are_all_reported():
    frame = clean_rows().astype({"score": object})
    frame.loc[0, ["score", "decision", "region"]] = [7.0, 3, "mars"]
    assert (
        split(frame).reasons[0]
        == "score outside [0, 1]; decision not 0 or 1; region value 'mars' not allowed"
    )


def test_exact_duplicate_keeps_first_copy_conflicting_duplicates_keep_none():
    frame = clean_rows()
    retry = frame.iloc[[1]]
    conflicting = frame.iloc[[2]].assign(score=0.99)
    frame = pd.concat([frame, retry, conflicting], ignore_index=True)
    result = split(frame)
    assert result.reasons.to_dict() == {
        2: "duplicate prediction_id with conflicting content",
        6: "duplicate prediction_id (exact copy of an earlier row)",
        7: "duplicate prediction_id with conflicting content",
    }
    assert sorted(result.valid["prediction_id"]) == ["p0", "p1", "p3", "p4", "p5"]


def test_threshold_replaces_logged_decision():
    frame = clean_rows().assign(decision=np.nan)
    result = split(frame, decision_from_threshold=0.5)
    expected = (result.valid["score"] >= 0.5).astype("int16")
    assert (result.valid["decision"] == expected).all()
    assert expected.sum() == 3


def test_nothing_is_lost():
    frame = clean_rows(10).astype({"score": object})
    frame.loc[[1, 4, 7], "score"] = ["x", 3.0, None]
    result = split(frame)
    assert len(result.valid) + len(result.quarantined) == len(frame)
    assert set(result.valid.index).isdisjoint(result.quarantined.index)


def test_label_rules():
    scored_at = pd.Series({"p1": pd.Timestamp("2026-11-01 10:00", tz="UTC")})
    raw = pd.DataFrame(
        {
            "prediction_id": ["p1", "p1", None, "p1", "p1", "p1", "p1"],
            "label": [1, 0, 1, 5, 1, 1, 0],
            "labelled_at": [
                "2026-11-03 00:00Z", "2026-11-04 00:00Z", "2026-11-03 00:00Z", "2026-11-05 00:00Z",
                "2026-11-01 09:00Z", "2026-11-06 00:00Z", "2026-11-06 00:00Z",
            ],
        }
    )  # fmt: skip
    result = split_malformed_labels(coerce_labels(raw), scored_at)
    assert result.reasons.to_dict() == {
        2: "prediction_id missing",
        3: "label not 0 or 1",
        4: "labelled before the prediction was scored",
        5: "conflicting labels delivered at the same time",
        6: "conflicting labels delivered at the same time",
    }
    assert result.valid.index.tolist() == [0, 1]


def test_label_rules_with_no_valid_predictions():
    # A chunk of a streamed day can hold no valid prediction: labels are then judged
    # without a scoring time instead of failing.
    no_times = pd.Series([], dtype="datetime64[us, UTC]", index=pd.Index([], dtype="string"))
    raw = pd.DataFrame(
        {"prediction_id": ["p1", "p2"], "label": [1, 7], "labelled_at": ["2026-11-03 00:00Z"] * 2}
    )
    result = split_malformed_labels(coerce_labels(raw), no_times)
    assert result.reasons.to_dict() == {1: "label not 0 or 1"}
    assert result.valid.index.tolist() == [0]


def test_coercing_and_splitting_leave_the_callers_frames_as_they_were():
    frame = clean_rows()
    frame.loc[1, "sex"] = " male "  # cleaned in the split's copy only
    frame["score"] = frame["score"].astype(object)
    frame.loc[2, "score"] = "0.7"  # parsed in the coerced copy only
    original = frame.copy()
    coerced = coerce_predictions(frame)
    coerced_before = coerced.copy()
    result = split_malformed_predictions(
        coerced, day=DAY, cohort_values=COHORTS, decision_from_threshold=0.5
    )
    pd.testing.assert_frame_equal(frame, original)
    pd.testing.assert_frame_equal(coerced, coerced_before)
    assert result.valid.loc[1, "sex"] == "male" and coerced.loc[1, "sex"] == " male "
    labels = pd.DataFrame(
        {"prediction_id": [" p1 "], "label": ["1"], "labelled_at": ["2026-11-02 00:00:00+00:00"]}
    )
    labels_before = labels.copy()
    assert coerce_labels(labels).loc[0, "prediction_id"] == "p1"
    pd.testing.assert_frame_equal(labels, labels_before)
