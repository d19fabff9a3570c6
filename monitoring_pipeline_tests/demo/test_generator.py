"""Tests for the demo traffic generator and its incident catalogue.

Each incident test compares a run with the incident against the same run without it: the seeded
per-day streams make every unaffected row identical, so "only on its days and group" can be
asserted exactly, while the intended effect is asserted on rates with margins well above noise.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from monitoring_pipeline.demo.generator import (
    LABEL_COLUMNS,
    LOAN_MINORITY_REGION,
    MODEL_SCHEMAS,
    DemoTraffic,
    default_incidents,
    generate_traffic,
)
from monitoring_pipeline.demo.incidents import (
    MALFORMED_KINDS,
    DistributionShift,
    FeatureNulls,
    LabelOutage,
    MalformedRows,
    MinorityDegradation,
    ProxyFeature,
    ThresholdChange,
)

START = date(2026, 10, 5)  # a Monday
END = START + timedelta(days=27)  # four full weeks
LATE = datetime.combine(END + timedelta(days=120), datetime.min.time(), tzinfo=UTC)  # all labels
INCIDENT_START = START + timedelta(days=18)
MODELS = ("loan_approval", "job_screening")


def _day(offset: int) -> date:
    return START + timedelta(days=offset)


def _joined(traffic: DemoTraffic) -> pd.DataFrame:
    """Predictions with their latest label (NaN if none) and scoring day."""
    latest = traffic.labels.sort_values("labelled_at", kind="stable").drop_duplicates(
        "prediction_id", keep="last"
    )
    joined = traffic.predictions.merge(latest, on="prediction_id", how="left")
    joined["day"] = joined["scored_at"].dt.date
    return joined


def _fnr(frame: pd.DataFrame) -> float:
    positives = frame[frame["label"] == 1]
    return float((positives["decision"] == 0).mean())


def _fpr(frame: pd.DataFrame) -> float:
    negatives = frame[frame["label"] == 0]
    return float((negatives["decision"] == 1).mean())


def _id_day(ids: pd.Series) -> pd.Series:
    # "<model>-<YYYYMMDD>-<seq>": model names use underscores, so field 1 is the day.
    return ids.str.split("-").str[1]


@pytest.fixture(scope="module")
def loan_base() -> DemoTraffic:
    return generate_traffic("loan_approval", START, END, now=LATE)


@pytest.fixture(scope="module")
def job_base() -> DemoTraffic:
    return generate_traffic("job_screening", START, END, now=LATE)


# ---- determinism and stability -------------------------------------------------------------


def test_same_arguments_give_identical_frames_and_seed_matters() -> None:
    now = datetime(2026, 11, 3, 12, tzinfo=UTC)
    incidents = default_incidents("loan_approval", START, END)
    a = generate_traffic("loan_approval", START, END, now=now, incidents=incidents)
    b = generate_traffic("loan_approval", START, END, now=now, incidents=incidents)
    pd.testing.assert_frame_equal(a.predictions, b.predictions)
    pd.testing.assert_frame_equal(a.labels, b.labels)

    c = generate_traffic("loan_approval", START, END, now=now, incidents=incidents, seed=8)
    assert not np.allclose(a.predictions["score"].head(500), c.predictions["score"].head(500))


@pytest.mark.parametrize("model", MODELS)
def test_days_do_not_change_when_the_range_grows(model: str) -> None:
    now = datetime.combine(_day(40), datetime.min.time(), tzinfo=UTC)
    short = generate_traffic(model, _day(5), _day(12), now=now)
    long = generate_traffic(model, START, _day(30), now=now)

    days = {f"{d:%Y%m%d}" for d in (_day(i) for i in range(5, 13))}
    long_preds = long.predictions[_id_day(long.predictions["prediction_id"]).isin(days)]
    pd.testing.assert_frame_equal(short.predictions, long_preds.reset_index(drop=True))
    long_labels = long.labels[_id_day(long.labels["prediction_id"]).isin(days)]
    pd.testing.assert_frame_equal(short.labels, long_labels.reset_index(drop=True))


def test_incident_on_one_day_leaves_other_days_identical(loan_base: DemoTraffic) -> None:
    incident = FeatureNulls(
        model="loan_approval", start=_day(20), end=_day(20), feature="income", rate=0.5
    )
    traffic = generate_traffic("loan_approval", START, END, now=LATE, incidents=[incident])
    other_days = traffic.predictions["scored_at"].dt.date != _day(20)
    pd.testing.assert_frame_equal(
        traffic.predictions[other_days], loan_base.predictions[other_days]
    )


# ---- shape of healthy traffic ----------------------------------------------------------------


@pytest.mark.parametrize("model", MODELS)
def test_columns_and_dtypes(model: str) -> None:
    schema = MODEL_SCHEMAS[model]
    traffic = generate_traffic(model, START, _day(2), now=LATE)
    predictions, labels = traffic.predictions, traffic.labels

    assert tuple(predictions.columns) == schema.prediction_columns
    assert tuple(labels.columns) == LABEL_COLUMNS
    assert predictions["scored_at"].dtype == "datetime64[us, UTC]"
    assert labels["labelled_at"].dtype == "datetime64[us, UTC]"
    assert predictions["score"].dtype == np.float64
    assert predictions["decision"].dtype == np.int64
    assert labels["label"].dtype == np.int64
    for column in ("prediction_id", "model_version", *schema.cohorts, *schema.categorical_features):
        assert pd.api.types.is_string_dtype(predictions[column]), column
    assert pd.api.types.is_string_dtype(labels["prediction_id"])
    for feature in schema.numeric_features:
        assert predictions[feature].dtype == np.float64, feature
    assert predictions.index.equals(pd.RangeIndex(len(predictions)))


@pytest.mark.parametrize("model", MODELS)
def test_empty_volume_keeps_the_schema(model: str) -> None:
    traffic = generate_traffic(model, START, _day(1), now=LATE, daily_volume=0)
    full = generate_traffic(model, START, _day(1), now=LATE, daily_volume=10)
    assert traffic.predictions.empty and traffic.labels.empty
    pd.testing.assert_series_equal(traffic.predictions.dtypes, full.predictions.dtypes)
    pd.testing.assert_series_equal(traffic.labels.dtypes, full.labels.dtypes)


@pytest.mark.parametrize("model", MODELS)
def test_healthy_rows_are_clean_and_consistent(
    model: str, loan_base: DemoTraffic, job_base: DemoTraffic
) -> None:
    schema = MODEL_SCHEMAS[model]
    predictions = (loan_base if model == "loan_approval" else job_base).predictions

    assert not predictions.isna().any().any()
    assert predictions["prediction_id"].is_unique
    assert predictions["prediction_id"].str.fullmatch(rf"{model}-\d{{8}}-\d{{6}}").all()
    assert predictions["score"].between(0.0, 1.0).all()
    assert (predictions["decision"] == (predictions["score"] >= schema.threshold)).all()
    assert predictions["scored_at"].is_monotonic_increasing
    assert predictions["scored_at"].min() >= pd.Timestamp(START, tz="UTC")
    assert predictions["scored_at"].max() < pd.Timestamp(END + timedelta(days=1), tz="UTC")
    assert (predictions["model_version"] == schema.default_model_version).all()
    for column, allowed in (*schema.cohorts.items(), *schema.categorical_features.items()):
        assert set(predictions[column]) == set(allowed), column
    # Realistic unequal shares: the smallest group of some attribute is a small minority.
    assert min(predictions[c].value_counts(normalize=True).min() for c in schema.cohorts) < 0.12
    # Volume: default average per day, fewer at weekends than on weekdays.
    per_day = predictions.groupby(predictions["scored_at"].dt.date).size()
    assert per_day.mean() == pytest.approx(schema.default_daily_volume, rel=0.05)
    weekend = np.array([d.weekday() >= 5 for d in per_day.index])
    assert per_day[weekend].mean() < 0.85 * per_day[~weekend].mean()


@pytest.mark.parametrize("model", MODELS)
def test_healthy_scores_are_calibrated_overall_and_per_group(model: str) -> None:
    traffic = generate_traffic(model, START, _day(3), now=LATE, daily_volume=25_000)
    joined = _joined(traffic).dropna(subset=["label"])
    assert len(joined) > 80_000

    bins = pd.cut(joined["score"], np.linspace(0.0, 1.0, 11), include_lowest=True)
    by_bin = joined.groupby(bins, observed=True).agg(
        score=("score", "mean"), rate=("label", "mean"), n=("label", "size")
    )
    by_bin = by_bin[by_bin["n"] >= 1000]
    assert len(by_bin) >= 8
    np.testing.assert_allclose(by_bin["rate"], by_bin["score"], atol=0.03)

    for attribute in MODEL_SCHEMAS[model].cohorts:
        by_group = joined.groupby(attribute).agg(score=("score", "mean"), rate=("label", "mean"))
        np.testing.assert_allclose(by_group["rate"], by_group["score"], atol=0.03)


def test_score_carries_signal(loan_base: DemoTraffic) -> None:
    joined = _joined(loan_base).dropna(subset=["label"])
    positives = joined.loc[joined["label"] == 1, "score"].to_numpy()
    negatives = joined.loc[joined["label"] == 0, "score"].to_numpy()
    # AUC via ranks: a realistic model, far from random and far from perfect.
    ranks = pd.Series(np.concatenate([positives, negatives])).rank().to_numpy()
    auc = (ranks[: positives.size].sum() - positives.size * (positives.size + 1) / 2) / (
        positives.size * negatives.size
    )
    assert 0.75 < auc < 0.92


def test_version_schedule_switches_versions() -> None:
    schedule = {_day(3): "v1.5.0", _day(5): "v1.5.1"}
    predictions = generate_traffic(
        "loan_approval", START, _day(6), now=LATE, daily_volume=50, version_schedule=schedule
    ).predictions
    by_day = predictions.groupby(predictions["scored_at"].dt.date)["model_version"].unique()
    assert [list(v) for v in by_day] == [["v1.4.0"]] * 3 + [["v1.5.0"]] * 2 + [["v1.5.1"]] * 2


# ---- labels ----------------------------------------------------------------------------------


def test_labels_arrive_late_with_lower_coverage_on_recent_days() -> None:
    now = datetime.combine(END + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    traffic = generate_traffic("loan_approval", START, END, now=now)
    joined = _joined(traffic)
    coverage = joined.groupby("day")["label"].apply(lambda s: s.notna().mean())

    assert coverage.iloc[:7].min() > 0.85  # old days: nearly everything that will arrive has
    assert coverage.iloc[-3:].max() < 0.5  # the last days are mostly still unlabelled
    assert coverage.iloc[-1] < 0.1
    assert coverage.iloc[:7].mean() > coverage.iloc[-7:].mean() + 0.3
    assert (traffic.labels["labelled_at"] <= pd.Timestamp(now)).all()
    assert (
        joined["labelled_at"].dropna() > joined["scored_at"][joined["labelled_at"].notna()]
    ).all()


def test_label_lag_loss_and_corrections(loan_base: DemoTraffic) -> None:
    labels = loan_base.labels.merge(
        loan_base.predictions[["prediction_id", "scored_at"]], on="prediction_id"
    )
    first = labels.sort_values("labelled_at").drop_duplicates("prediction_id", keep="first")
    lag_days = (first["labelled_at"] - first["scored_at"]) / pd.Timedelta(days=1)
    assert 3.5 < lag_days.median() < 5.5
    assert lag_days.max() <= 45.0 + 1e-9
    assert lag_days.quantile(0.95) > 12  # long tail

    # Every label that will ever arrive has arrived (now is 120 days later): ~8% never do.
    never = 1 - loan_base.labels["prediction_id"].nunique() / len(loan_base.predictions)
    assert 0.06 < never < 0.10

    counts = labels.groupby("prediction_id").size()
    corrected_ids = counts[counts == 2].index
    assert counts.max() == 2
    assert 0.02 < len(corrected_ids) / len(counts) < 0.04
    pairs = labels[labels["prediction_id"].isin(corrected_ids)].sort_values(
        ["prediction_id", "labelled_at"]
    )
    first_value = pairs.groupby("prediction_id")["label"].first()
    last_value = pairs.groupby("prediction_id")["label"].last()
    assert (first_value != last_value).all()
    assert pairs.groupby("prediction_id")["labelled_at"].is_monotonic_increasing.all()
    assert loan_base.labels["labelled_at"].is_monotonic_increasing


def test_now_hides_future_predictions_and_labels() -> None:
    now = datetime(2026, 10, 10, 12, 30, tzinfo=UTC)
    traffic = generate_traffic("job_screening", START, _day(6), now=now)
    assert traffic.predictions["scored_at"].max() <= pd.Timestamp(now)
    assert traffic.predictions["scored_at"].max() > pd.Timestamp(now) - pd.Timedelta(hours=1)
    assert (traffic.labels["labelled_at"] <= pd.Timestamp(now)).all()


# ---- incidents -------------------------------------------------------------------------------


def test_minority_degradation_raises_that_groups_fnr_only(loan_base: DemoTraffic) -> None:
    incident = MinorityDegradation(
        model="loan_approval", start=INCIDENT_START, end=END, attribute="region", group="west"
    )
    traffic = generate_traffic("loan_approval", START, END, now=LATE, incidents=[incident])
    joined = _joined(traffic)
    during = joined["day"] >= INCIDENT_START
    west = joined["region"] == "west"

    assert _fnr(joined[during & west]) > _fnr(joined[~during & west]) + 0.15
    for region in ("north", "south", "east"):
        group = joined["region"] == region
        assert abs(_fnr(joined[during & group]) - _fnr(joined[~during & group])) < 0.04, region

    # Only the group's rows on incident days change; labels follow the truth and do not move.
    affected = (traffic.predictions["region"] == "west") & (
        traffic.predictions["scored_at"].dt.date >= INCIDENT_START
    )
    pd.testing.assert_frame_equal(traffic.predictions[~affected], loan_base.predictions[~affected])
    changed = (
        traffic.predictions.loc[affected, "score"] != loan_base.predictions.loc[affected, "score"]
    )
    assert changed.all()
    pd.testing.assert_frame_equal(traffic.labels, loan_base.labels)


def test_threshold_change_raises_that_groups_fpr(job_base: DemoTraffic) -> None:
    incident = ThresholdChange(
        model="job_screening",
        start=INCIDENT_START,
        end=END,
        attribute="gender",
        group="woman",
        threshold=0.4,
    )
    traffic = generate_traffic("job_screening", START, END, now=LATE, incidents=[incident])
    joined = _joined(traffic)
    during = joined["day"] >= INCIDENT_START
    women = joined["gender"] == "woman"

    assert _fpr(joined[during & women]) > _fpr(joined[~during & women]) + 0.08
    selection = joined[women].groupby(during[women])["decision"].mean()
    assert selection[True] > selection[False] + 0.08
    # Scores are untouched; decisions follow the per-group threshold.
    pd.testing.assert_series_equal(traffic.predictions["score"], job_base.predictions["score"])
    expected = np.where(during & women, joined["score"] >= 0.4, joined["score"] >= 0.6)
    np.testing.assert_array_equal(joined["decision"].to_numpy(), expected.astype(np.int64))


def test_feature_nulls_hit_the_rate_on_their_days_only(loan_base: DemoTraffic) -> None:
    incident = FeatureNulls(
        model="loan_approval", start=_day(14), end=_day(16), feature="loan_purpose", rate=0.3
    )
    traffic = generate_traffic("loan_approval", START, END, now=LATE, incidents=[incident])
    predictions = traffic.predictions
    days = predictions["scored_at"].dt.date
    during = (days >= _day(14)) & (days <= _day(16))

    assert predictions.loc[during, "loan_purpose"].isna().mean() == pytest.approx(0.3, abs=0.03)
    assert predictions.loc[~during, "loan_purpose"].notna().all()
    others = predictions.columns.drop(["loan_purpose", "score", "decision"])
    assert predictions[others].notna().all().all()
    # The model imputes the nulls, so only those rows' scores can move.
    nulls = predictions["loan_purpose"].isna()
    np.testing.assert_array_equal(
        predictions.loc[~nulls, "score"], loan_base.predictions.loc[~nulls, "score"]
    )
    pd.testing.assert_frame_equal(
        predictions[others], loan_base.predictions[others], check_like=True
    )


def test_label_outage_loses_or_defers_the_windows_labels(loan_base: DemoTraffic) -> None:
    window = {f"{d:%Y%m%d}" for d in (_day(10), _day(11), _day(12))}
    base_days = _id_day(loan_base.labels["prediction_id"])

    lost = LabelOutage(model="loan_approval", start=_day(10), end=_day(12))
    traffic = generate_traffic("loan_approval", START, END, now=LATE, incidents=[lost])
    label_days = _id_day(traffic.labels["prediction_id"])
    assert not label_days.isin(window).any()
    pd.testing.assert_frame_equal(
        traffic.labels, loan_base.labels[~base_days.isin(window)].reset_index(drop=True)
    )
    pd.testing.assert_frame_equal(traffic.predictions, loan_base.predictions)

    deferred = LabelOutage(model="loan_approval", start=_day(10), end=_day(12), recovery_days=3)
    traffic = generate_traffic("loan_approval", START, END, now=LATE, incidents=[deferred])
    in_window = _id_day(traffic.labels["prediction_id"]).isin(window)
    assert in_window.sum() == base_days.isin(window).sum()  # all of them, eventually
    assert traffic.labels.loc[in_window, "labelled_at"].min() >= pd.Timestamp(_day(16), tz="UTC")


def test_malformed_rows_produce_every_kind_on_their_day(loan_base: DemoTraffic) -> None:
    incident = MalformedRows(model="loan_approval", start=_day(20), end=_day(20), share=0.02)
    traffic = generate_traffic("loan_approval", START, END, now=LATE, incidents=[incident])
    predictions = traffic.predictions
    allowed_regions = MODEL_SCHEMAS["loan_approval"].cohorts["region"]

    ids = predictions["prediction_id"]
    found = {
        "score_out_of_range": ((predictions["score"] < 0) | (predictions["score"] > 1)).sum(),
        "score_null": predictions["score"].isna().sum(),
        "decision_invalid": (~predictions["decision"].isin([0, 1])).sum(),
        "duplicate_prediction_id": (ids.notna() & ids.duplicated()).sum(),
        "null_prediction_id": ids.isna().sum(),
        "unknown_cohort_value": (~predictions["region"].isin(allowed_regions)).sum(),
        "scored_at_null": predictions["scored_at"].isna().sum(),
    }
    assert set(found) == set(MALFORMED_KINDS)
    assert all(count >= 1 for count in found.values()), found
    assert set(predictions.loc[~predictions["region"].isin(allowed_regions), "region"]) == {
        "atlantis"
    }
    day_rows = (_id_day(ids) == f"{_day(20):%Y%m%d}").sum() + found["null_prediction_id"]
    assert sum(found.values()) == pytest.approx(0.02 * day_rows, abs=8)
    assert predictions["decision"].dtype == np.int64
    assert predictions["scored_at"].dtype == "datetime64[us, UTC]"

    # Other days are untouched; the malformed rows all belong to the incident day.
    base_days = loan_base.predictions["scored_at"].dt.date
    other = loan_base.predictions[base_days != _day(20)].reset_index(drop=True)
    kept = predictions[_id_day(ids) != f"{_day(20):%Y%m%d}"]
    kept = kept[kept["prediction_id"].notna() & kept["scored_at"].notna()].reset_index(drop=True)
    pd.testing.assert_frame_equal(kept, other)


def test_proxy_feature_encodes_the_attribute(loan_base: DemoTraffic) -> None:
    incident = ProxyFeature(
        model="loan_approval",
        start=INCIDENT_START,
        end=END,
        feature="postal_risk_index",
        attribute="sex",
        strength=1.5,
    )
    traffic = generate_traffic("loan_approval", START, END, now=LATE, incidents=[incident])
    joined = _joined(traffic)
    during = joined["day"] >= INCIDENT_START
    is_male = (joined["sex"] == "male").astype(float)

    healthy_corr = np.corrcoef(joined.loc[~during, "postal_risk_index"], is_male[~during])[0, 1]
    incident_corr = np.corrcoef(joined.loc[during, "postal_risk_index"], is_male[during])[0, 1]
    assert abs(healthy_corr) < 0.03
    assert incident_corr > 0.6
    selection = joined[during].groupby("sex")["decision"].mean()
    assert selection["female"] > selection["male"] + 0.08
    pd.testing.assert_frame_equal(traffic.labels, loan_base.labels)  # not real risk


def test_distribution_shift_moves_features_and_labels_follow() -> None:
    shifts = [
        DistributionShift(
            model="loan_approval", start=INCIDENT_START, end=END, feature="income", shift=-1.0
        ),
        DistributionShift(
            model="loan_approval",
            start=INCIDENT_START,
            end=END,
            feature="employment_type",
            mix={"contractor": 0.5, "unemployed": 0.5},
        ),
    ]
    traffic = generate_traffic("loan_approval", START, END, now=LATE, incidents=shifts)
    joined = _joined(traffic)
    during = joined["day"] >= INCIDENT_START

    assert joined.loc[during, "income"].median() < 0.75 * joined.loc[~during, "income"].median()
    mix = joined.loc[during, "employment_type"].value_counts(normalize=True)
    assert set(mix.index) == {"contractor", "unemployed"}
    assert mix["unemployed"] == pytest.approx(0.5, abs=0.03)
    # A genuine population shift: outcomes get worse too, and the model stays calibrated.
    assert joined.loc[during, "label"].mean() < joined.loc[~during, "label"].mean() - 0.1
    assert joined.loc[during, "score"].mean() == pytest.approx(
        joined.loc[during, "label"].mean(), abs=0.02
    )


# ---- the demo scenario and validation -------------------------------------------------------


@pytest.mark.parametrize("model", MODELS)
def test_default_incidents_leave_a_healthy_baseline(model: str) -> None:
    incidents = default_incidents(model, START, END)
    assert incidents
    for incident in incidents:
        assert incident.model == model
        assert START + timedelta(days=14) <= incident.start <= incident.end <= END
        assert incident.description
    # Growing the range keeps already simulated days' incidents where they were.
    later = default_incidents(model, START, END + timedelta(days=7))
    assert [(i.start, type(i)) for i in later] == [(i.start, type(i)) for i in incidents]
    assert default_incidents(model, START, START + timedelta(days=13)) == []


def test_default_loan_scenario_degrades_the_minority_region() -> None:
    incidents = default_incidents("loan_approval", START, END)
    kinds = {type(i) for i in incidents}
    assert kinds == {FeatureNulls, MinorityDegradation, MalformedRows}
    (degradation,) = [i for i in incidents if isinstance(i, MinorityDegradation)]
    assert (degradation.attribute, degradation.group) == ("region", LOAN_MINORITY_REGION)
    assert degradation.end == END and (END - degradation.start).days + 1 == 10
    predictions = generate_traffic("loan_approval", START, END, now=LATE).predictions
    shares = predictions["region"].value_counts(normalize=True)
    assert shares.idxmin() == LOAN_MINORITY_REGION


def test_invalid_arguments_are_rejected() -> None:
    with pytest.raises(ValueError, match="atlantis"):
        generate_traffic(
            "loan_approval",
            START,
            END,
            now=LATE,
            incidents=[
                MinorityDegradation(
                    model="loan_approval",
                    start=START,
                    end=END,
                    attribute="region",
                    group="atlantis",
                )
            ],
        )
    with pytest.raises(ValueError, match="timezone"):
        generate_traffic("loan_approval", START, END, now=datetime(2026, 12, 1))
    with pytest.raises(ValueError):
        generate_traffic("loan_approval", END, START, now=LATE)
    with pytest.raises(ValueError):
        FeatureNulls(model="loan_approval", start=START, end=END, feature="income", rate=1.5)
    with pytest.raises(ValueError):
        DistributionShift(model="loan_approval", start=END, end=START, feature="income")
    # Incidents for the other model are ignored, so one list can serve both.
    job_only = ThresholdChange(
        model="job_screening", start=START, end=END, attribute="gender", group="man", threshold=0.1
    )
    generate_traffic("loan_approval", START, _day(1), now=LATE, incidents=[job_only])


# ---- attributions ----------------------------------------------------------------------------


@pytest.mark.parametrize("model", MODELS)
def test_attributions_are_the_linear_models_exact_contributions(model: str) -> None:
    """The serving model is linear on the logit: regressing logit(score) on the logged
    attributions (and the categorical features as dummies) gives a coefficient of 1 on
    each, and the attributions explain the logit but for the score noise."""
    schema = MODEL_SCHEMAS[model]
    rows = generate_traffic(model, START, _day(6), now=LATE).predictions
    columns = list(schema.attributions.values())
    assert columns == [f"attribution_{f}" for f in schema.numeric_features]
    assert rows[columns].notna().all().all()
    logit = np.log(rows.score / (1 - rows.score)).to_numpy()
    dummies = pd.get_dummies(
        rows[list(schema.categorical_features)].fillna("null"), drop_first=True
    )
    design = np.column_stack(
        [rows[columns].to_numpy(), dummies.to_numpy(float), np.ones(len(rows))]
    )
    coefficients, *_ = np.linalg.lstsq(design, logit, rcond=None)
    np.testing.assert_allclose(coefficients[: len(columns)], 1.0, atol=0.03)
    residual = logit - design @ coefficients
    assert residual.std() < 0.2 * logit.std()
    # A feature the model imputes (null) contributes nothing.
    nulls = FeatureNulls(
        model=model, start=_day(2), end=_day(2), feature=schema.numeric_features[0], rate=0.5
    )
    hit = generate_traffic(model, START, _day(3), now=LATE, incidents=[nulls]).predictions
    feature = schema.numeric_features[0]
    assert (hit.loc[hit[feature].isna(), schema.attributions[feature]] == 0).all()


def test_minority_degradation_moves_that_groups_attributions(loan_base: DemoTraffic) -> None:
    incident = MinorityDegradation(
        model="loan_approval", start=INCIDENT_START, end=END, attribute="region", group="west"
    )
    rows = generate_traffic("loan_approval", START, END, now=LATE, incidents=[incident]).predictions
    columns = list(MODEL_SCHEMAS["loan_approval"].attributions.values())
    during = rows.scored_at.dt.date >= INCIDENT_START
    west = rows.region == "west"
    # The model sees pessimistic inputs for the group: every attribution pushes down.
    before = rows.loc[west & ~during, columns].sum(axis=1).mean()
    after = rows.loc[west & during, columns].sum(axis=1).mean()
    assert after < before - 0.5
    others = rows.loc[~west, columns].sum(axis=1)
    assert abs(others[during[~west]].mean() - others[~during[~west]].mean()) < 0.1
