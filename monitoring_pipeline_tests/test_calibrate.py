"""calibrate on hand-written slo_evaluations of a real database: the suggestions, the YAML a
person reviews, and applying it to a config (what `backtest --objectives` does)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest
import yaml

from monitoring_pipeline.calibrate import (
    SECTION,
    apply_objectives,
    calibrate,
    suggestions_yaml,
    table_lines,
)
from monitoring_pipeline.cli import main
from monitoring_pipeline.config import load_config
from monitoring_pipeline.demo.publish import demo_config
from monitoring_pipeline.storage.writes import Audit, TableRows, replace_partitions

START = date(2026, 10, 1)
DAYS = [START + timedelta(days=i) for i in range(10)]


def evaluations(model: str, slo: str, values, half_widths, statuses, op: str, objective: float):
    return [
        {
            "slo_name": slo, "sli_source": "x", "sli_metric": "x", "sli_subject": "x",
            "value": v, "lower": v - h, "upper": v + h, "objective_op": op,
            "objective_value": objective, "sufficient": s != "unknown", "status": s,
            "reason": "test",
        }
        for v, h, s in zip(values, half_widths, statuses, strict=True)
    ]  # fmt: skip


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "models.yaml"
    path.write_text(yaml.safe_dump(demo_config(START, tmp_path / "data")))
    return load_config(path)


@pytest.fixture
def healthy_period(engine, config):
    """tpr_gap_region: gaps 0.01..0.10 with half-widths 0.02 / 0.04, plus a day too small
    to judge with a huge value (never counted); accuracy_all: 0.80..0.89 +- 0.02; the other
    SLOs are never judged."""
    gaps = [*(i / 100 for i in range(1, 11))]
    rows = {
        day: [
            *evaluations(
                "loan_approval", "tpr_gap_region", [gaps[i]], [0.02 if i < 5 else 0.04],
                ["good"], "<=", 0.1,
            ),
            *evaluations(
                "loan_approval", "accuracy_all", [0.8 + i / 100], [0.02], ["good"], ">=", 0.7
            ),
            *evaluations("loan_approval", "income_psi", [0.5], [float("nan")], ["unknown"], "<", 0.25),
        ]
        for i, day in enumerate(DAYS)
    }  # fmt: skip
    extra = DAYS[-1] + timedelta(days=1)
    rows[extra] = evaluations(
        "loan_approval", "tpr_gap_region", [0.9], [0.5], ["unknown"], "<=", 0.1
    )
    audit = Audit(run_id="test", produced_at=datetime(2026, 10, 20, tzinfo=UTC))
    for day, day_rows in rows.items():
        frame = pd.DataFrame(day_rows).assign(partition_date=day, model_name="loan_approval")
        replace_partitions(
            engine, model_name="loan_approval", partition_date=day,
            rows=[TableRows("slo_evaluations", frame)], audit=audit,
        )  # fmt: skip
    return DAYS[0], extra


def test_suggestions_from_the_judged_days(engine, config, healthy_period):
    start, end = healthy_period
    rows = {r.slo_name: r for r in calibrate(engine, config, start, end, models=["loan_approval"])}
    assert rows["tpr_gap_region"].suggestion.value == 0.126  # 0.0955 + 0.03, up
    assert rows["tpr_gap_region"].suggestion.days == 10  # the unknown day left out
    assert rows["accuracy_all"].suggestion.value == 0.784  # 0.8045 - 0.02, down
    assert rows["income_psi"].suggestion.value is None
    lines = table_lines(list(rows.values()))
    assert any(
        "tpr_gap_region" in line and "<= 0.1" in line and "<= 0.126" in line for line in lines
    )


def test_yaml_round_trips_into_the_config(engine, config, healthy_period, tmp_path):
    start, end = healthy_period
    rows = calibrate(engine, config, start, end, models=["loan_approval"])
    path = tmp_path / "objectives.yaml"
    path.write_text(suggestions_yaml(rows, start, end))
    text = path.read_text()
    assert text.startswith("# Objectives suggested")
    section = yaml.safe_load(text)[SECTION]
    assert section["period"] == {"start": start.isoformat(), "end": end.isoformat()}
    entry = section["models"]["loan_approval"]["tpr_gap_region"]
    assert entry["objective"] == {"op": "<=", "value": 0.126}
    assert entry["current"] == {"op": "<=", "value": 0.1}

    applied = apply_objectives(config, path)
    slos = {slo.name: slo for slo in applied.models["loan_approval"].slos}
    assert slos["tpr_gap_region"].objective.value == 0.126
    assert slos["accuracy_all"].objective.value == 0.784
    assert slos["income_psi"].objective.value == 0.25  # no suggestion: kept
    # The config itself is untouched (nothing is applied behind a person's back).
    assert config.models["loan_approval"].slos[0].objective.value == 0.1


def test_apply_names_an_unknown_slo(config, tmp_path):
    path = tmp_path / "objectives.yaml"
    path.write_text(yaml.safe_dump({SECTION: {"models": {"loan_approval": {"nope": {}}}}}))
    with pytest.raises(ValueError, match=r"loan_approval has no SLO \['nope'\]"):
        apply_objectives(config, path)
    path.write_text("models: {}")
    with pytest.raises(ValueError, match="no 'calibrated_objectives.models' section"):
        apply_objectives(config, path)


def test_cli_writes_the_section_and_prints_the_table(
    database_url, config, healthy_period, tmp_path, monkeypatch, capsys
):
    start, end = healthy_period
    config_path = tmp_path / "models.yaml"
    monkeypatch.setenv("MONITORING_CONFIG", str(config_path))
    monkeypatch.setenv("MONITORING_DATABASE_URL", database_url)
    out = tmp_path / "suggested.yaml"
    code = main(
        ["calibrate", "--start", start.isoformat(), "--end", end.isoformat(),
         "--model", "loan_approval", "--output", str(out)]
    )  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "tpr_gap_region" in printed and "0.126" in printed
    assert yaml.safe_load(out.read_text())[SECTION]["models"]["loan_approval"]["accuracy_all"][
        "objective"
    ] == {"op": ">=", "value": 0.784}
