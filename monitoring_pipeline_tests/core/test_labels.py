"""Label join edge cases, each against a hand-worked expectation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from monitoring_pipeline.core.labels import CrossDayTally, join_newest_labels


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


@pytest.fixture
def predictions() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "prediction_id": ["a", "b", "c", "d"],
            "scored_at": [
                ts("2026-11-01 00:00"),
                ts("2026-11-01 06:00"),
                ts("2026-11-01 12:00"),
                ts("2026-11-01 18:00"),
            ],
            "score": [0.9, 0.2, 0.6, 0.4],
        }
    )


def labels(*rows: tuple[str, int, str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "prediction_id": [r[0] for r in rows],
            "label": [float(r[1]) for r in rows],
            "labelled_at": [ts(r[2]) for r in rows],
        }
    )


def test_every_prediction_stays_and_keeps_its_order(predictions):
    joined = join_newest_labels(predictions, labels(("c", 1, "2026-11-03 12:00")))
    assert joined.frame["prediction_id"].tolist() == ["a", "b", "c", "d"]
    assert joined.frame["label"].isna().tolist() == [True, True, False, True]
    assert joined.frame["label_revisions"].tolist() == [0, 0, 1, 0]


def test_late_label_lag_is_hours_from_scoring_to_arrival(predictions):
    joined = join_newest_labels(predictions, labels(("b", 0, "2026-11-11 06:00")))
    row = joined.frame.set_index("prediction_id").loc["b"]
    assert row["label"] == 0
    assert row["label_lag_hours"] == pytest.approx(240.0)  # ten days


def test_corrected_label_uses_newest_value_and_first_arrival_for_lag(predictions):
    # Delivered out of order on purpose: the join must sort by labelled_at, not trust input order.
    joined = join_newest_labels(
        predictions,
        labels(
            ("a", 1, "2026-11-09 00:00"), ("a", 0, "2026-11-02 00:00"), ("a", 1, "2026-11-05 00:00")
        ),
    )
    row = joined.frame.set_index("prediction_id").loc["a"]
    assert row["label"] == 1
    assert row["label_revisions"] == 3
    assert row["first_labelled_at"] == ts("2026-11-02 00:00")
    assert row["labelled_at"] == ts("2026-11-09 00:00")
    assert row["label_lag_hours"] == pytest.approx(24.0)


def test_duplicate_identical_labels_count_as_revisions_but_keep_the_value(predictions):
    joined = join_newest_labels(
        predictions, labels(("d", 1, "2026-11-02 18:00"), ("d", 1, "2026-11-02 18:00"))
    )
    row = joined.frame.set_index("prediction_id").loc["d"]
    assert (row["label"], row["label_revisions"], row["label_lag_hours"]) == (
        1,
        2,
        pytest.approx(24.0),
    )


def test_labels_for_unknown_ids_are_counted_not_attached(predictions):
    joined = join_newest_labels(
        predictions,
        labels(
            ("zzz", 1, "2026-11-02 00:00"),
            ("a", 0, "2026-11-02 00:00"),
            ("yyy", 0, "2026-11-02 00:00"),
        ),
    )
    assert joined.labels_orphaned == 2
    assert joined.labels_used == 1
    assert len(joined.frame) == 4
    assert "zzz" not in set(joined.frame["prediction_id"])


def test_no_labels_at_all(predictions):
    joined = join_newest_labels(predictions, labels())
    assert joined.frame["label"].isna().all()
    assert joined.frame["label_lag_hours"].isna().all()
    assert str(joined.frame["label"].dtype) == "Int64"


# Text held by Arrow (str, string) is looked up by Arrow; anything else by pandas.
@pytest.mark.parametrize("dtype", ["str", "string", "object"])
def test_is_in_matches_pandas_isin_and_never_matches_nulls(dtype):
    from monitoring_pipeline.core.labels import is_in

    values = pd.Series(["a", "b", None, "c", "a"], dtype=dtype)
    candidates = pd.Series(["a", "c", None, "c"], dtype=dtype)
    assert is_in(values, candidates).tolist() == [True, False, False, True, True]
    assert is_in(values, candidates[:0]).tolist() == [False] * 5


@pytest.mark.parametrize("dtype", ["str", "string", "object"])
def test_positions_in_finds_each_values_key_as_get_indexer_does(dtype):
    from monitoring_pipeline.core.labels import positions_in

    rng = np.random.default_rng(2)
    keys = pd.Index([f"id-{i}" for i in range(50)], dtype=dtype)
    values = pd.Series(rng.choice([*keys, "other", None], 400), dtype=dtype)
    expected = np.array([keys.get_loc(v) if v in set(keys) else -1 for v in values.dropna()])
    found = positions_in(values, keys)
    assert found[values.isna().to_numpy()].tolist() == [-1] * int(values.isna().sum())
    assert found[values.notna().to_numpy()].tolist() == expected.tolist()
    assert positions_in(values, keys[:0]).tolist() == [-1] * len(values)


def test_no_predictions_and_no_labels_give_an_empty_typed_frame():
    # An empty day, or a chunk whose rows were all quarantined: ids cleaned by validation
    # (empty Arrow-backed strings, which pandas cannot join on).
    from monitoring_pipeline.core.validation import clean_text, coerce_labels

    predictions = pd.DataFrame(
        {
            "prediction_id": clean_text(pd.Series([], dtype=object)),
            "scored_at": pd.Series([], dtype="datetime64[us, UTC]"),
        }
    )
    empty = pd.Series([], dtype=object)
    labels = coerce_labels(
        pd.DataFrame({"prediction_id": empty, "label": empty, "labelled_at": empty})
    )
    joined = join_newest_labels(predictions, labels)
    assert len(joined.frame) == 0 and joined.labels_orphaned == 0
    assert str(joined.frame["label"].dtype) == "Int64"
    assert str(joined.frame["label_revisions"].dtype) == "int64"


def _reference_join(predictions: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """The join as pandas says it directly: newest label per id by a stable sort on (id,
    time), first and last time, count; attached by id."""
    matched = labels[labels["prediction_id"].isin(predictions["prediction_id"].dropna())]
    ordered = matched.sort_values(["prediction_id", "labelled_at"], kind="stable")
    grouped = ordered.groupby("prediction_id", sort=False)
    summary = pd.DataFrame(
        {
            "label": grouped["label"].last(),
            "first_labelled_at": grouped["labelled_at"].first(),
            "labelled_at": grouped["labelled_at"].last(),
            "label_revisions": grouped.size(),
        }
    )
    frame = predictions.join(summary, on="prediction_id")
    frame["label"] = frame["label"].astype("Int64")
    frame["label_revisions"] = frame["label_revisions"].fillna(0).astype("int64")
    frame["label_lag_hours"] = (
        (frame["first_labelled_at"] - frame["scored_at"]) / pd.Timedelta(hours=1)
    ).astype("float64")
    return frame


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_join_equals_a_direct_pandas_groupby_on_a_random_day(seed):
    """Corrections, several labels of one instant (same value, as validation leaves them),
    orphans, unlabelled predictions, ids in any order."""
    import numpy as np

    rng = np.random.default_rng(seed)
    n = 2_000
    predictions = pd.DataFrame(
        {
            "prediction_id": pd.Series([f"id{i}" for i in rng.permutation(n)], dtype="str"),
            "scored_at": ts("2026-11-01") + pd.to_timedelta(rng.integers(0, 86_400, n), "s"),
            "score": rng.random(n),
        }
    )
    rows = 3_000
    ids = [f"id{i}" for i in rng.integers(0, n + 300, rows)]  # ~13% orphans
    hours = rng.integers(1, 40, rows)  # few distinct hours: ties of one instant
    value = {i: float(rng.integers(0, 2)) for i in set(ids)}
    labelled = pd.DataFrame(
        {
            "prediction_id": pd.Series(ids, dtype="str"),
            "label": [
                value[i] if rng.random() < 0.7 else float(h % 2)
                for i, h in zip(ids, hours, strict=True)
            ],
            "labelled_at": ts("2026-11-02") + pd.to_timedelta(hours, "h"),
        }
    )
    # Validation quarantines different labels of one instant: keep one value per (id, time).
    labelled["label"] = labelled.groupby(["prediction_id", "labelled_at"])["label"].transform(
        "first"
    )
    joined = join_newest_labels(predictions, labelled)
    expected = _reference_join(predictions, labelled)
    pd.testing.assert_frame_equal(joined.frame, expected)
    assert joined.frame["label"].notna().sum() > n / 2 and joined.labels_orphaned > 0
    orphaned = ~labelled["prediction_id"].isin(predictions["prediction_id"])
    assert joined.labels_orphaned == orphaned.sum()
    assert joined.labels_used == len(labelled) - orphaned.sum()


def test_percentile_cont_is_postgresqls_bit_for_bit(engine):
    import sqlalchemy as sa

    from monitoring_pipeline.core.labels import percentile_cont

    rng = np.random.default_rng(12)
    fractions = [0.0, 0.01, 0.1, 0.5, 0.9, 0.99, 0.999, 1.0]
    arrays = [rng.lognormal(3, 2, size) for size in (1, 2, 3, 10, 101, 997, 5000)]
    arrays.append(np.round(rng.normal(0, 1e6, 400), 1))  # ties, negatives
    mismatches = []
    with engine.connect() as conn:
        for values in arrays:
            for fraction in fractions:
                expected = conn.execute(
                    sa.text(
                        "SELECT percentile_cont(CAST(:f AS float8)) WITHIN GROUP (ORDER BY x) "
                        "FROM unnest(CAST(:xs AS float8[])) AS x"
                    ),
                    {"f": fraction, "xs": values.tolist()},
                ).scalar_one()
                if percentile_cont(values, fraction) != expected:
                    mismatches.append((len(values), fraction))
    assert mismatches == []
    assert percentile_cont(np.array([]), 0.5) is None


@pytest.mark.parametrize("dtype", ["string", object])
def test_cross_day_tally_counts_ids_elsewhere_and_unmatched_label_rows(dtype):
    tally = CrossDayTally(
        ids_elsewhere=pd.Series(["p1", "p9"], dtype=dtype),  # p9 is never written today
        unmatched_label_ids=pd.Series(["p2", "p2", "p3", None, "p7"], dtype=dtype),
    )
    tally.add(pd.Series(["p1", "p2"], dtype=dtype))
    tally.add(pd.Series(["p3", "p4"], dtype=dtype))
    tally.add(pd.Series([], dtype=dtype))
    assert tally.ids_on_other_days == 1
    # p2 (two rows) and p3 matched a written id; the missing id and p7 did not.
    assert tally.labels_orphaned == 2


def test_cross_day_tally_without_a_delivery_day_counts_no_orphans():
    tally = CrossDayTally(pd.Series([], dtype="string"), None)
    tally.add(pd.Series(["p1"], dtype="string"))
    assert (tally.ids_on_other_days, tally.labels_orphaned) == (0, None)
    assert (
        CrossDayTally(pd.Series([], dtype="string"), pd.Series([], dtype="string")).labels_orphaned
        == 0
    )
