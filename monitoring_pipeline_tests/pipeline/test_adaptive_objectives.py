"""Adaptive objectives: the band from the SLO's own good days (stored evaluations), the day
judged against its edge, the band stored with the row, and config validation."""

from __future__ import annotations

import statistics
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest
import yaml

from monitoring_pipeline.config import load_config
from monitoring_pipeline.config.loader import ConfigError
from monitoring_pipeline.core.objectives import adaptive_band
from monitoring_pipeline.demo.publish import demo_config
from monitoring_pipeline.pipeline.slo import (
    SLIReading,
    evaluate_slo,
    objective_band,
    slo_evaluation_row,
)
from monitoring_pipeline.storage.writes import Audit, TableRows, replace_partitions

MODEL = "loan_approval"
DAY = date(2026, 11, 1)
AUDIT = Audit("test-run", datetime(2026, 11, 2, tzinfo=UTC))
ADAPTIVE = {
    "name": "accuracy_adaptive",
    "sli": {"source": "cohort_metrics", "metric": "accuracy", "cohort": "all"},
    "objective": {
        "op": ">=",
        "value": 0.7,
        "adaptive": {"k": 2, "window_days": 10, "min_days": 4},
    },
}


def config_with(tmp_path, slo: dict):
    raw = demo_config(date(2026, 10, 1), tmp_path)
    raw["models"][MODEL]["slos"].append(slo)
    path = tmp_path / "monitored_models.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_config(path)


def test_band_is_mean_and_sample_sd_of_the_history():
    values = [0.81, 0.79, 0.83, 0.80, 0.82, float("nan")]
    band = adaptive_band(values, ">=", k=2, min_days=5)
    finite = values[:-1]
    assert band.days == 5
    assert band.mean == pytest.approx(statistics.mean(finite))
    assert band.sd == pytest.approx(statistics.stdev(finite))
    assert band.objective == pytest.approx(band.mean - 2 * band.sd) == band.lower
    assert adaptive_band(values, "<=", k=3, min_days=5).objective == pytest.approx(
        statistics.mean(finite) + 3 * statistics.stdev(finite)
    )
    assert adaptive_band(values, ">=", k=2, min_days=6) is None


def write_history(engine, config, days_values_statuses):
    slo = next(s for s in config.models[MODEL].slos if s.name == ADAPTIVE["name"])
    for day, value, status in days_values_statuses:
        reading = SLIReading("all", value, value - 0.01, value + 0.01, True, status, "history")
        row = slo_evaluation_row(reading, slo)
        frame = pd.DataFrame([row]).assign(partition_date=day, model_name=MODEL)
        frame = frame.astype({"band_mean": float, "band_sd": float, "band_days": "Int64"})
        replace_partitions(
            engine, model_name=MODEL, partition_date=day,
            rows=[TableRows("slo_evaluations", frame)], audit=AUDIT,
        )  # fmt: skip
    return slo


def accuracy_frame(value: float, half_width: float = 0.01) -> dict[str, pd.DataFrame]:
    return {
        "cohort_metrics": pd.DataFrame(
            {
                "cohort_attribute": ["all"],
                "cohort_value": ["all"],
                "metric": ["accuracy"],
                "value": [value],
                "lower": [value - half_width],
                "upper": [value + half_width],
                "sufficient": [True],
                "n_labelled": [900],
            }
        )
    }


def test_the_day_is_judged_against_the_band_of_its_good_days(engine, tmp_path):
    config = config_with(tmp_path, ADAPTIVE)
    good = [0.80, 0.82, 0.81, 0.79, 0.80]
    history = [(DAY - timedelta(days=6 - i), v, "good") for i, v in enumerate(good)]
    # A bad day and a day outside the 10-day window never shape the band.
    history += [(DAY - timedelta(days=1), 0.40, "bad"), (DAY - timedelta(days=15), 0.1, "good")]
    slo = write_history(engine, config, history)

    band = objective_band(engine, MODEL, slo, DAY)
    assert band.days == 5
    assert band.objective == pytest.approx(statistics.mean(good) - 2 * statistics.stdev(good))

    fine = evaluate_slo(engine, accuracy_frame(0.79), config, MODEL, slo, DAY, min_cohort_size=50)
    assert fine["status"] == "good" and fine["objective_kind"] == "adaptive"
    assert fine["objective_value"] == pytest.approx(band.objective)
    assert (fine["band_mean"], fine["band_sd"], fine["band_days"]) == pytest.approx(
        (statistics.mean(good), statistics.stdev(good), 5)
    )
    assert "adaptive objective" in fine["reason"] and "5 good days" in fine["reason"]
    # 0.76 is above the fixed 0.7 but its whole interval is below the band's edge (~0.78).
    drop = evaluate_slo(engine, accuracy_frame(0.76), config, MODEL, slo, DAY, min_cohort_size=50)
    assert drop["status"] == "bad"


def test_a_short_history_falls_back_to_the_fixed_value(engine, tmp_path):
    config = config_with(tmp_path, ADAPTIVE)
    slo = write_history(engine, config, [(DAY - timedelta(days=k), 0.8, "good") for k in (1, 2, 3)])
    row = evaluate_slo(engine, accuracy_frame(0.76), config, MODEL, slo, DAY, min_cohort_size=50)
    assert row["status"] == "good" and row["objective_value"] == 0.7
    assert row["band_mean"] is None and "fixed 0.7 applies" in row["reason"]


def test_adaptive_settings_are_checked_at_load(tmp_path):
    bad = {**ADAPTIVE, "objective": {**ADAPTIVE["objective"],
                                     "adaptive": {"window_days": 5, "min_days": 9}}}  # fmt: skip
    with pytest.raises(ConfigError, match="min_days must not exceed window_days"):
        config_with(tmp_path, bad)
    zero_k = {**ADAPTIVE, "objective": {**ADAPTIVE["objective"], "adaptive": {"k": 0}}}
    with pytest.raises(ConfigError, match="k"):
        config_with(tmp_path, zero_k)
