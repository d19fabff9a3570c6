"""Canary gating: version_comparison verdicts as an SLI (harm = how much worse the
candidate does), and the hold/rollback recommendation a firing alert records."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import pytest
import yaml

from monitoring_pipeline.alerting.messages import summary_line
from monitoring_pipeline.config import load_config
from monitoring_pipeline.core.sufficient_stats import CohortSpec, compute_confusion_stats
from monitoring_pipeline.core.version_comparison import (
    canary_harm,
    compare_versions,
    release_action,
)
from monitoring_pipeline.demo.publish import demo_config
from monitoring_pipeline.pipeline.alerts import canary_recommendation
from monitoring_pipeline.pipeline.cohort_metrics import stats_to_rows
from monitoring_pipeline.pipeline.slo import read_sli
from monitoring_pipeline.storage import releases
from monitoring_pipeline.storage.writes import Audit, TableRows, replace_partitions

MODEL = "loan_approval"
DAY = date(2026, 11, 1)
AUDIT = Audit("test-run", datetime(2026, 11, 2, tzinfo=UTC))
CANARY = {
    "name": "canary_tpr",
    "sli": {"source": "version_comparison", "metric": "tpr", "cohort": "*"},
    "objective": {"op": "<=", "value": 0.05},
    "max_severity": "ticket",
}


def comparison(difference, lower, upper, *, metric="tpr", incumbent="v1", value="west"):
    return {
        "candidate_version": "v2", "incumbent_version": incumbent,
        "cohort_attribute": "region", "cohort_value": value, "metric": metric,
        "difference": difference, "lower": lower, "upper": upper, "sufficient": True,
        "candidate_n_labelled": 300, "incumbent_n_labelled": 2000,
    }  # fmt: skip


def test_harm_is_positive_when_the_candidate_is_worse_whichever_the_metric():
    rows = pd.DataFrame(
        [
            comparison(-0.12, -0.20, -0.04),  # TPR fell: worse by 0.12 [0.04, 0.20]
            comparison(0.08, 0.02, 0.14, metric="fpr"),  # FPR rose: worse by 0.08
            comparison(0.30, 0.20, 0.40, metric="selection_rate"),  # no good direction
            comparison(-0.02, -0.10, 0.06, incumbent="v0"),  # a second incumbent, less clear
        ]
    )
    harm = canary_harm(rows).set_index("metric")
    assert list(harm.index) == ["fpr", "tpr"]
    assert harm.loc["tpr", ["value", "lower", "upper"]].tolist() == pytest.approx(
        [0.12, 0.04, 0.20]
    )
    assert harm.loc["tpr", "incumbent_version"] == "v1"
    assert harm.loc["fpr", ["value", "lower", "upper"]].tolist() == pytest.approx(
        [0.08, 0.02, 0.14]
    )
    assert harm.loc["tpr", "n_labelled"] == 300
    assert (release_action(0.2), release_action(0.5), release_action(None)) == (
        "hold", "rollback", "hold",
    )  # fmt: skip


@pytest.fixture
def config(tmp_path):
    raw = demo_config(date(2026, 10, 1), tmp_path)
    raw["models"][MODEL]["slos"].append(CANARY)
    path = tmp_path / "monitored_models.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_config(path)


def slo_of(config):
    return next(s for s in config.models[MODEL].slos if s.name == CANARY["name"])


def test_a_clearly_worse_canary_is_a_bad_day_and_no_canary_is_unknown(config):
    slo, model = slo_of(config), config.models[MODEL]
    rows = pd.DataFrame(
        [comparison(-0.15, -0.25, -0.07), comparison(-0.01, -0.06, 0.04, value="north")]
    )
    reading = read_sli({"version_comparison": rows}, model, slo, min_cohort_size=50)
    assert reading.status == "bad" and reading.subject == "region=west"
    assert reading.bad_members == ("region=west",)
    # A small harm within the 0.05 allowance is fine.
    fine = pd.DataFrame([comparison(-0.03, -0.045, -0.015)])
    assert read_sli({"version_comparison": fine}, model, slo, min_cohort_size=50).status == "good"
    none = read_sli({"version_comparison": pd.DataFrame()}, model, slo, min_cohort_size=50)
    assert none.status == "unknown" and "one model version" in none.reason


def write_day(engine, n_incumbent: int, n_candidate: int):
    """cohort_stats and version_comparison of DAY: v2 (candidate) approves nobody in west."""
    rng = np.random.default_rng(3)
    rows = []
    for version, n in (("v1", n_incumbent), ("v2", n_candidate)):
        label = rng.integers(0, 2, n)
        region = rng.choice(["west", "north"], n)
        decision = np.where((version == "v2") & (region == "west"), 0, label)
        rows.append(pd.DataFrame({"model_version": version, "score": 0.5, "decision": decision,
                                  "label": label.astype(float), "region": region}))  # fmt: skip
    stats = compute_confusion_stats(pd.concat(rows), CohortSpec(["region"]))
    first_seen = {"v1": date(2026, 1, 1), "v2": DAY}
    compared = compare_versions(stats, first_seen, min_cohort_size=20)
    key = {"partition_date": DAY, "model_name": MODEL}
    replace_partitions(
        engine, model_name=MODEL, partition_date=DAY, audit=AUDIT,
        rows=[TableRows("cohort_stats", stats_to_rows(stats).assign(**key)),
              TableRows("version_comparison", compared.assign(**key))],
    )  # fmt: skip


@pytest.mark.parametrize(("n_candidate", "action"), [(300, "hold"), (3000, "rollback")])
def test_the_recommendation_names_the_candidate_its_harm_and_is_recorded_once(
    engine, config, n_candidate, action
):
    write_day(engine, 2000, n_candidate)
    slo = slo_of(config)
    advice = canary_recommendation(engine, MODEL, DAY, slo)
    assert advice["action"] == action
    assert (advice["candidate_version"], advice["incumbent_version"]) == ("v2", "v1")
    assert advice["cohort"] == "region=west" and advice["lower"] > 0.05
    assert advice["candidate_share"] == pytest.approx(n_candidate / (2000 + n_candidate))
    verb = "hold the rollout of v2" if action == "hold" else "roll back v2"
    assert advice["text"].startswith(verb)
    for _ in range(2):  # a re-executed alert_job records nothing new
        releases.record_recommendation(
            engine, alert_dedupe_key="error_budget:k", model_name=MODEL, slo_name=slo.name,
            as_of=DAY, recommendation=advice, run_id="r",
        )  # fmt: skip
    (stored,) = releases.recommendations(engine, MODEL).itertuples()
    assert (stored.action, stored.candidate_version, stored.status) == (action, "v2", "recommended")
    assert stored.evidence["cohort"] == "region=west"
    line = summary_line(
        {
            "model_name": MODEL,
            "subject": slo.name,
            "kind": "firing",
            "severity": "ticket",
            "reason": "burning",
            "recommendation": advice,
        }
    )
    assert f"recommended: {verb}" in line
