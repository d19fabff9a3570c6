"""Game days: ``monitoring-pipeline demo --incident NAME[,NAME] [--onset D]`` injects the
chosen simulator incidents from the onset instead of the default scenario's."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest

from monitoring_pipeline.cli import build_parser
from monitoring_pipeline.demo.expectations import EXPECTATIONS, scenario_incidents
from monitoring_pipeline.demo.retraining import simulate
from monitoring_pipeline.demo.script import DemoOptions, run_demo

START, END = date(2026, 10, 1), date(2026, 10, 8)
ONSET = date(2026, 10, 5)


def _day(frame: pd.DataFrame, day: date) -> pd.DataFrame:
    scored = frame["scored_at"].dt.date
    return frame[scored == day].reset_index(drop=True)


def test_the_chosen_incidents_change_their_models_days_from_the_onset_only():
    kinds = ("MalformedRows", "ThresholdChange")
    game = simulate(
        START, END, scenario_end=END, seed=7, daily_volume=300, kinds=kinds, onset=ONSET
    )
    healthy = simulate(START, END, scenario_end=END, seed=7, daily_volume=300, healthy=True)
    for model in ("loan_approval", "job_screening"):
        chosen = [k for k in kinds if EXPECTATIONS[k].model == model]
        assert chosen, model  # one incident per model
        for offset in range((END - START).days + 1):
            day = START + timedelta(days=offset)
            same = _day(game[model].predictions, day).equals(_day(healthy[model].predictions, day))
            # Before the onset, the day's rows are the healthy ones; from it, the incident's.
            assert same == (day < ONSET), (model, day)


def test_incidents_per_model_and_default_onset():
    incidents = {
        model: scenario_incidents(model, START, END + timedelta(days=20), kinds=tuple(EXPECTATIONS))
        for model in ("loan_approval", "job_screening")
    }
    names = {m: sorted(type(i).__name__ for i in found) for m, found in incidents.items()}
    assert sorted(names["loan_approval"] + names["job_screening"]) == sorted(EXPECTATIONS)
    assert {i.start for found in incidents.values() for i in found} == {START + timedelta(days=14)}
    assert (
        scenario_incidents("loan_approval", START, END, healthy=True, kinds=("LabelOutage",)) == []
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (DemoOptions(incidents=("Meteor",)), "unknown incident(s) Meteor; known: "),
        (DemoOptions(incidents=("LabelOutage",), onset=date(2030, 1, 1)), "--onset 2030-01-01"),
        (DemoOptions(incidents=("LabelOutage",), healthy=True), "exclude each other"),
    ],
)
def test_a_bad_game_day_is_one_line_and_exit_2(options, message):
    said = []
    assert run_demo(options, say=said.append) == 2
    (line,) = said
    assert message in line


def test_the_command_line_reaches_the_options():
    args = build_parser().parse_args(
        ["demo", "--incident", "MinorityDegradation, LabelOutage", "--onset", "2026-11-10"]
    )
    assert args.incidents == ("MinorityDegradation", "LabelOutage")
    assert args.onset == date(2026, 11, 10)
