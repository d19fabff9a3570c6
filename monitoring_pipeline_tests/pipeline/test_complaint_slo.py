"""How a complaint SLO judges a day (no database): final rates like any rate, an open
window bad only on clear evidence (its rate can only grow), never good; set SLOs recompute
the Wilson intervals at the Bonferroni level from the published counts."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
import yaml
from statsmodels.stats.proportion import proportion_confint

from monitoring_pipeline.config import load_config
from monitoring_pipeline.core.complaints import complaint_rates, window_closes_at
from monitoring_pipeline.demo.publish import demo_config
from monitoring_pipeline.pipeline.slo import read_sli

DAY = date(2026, 11, 2)
SLO = "complaint_rate_region"  # every region's rate <= 4%


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("complaint_slo") / "m.yaml"
    path.write_text(yaml.safe_dump(demo_config(date(2026, 10, 1), path.parent)))
    return load_config(path).models["loan_approval"]


def frames_of(counts: dict[str, tuple[int, int]], *, complete: bool) -> dict[str, pd.DataFrame]:
    """complaint_metrics of one day: region -> (predictions, complaints)."""
    table = pd.DataFrame(
        {
            "cohort_attribute": "region",
            "cohort_value": list(counts),
            "predictions": [n for n, _ in counts.values()],
            "complaints": [k for _, k in counts.values()],
        }
    )
    rates = complaint_rates(table, min_count=50).assign(
        model_version="all",
        window_closes_at=window_closes_at(DAY, 14),
        window_complete=complete,
    )
    return {"complaint_metrics": rates}


def slo_of(model):
    (slo,) = [s for s in model.slos if s.name == SLO]
    return slo


def test_a_final_day_is_judged_like_any_rate_on_bonferroni_intervals(model):
    counts = {"north": (2000, 40), "south": (1500, 36), "east": (1200, 30), "west": (400, 48)}
    reading = read_sli(frames_of(counts, complete=True), model, slo_of(model))
    # west: 12% of 400. At the level of 4 intervals (1 - 0.05/4), from its counts.
    lower, upper = proportion_confint(48, 400, alpha=0.05 / 4, method="wilson")
    assert (reading.status, reading.subject) == ("bad", "region=west")
    assert (reading.lower, reading.upper) == (pytest.approx(lower), pytest.approx(upper))
    assert reading.confidence == pytest.approx(1 - 0.05 / 4)
    healthy = {**counts, "west": (400, 8)}
    assert read_sli(frames_of(healthy, complete=True), model, slo_of(model)).status == "good"


def test_an_open_window_can_show_a_breach_but_never_health(model):
    counts = {"north": (2000, 40), "south": (1500, 36), "east": (1200, 30), "west": (400, 48)}
    breach = read_sli(frames_of(counts, complete=False), model, slo_of(model))
    assert (breach.status, breach.subject, breach.upper) == ("bad", "region=west", 1.0)
    assert breach.reason.startswith("complaint window open until 2026-11-17 00:00 UTC")
    assert "1 of 4 members bad" in breach.reason
    quiet = read_sli(frames_of({**counts, "west": (400, 8)}, complete=False), model, slo_of(model))
    assert quiet.status == "unknown"
    assert "can still grow" in quiet.reason and len(quiet.unknown_members) == 4


def test_a_complaint_slo_needs_a_complaints_source(tmp_path):
    raw = demo_config(date(2026, 10, 1), tmp_path)
    del raw["models"]["loan_approval"]["complaints"]
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(Exception, match="complaint SLIs need a complaints: source"):
        load_config(path)
