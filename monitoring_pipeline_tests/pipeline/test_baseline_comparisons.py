"""Reference groups fixed over the baseline window, gaps against everyone else, and each
cohort's change from its baseline, as the pipeline steps write them: days of
``cohort_stats`` are written from hand-made rows (no Dagster run needed: these steps
read only ``cohort_stats``), and the published rows are checked against independent
computations on those rows."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
import yaml
from statsmodels.stats.proportion import confint_proportions_2indep

from monitoring_pipeline.config import load_config
from monitoring_pipeline.core.cohort_metrics import derive_cohort_metrics
from monitoring_pipeline.core.sufficient_stats import compute_confusion_stats, merge_stats
from monitoring_pipeline.demo.publish import demo_config
from monitoring_pipeline.pipeline.cohort_metrics import (
    ALL_VERSIONS,
    SCORE_BINS,
    build_fairness_disparities,
    changes_from_baseline,
    cohort_spec,
    rows_to_stats,
    stats_to_rows,
)
from monitoring_pipeline.storage.writes import Audit, TableRows, replace_partitions

MODEL = "loan_approval"
START = date(2026, 10, 1)
BASELINE = (START, START + timedelta(days=1))
AUDIT = Audit(run_id="test", produced_at=datetime(2026, 10, 20, tzinfo=UTC))


def load(tmp_path, references: dict[str, str]):
    raw = demo_config(START, tmp_path / "data")
    loan = raw["models"][MODEL]
    loan["cohorts"]["reference_groups"] = references
    loan["cohorts"]["min_size"] = 20
    loan["baseline"] = {"start": BASELINE[0].isoformat(), "end": BASELINE[1].isoformat()}
    path = tmp_path / "monitored_models.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_config(path)


@pytest.fixture
def config(tmp_path):
    return load(tmp_path, {})


def day_rows(config, seed: int, sexes: dict[str, int], *, tpr_drop: str = "") -> pd.DataFrame:
    """Rows of one day: ``sexes`` gives the rows per sex; other attributes are drawn
    uniformly; ``tpr_drop`` names a sex whose actual positives are mostly declined."""
    rng = np.random.default_rng(seed)
    attributes = config.models[MODEL].cohorts.attributes
    sex = np.concatenate([np.full(n, value, dtype=object) for value, n in sexes.items()])
    n = sex.size
    score = rng.uniform(0.02, 0.98, n)
    label = (rng.random(n) < score).astype(float)
    decision = (score >= 0.5).astype(np.int64)
    if tpr_drop:
        decision[(sex == tpr_drop) & (label == 1) & (rng.random(n) < 0.6)] = 0
    frame = pd.DataFrame(
        {"model_version": "v1", "score": score, "decision": decision, "label": label, "sex": sex}
    )
    for name, values in attributes.items():
        if name != "sex":
            frame[name] = rng.choice(np.asarray(values, dtype=object), n)
    return frame


def write_day(engine, config, day: date, frame: pd.DataFrame) -> None:
    stats = compute_confusion_stats(frame, cohort_spec(config, MODEL), score_bins=SCORE_BINS)
    stats = merge_stats([stats, stats.assign(model_version=ALL_VERSIONS)])
    replace_partitions(
        engine,
        model_name=MODEL,
        partition_date=day,
        rows=[
            TableRows(
                "cohort_stats",
                stats_to_rows(stats).assign(partition_date=day, model_name=MODEL),
            )
        ],
        audit=AUDIT,
    )


def published(engine, table: str, day: date) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql_query(
            sa.text(
                f"SELECT * FROM monitoring.{table} WHERE model_name = :m AND partition_date = :d"
            ),
            conn,
            params={"m": MODEL, "d": day},
        )


def largest_group(frames: list[pd.DataFrame], columns: list[str]) -> str:
    rows = pd.concat(frames, ignore_index=True)
    sizes = rows.groupby(columns).size().reset_index(name="n")
    sizes["value"] = sizes[columns].astype(str).agg("&".join, axis=1)
    return sizes.sort_values(["n", "value"], ascending=[False, True]).iloc[0]["value"]


def test_reference_is_fixed_by_the_baseline_window_not_by_the_day(engine, config):
    baseline_frames = [day_rows(config, seed, {"female": 300, "male": 200}) for seed in (1, 2)]
    for day, frame in zip(BASELINE, baseline_frames, strict=True):
        write_day(engine, config, day, frame)
    # The largest sex flips between the two measured days.
    male_day, female_day = START + timedelta(days=5), START + timedelta(days=6)
    write_day(engine, config, male_day, day_rows(config, 3, {"female": 100, "male": 500}))
    write_day(engine, config, female_day, day_rows(config, 4, {"female": 500, "male": 100}))

    references = {}
    for day in (male_day, female_day):
        build_fairness_disparities(engine, config, MODEL, day, AUDIT)
        rows = published(engine, "fairness_disparities", day)
        references[day] = rows.groupby("cohort_attribute")["reference_value"].unique()
    for attribute in references[male_day].index:
        assert (
            references[male_day][attribute].tolist() == references[female_day][attribute].tolist()
        ), attribute
        assert len(references[male_day][attribute]) == 1, attribute
    assert references[male_day]["sex"].tolist() == ["female"]  # largest over the baseline
    assert references[male_day]["sex&age_band"].tolist() == [
        largest_group(baseline_frames, ["sex", "age_band"])
    ]
    assert references[male_day]["region"].tolist() == [largest_group(baseline_frames, ["region"])]


def test_configured_intersection_reference_is_used(engine, tmp_path):
    config = load(tmp_path, {"sex&age_band": "male&26-40"})
    day = START + timedelta(days=5)
    write_day(engine, config, day, day_rows(config, 3, {"female": 300, "male": 300}))
    build_fairness_disparities(engine, config, MODEL, day, AUDIT)
    rows = published(engine, "fairness_disparities", day)
    intersection = rows[rows.cohort_attribute == "sex&age_band"]
    assert set(intersection.reference_value) == {"male&26-40"}
    assert "male&26-40" not in set(intersection.cohort_value)
    # Without any baseline day, the other attributes fall back to the day's largest group.
    assert set(rows[rows.cohort_attribute == "sex"].reference_value) == {"female"}  # tie


def test_gaps_against_the_rest_see_a_change_of_the_reference_group(engine, config):
    # The reference (female, the largest) loses 60% of its true positives: its reference
    # gaps cannot show it (it has none), while its gap against the rest does.
    for day, seed in zip(BASELINE, (1, 2), strict=True):
        write_day(engine, config, day, day_rows(config, seed, {"female": 300, "male": 200}))
    day = START + timedelta(days=5)
    frame = day_rows(config, 7, {"female": 600, "male": 400}, tpr_drop="female")
    write_day(engine, config, day, frame)
    build_fairness_disparities(engine, config, MODEL, day, AUDIT)

    gaps = published(engine, "fairness_disparities", day)
    assert gaps[(gaps.cohort_attribute == "sex") & (gaps.cohort_value == "female")].empty
    rest = published(engine, "fairness_disparities_vs_rest", day)
    assert set(rest.model_version) == {"v1", "all"}
    (row,) = rest[
        (rest.model_version == "all")
        & (rest.cohort_attribute == "sex")
        & (rest.cohort_value == "female")
        & (rest.metric == "tpr_difference")
    ].itertuples()
    labelled = frame.dropna(subset=["label"])
    positives = labelled[labelled.label == 1]
    female, male = positives[positives.sex == "female"], positives[positives.sex == "male"]
    assert row.value == pytest.approx(female.decision.mean() - male.decision.mean())
    assert row.upper < 0 and row.sufficient  # clearly below the rest
    assert row.rest_n == 400
    # Every group of every attribute has its rows, and the largest gap per metric is marked.
    sexes = rest[(rest.model_version == "all") & (rest.cohort_attribute == "sex")]
    assert set(sexes.cohort_value) == {"female", "male"}
    assert sexes.groupby("metric").is_worst.sum().max() == 1


def test_cohort_changes_against_the_summed_baseline_window(engine, config):
    baseline_frames = [day_rows(config, seed, {"female": 300, "male": 200}) for seed in (1, 2)]
    for day, frame in zip(BASELINE, baseline_frames, strict=True):
        write_day(engine, config, day, frame)
    day = START + timedelta(days=5)
    frame = day_rows(config, 7, {"female": 300, "male": 200}, tpr_drop="male")
    write_day(engine, config, day, frame)
    # build_cohort_metrics reads labeled predictions; its changes step reads cohort_stats.
    wide = derive_cohort_metrics(
        rows_to_stats(published(engine, "cohort_stats", day)),
        min_cohort_size=config.min_cohort_size(MODEL),
    )
    changes = changes_from_baseline(engine, config, MODEL, day, wide)
    assert (changes.baseline_from == BASELINE[0]).all() and (changes.baseline_days == 2).all()
    indexed = changes.set_index(["model_version", "cohort_attribute", "cohort_value", "metric"])
    baseline = pd.concat(baseline_frames, ignore_index=True)

    def tpr(rows):
        positives = rows[rows.label == 1]
        return int(positives.decision.sum()), len(positives)

    for sex in ("female", "male"):
        (k1, n1), (k2, n2) = tpr(frame[frame.sex == sex]), tpr(baseline[baseline.sex == sex])
        lower, upper = confint_proportions_2indep(k1, n1, k2, n2, method="newcomb")
        row = indexed.loc[("all", "sex", sex, "tpr")]
        assert row["difference"] == pytest.approx(k1 / n1 - k2 / n2)
        assert (row["lower"], row["upper"]) == (pytest.approx(lower), pytest.approx(upper))
        assert row["baseline_denominator"] == n2
    assert indexed.loc[("all", "sex", "male", "tpr"), "upper"] < 0  # the drop is seen
    assert (
        indexed.loc[("all", "sex", "female", "tpr"), "lower"]
        < 0
        < indexed.loc[("all", "sex", "female", "tpr"), "upper"]
    )
    # Inside the fitting window there is no baseline, hence no rows.
    assert changes_from_baseline(engine, config, MODEL, BASELINE[1], wide).empty
    # The rows fit the published table as they are (the step writes them unchanged).
    replace_partitions(
        engine,
        model_name=MODEL,
        partition_date=day,
        rows=[TableRows("cohort_changes", changes)],
        audit=AUDIT,
    )
    stored = published(engine, "cohort_changes", day)
    assert len(stored) == len(changes) and stored.sufficient.any()


def test_a_change_slo_judges_each_cohort_against_its_own_baseline(engine, tmp_path):
    """A ``cohort_changes`` SLO over every sex: the published change of the day, its
    interval widened to the Bonferroni level of the set (2 members: 97.5%), judged by its
    size; the worst-cohort ranking of alerts and the report finds the same cohort beyond."""
    from scipy.stats import norm

    from monitoring_pipeline.alerting.worst_cohorts import worst_cohorts
    from monitoring_pipeline.pipeline.alerts import sli_rows
    from monitoring_pipeline.pipeline.slo import build_slo_evaluations

    raw = yaml.safe_load(yaml.safe_dump(demo_config(START, tmp_path / "data")))
    loan = raw["models"][MODEL]
    loan["cohorts"]["min_size"] = 20
    loan["baseline"] = {"start": BASELINE[0].isoformat(), "end": BASELINE[1].isoformat()}
    loan["slos"] = [
        {
            "name": "tpr_shift_sex",
            "sli": {"source": "cohort_changes", "metric": "tpr", "cohort": "sex=*"},
            "objective": {"op": "<=", "value": 0.05},
        }
    ]
    path = tmp_path / "monitored_models.yaml"
    path.write_text(yaml.safe_dump(raw))
    config = load_config(path)
    for seed, day in zip((11, 12), BASELINE, strict=True):
        write_day(engine, config, day, day_rows(config, seed, {"female": 300, "male": 200}))
    day = START + timedelta(days=6)
    write_day(
        engine, config, day, day_rows(config, 17, {"female": 300, "male": 200}, tpr_drop="male")
    )
    wide = derive_cohort_metrics(
        rows_to_stats(published(engine, "cohort_stats", day)),
        min_cohort_size=config.min_cohort_size(MODEL),
    )
    changes = changes_from_baseline(engine, config, MODEL, day, wide)
    replace_partitions(
        engine, model_name=MODEL, partition_date=day,
        rows=[TableRows("cohort_changes", changes)], audit=AUDIT,
    )  # fmt: skip

    evaluation = build_slo_evaluations(engine, config, MODEL, day, AUDIT).iloc[0]

    stored = changes[
        (changes.model_version == "all")
        & (changes.cohort_attribute == "sex")
        & (changes.metric == "tpr")
    ].set_index("cohort_value")
    male = stored.loc["male"]
    scale = norm.ppf(1 - 0.05 / 2 / 2) / norm.ppf(1 - 0.05 / 2)
    lower = male.difference - (male.difference - male.lower) * scale
    upper = male.difference + (male.upper - male.difference) * scale
    assert upper < -0.05  # the drop is beyond the objective even at 97.5%
    assert evaluation.status == "bad" and evaluation.sli_subject == "sex=male"
    assert evaluation.value == pytest.approx(abs(male.difference))
    assert (evaluation.lower, evaluation.upper) == (pytest.approx(-upper), pytest.approx(-lower))
    assert evaluation.interval_confidence == pytest.approx(0.975)
    assert evaluation.bad_members == '{"sex=male"}' and evaluation.members == 2
    slo = config.models[MODEL].slos[0]
    ranked = worst_cohorts(sli_rows(engine, MODEL, day, slo), slo)
    # Every stored cohort competes (intersections too, as for a cohort metric).
    beyond = ranked[ranked.beyond_objective].set_index("cohort")
    assert "sex=male" in beyond.index and "sex=female" not in beyond.index
    assert beyond.loc["sex=male", "value"] == pytest.approx(male.difference)  # with its sign


def test_change_metrics_of_the_config_are_those_the_core_computes():
    from typing import get_args

    from monitoring_pipeline.config.models import ChangeMetricName
    from monitoring_pipeline.core.cohort_changes import CHANGE_METRICS

    assert get_args(ChangeMetricName) == CHANGE_METRICS
