"""End to end on the real embedded PostgreSQL: retraining_job's command runs the reference
retrainer (a real subprocess), the fitted version then scores later days (canary share,
then all traffic), and cohort_metrics / version_comparison show both versions."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest
import yaml

from monitoring_pipeline.config import load_config
from monitoring_pipeline.defs.definitions import build_definitions
from monitoring_pipeline.defs.retraining import RETRAINING_JOB, retraining_run_config
from monitoring_pipeline.demo.generator import VersionRollout
from monitoring_pipeline.demo.publish import demo_config, publish_demo_sources
from monitoring_pipeline.demo.retrainer import load_scorer
from monitoring_pipeline.demo.retraining import (
    canary_window_comparison,
    simulate,
)
from monitoring_pipeline.orchestrate import QUIET_LOGGERS, days_between, run_days
from monitoring_pipeline.storage.retraining import get_request
from monitoring_pipeline_tests.helpers.worlds import START, table

pytestmark = pytest.mark.e2e

RETRAIN_DAY = START + timedelta(days=3)
CANARY_DAY = RETRAIN_DAY + timedelta(days=1)
FULL_DAY = RETRAIN_DAY + timedelta(days=2)
VOLUME = 400


def loan_only_config(tmp_path):
    """The demo config with loan_approval alone (half the work per day)."""
    raw = demo_config(START, tmp_path / "data")
    del raw["models"]["job_screening"]
    raw["models"]["loan_approval"]["cohorts"]["min_size"] = 10
    path = tmp_path / "monitored_models.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_config(path)


def request_retraining_now(config, instance, *, database_url, model_name, slo_name, as_of):
    """retraining_job with the contract config, launched by hand (as from the launchpad)."""
    job = build_definitions(config, database_url=database_url).resolve_job_def(RETRAINING_JOB)
    return job.execute_in_process(
        run_config=retraining_run_config(
            model_name=model_name,
            slo_name=slo_name,
            as_of=as_of.isoformat(),
            alert_dedupe_key=f"by-hand:{model_name}:{slo_name}:{as_of.isoformat()}",
        )
        | QUIET_LOGGERS,
        instance=instance,
        raise_on_error=False,
    )


def test_new_version_serves_later_days_and_both_versions_are_compared(
    engine, database_url, dagster_instance, tmp_path, monkeypatch
):
    config = loan_only_config(tmp_path)
    # The retrainer subprocess reads the same config; the job hands it the database URL.
    monkeypatch.setenv("MONITORING_CONFIG", str(tmp_path / "monitored_models.yaml"))
    monkeypatch.setenv("MONITORING_HOME", str(tmp_path / "home"))
    traffic = simulate(START, RETRAIN_DAY, scenario_end=FULL_DAY, seed=11, daily_volume=VOLUME)
    publish_demo_sources(engine, traffic, tmp_path / "data")
    first = run_days(
        config, dagster_instance, days_between(START, RETRAIN_DAY), database_url=database_url
    )
    assert all(run.success for run in first)

    result = request_retraining_now(
        config,
        dagster_instance,
        database_url=database_url,
        model_name="loan_approval",
        slo_name="tpr_gap_region",
        as_of=RETRAIN_DAY,
    )
    failures = [
        e.step_failure_data.user_failure_data.description
        for e in result.all_events
        if e.event_type_value == "STEP_FAILURE"
    ]
    assert result.success, failures
    request = get_request(engine, result.output_for_node("request_retraining"))
    assert request.status == "completed", request.status_reason
    assert request.result_version == f"v1.4.0-rt{request.request_id}"
    stored = table(engine, "model_versions").iloc[0]
    assert stored.model_version == request.result_version and stored.reweighted_by == "region"
    assert stored.training_start == START and stored.training_end == RETRAIN_DAY
    assert stored.training_rows + stored.holdout_rows >= 200

    scorer, threshold = load_scorer(engine, "loan_approval", request.result_version)
    rollout = VersionRollout(
        version=request.result_version,
        scorer=scorer,
        canary_from=CANARY_DAY,
        full_from=FULL_DAY,
        canary_share=0.5,
        threshold=threshold,
    )
    traffic = simulate(
        START,
        FULL_DAY,
        scenario_end=FULL_DAY,
        seed=11,
        daily_volume=VOLUME,
        rollouts={"loan_approval": rollout},
    )
    publish_demo_sources(engine, traffic, tmp_path / "data")
    later = run_days(config, dagster_instance, [CANARY_DAY, FULL_DAY], database_url=database_url)
    assert all(run.success for run in later)

    labeled = table(engine, "labeled_predictions")
    loan = labeled[labeled.model_name == "loan_approval"]
    versions = loan.groupby("partition_date").model_version.agg(lambda v: sorted(set(v)))
    assert versions[RETRAIN_DAY] == ["v1.4.0"]
    assert versions[CANARY_DAY] == ["v1.4.0", request.result_version]
    assert versions[FULL_DAY] == [request.result_version]
    canary_share = (loan[loan.partition_date == CANARY_DAY].model_version != "v1.4.0").mean()
    assert 0.4 < canary_share < 0.6

    metrics = table(engine, "cohort_metrics")
    on_canary = metrics[
        (metrics.model_name == "loan_approval") & (metrics.partition_date == CANARY_DAY)
    ]
    assert set(on_canary.model_version) == {"v1.4.0", request.result_version, "all"}

    comparison = table(engine, "version_comparison")
    assert set(comparison.partition_date) == {CANARY_DAY}  # one version served the other days
    assert set(comparison.candidate_version) == {request.result_version}
    assert set(comparison.incumbent_version) == {"v1.4.0"}
    # The stored figures are the per-version cohort_metrics of the day, subtracted.
    overall = comparison[(comparison.cohort_attribute == "all") & (comparison.metric == "tpr")]
    by_version = on_canary[(on_canary.cohort_attribute == "all") & (on_canary.metric == "tpr")]
    tpr = dict(zip(by_version.model_version, by_version.value, strict=True))
    assert overall.difference.iloc[0] == pytest.approx(tpr[request.result_version] - tpr["v1.4.0"])
    assert overall.lower.iloc[0] <= overall.difference.iloc[0] <= overall.upper.iloc[0]
    pooled = canary_window_comparison(engine, config, "loan_approval", [CANARY_DAY])
    pd.testing.assert_series_equal(
        pooled.sort_values(["cohort_attribute", "cohort_value", "metric"]).difference.reset_index(
            drop=True
        ),
        comparison[comparison.model_name == "loan_approval"]
        .sort_values(["cohort_attribute", "cohort_value", "metric"])
        .difference.reset_index(drop=True),
        check_names=False,
    )
