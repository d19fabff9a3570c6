"""What an alert says and where it leads, from hand-made evidence and the config (no database)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from monitoring_pipeline.alerting.health_signals import HEALTH_SOURCE
from monitoring_pipeline.alerting.links import dagster_partition_url, report_url
from monitoring_pipeline.alerting.messages import (
    links_line,
    log_line,
    rank_worst_cohorts,
    slack_payload,
    summary_line,
)
from monitoring_pipeline.config import parse_config
from monitoring_pipeline.demo.publish import demo_config
from monitoring_pipeline.pipeline.alerts import AlertRequest, alert_context
from monitoring_pipeline_tests.alerting.helpers import GAP_SLO, MODEL, START

DAY = date(2026, 11, 18)
RUNBOOK = "https://runbooks.example.com/ml/tpr_gap_region"
REPORT = "file:///srv/reports/loan_approval/2026-11-18.html"
DAGSTER = "https://dagster.example.com/assets/loan_approval/error_budgets?view=partitions&partition=2026-11-18"
KEY = "error_budget:loan_approval:tpr_gap_region:page:2026-11-16"


def page_evidence(**overrides) -> dict:
    """A page of a fairness SLO whose worst gap is negative, as fairness_disparities stores it."""
    return {
        "source": "error_budget",
        "kind": "firing",
        "severity": "page",
        "model_name": "loan_approval",
        "subject": "tpr_gap_region",
        "reason": "new page episode",
        "as_of": DAY.isoformat(),
        "episode_start": "2026-11-16",
        "evidence_day": "2026-11-17",
        "objective": "|tpr_difference| <= 0.1",
        "budget": {
            "status": "page",
            "burn_rate_long": 7.1,
            "long_window_days": 7,
            "burn_rate_short": 10.0,
            "short_window_days": 2,
            "bad_days": 5,
            "known_days": 23,
            "remaining_days": -2.7,
            "budget_days": 2.3,
        },  # fmt: skip
        "worst_cohorts": [
            {
                "cohort": "region=west vs north",
                "value": -0.395,
                "lower": -0.515,
                "upper": -0.275,
                "sufficient": True,
                "beyond_objective": True,
            },
        ],  # fmt: skip
        "affected_partitions": [],
        "links": {"report": REPORT, "dagster": DAGSTER, "runbook": RUNBOOK},
        "dagster_asset": "loan_approval/error_budgets",
        "owners": ["team:credit-risk", "ml-steward@example.com"],
    } | overrides


def test_summary_keeps_the_sign_of_the_gap_and_names_the_owners():
    assert summary_line(page_evidence()) == (
        "[PAGE] loan_approval/tpr_gap_region: new page episode; burn 7.1x over 7d / 10.0x over"
        " 2d, 5 bad of 23 known days, budget remaining -2.7 of 2.3 days; worst region=west vs"
        " north -0.395 [95% -0.515, -0.275] (objective |tpr_difference| <= 0.1);"
        " owners team:credit-risk, ml-steward@example.com"
    )


def test_log_line_carries_the_key_and_every_link_runbook_first():
    line = log_line(page_evidence(), KEY)
    assert line == (
        f"ALERT {summary_line(page_evidence())} [{KEY}]"
        f" runbook {RUNBOOK} | report {REPORT} | dagster partition {DAGSTER}"
    )


def test_slack_message_links_as_mrkdwn_and_buttons():
    message = slack_payload(page_evidence(), KEY)
    escaped_dagster = DAGSTER.replace("&", "&amp;")
    first, second = message["text"].split("\n")
    assert first.endswith(
        "(objective |tpr_difference| &lt;= 0.1); owners team:credit-risk, ml-steward@example.com"
    )
    assert (
        second == f"<{RUNBOOK}|Runbook> | <{REPORT}|Report> | <{escaped_dagster}|Dagster partition>"
    )
    # The summary block is the summary alone: the links have their own blocks.
    assert message["blocks"][1]["text"]["text"] == first
    links, buttons = message["blocks"][2], message["blocks"][3]
    assert [f["text"] for f in links["fields"]] == [
        "*Owners*\nteam:credit-risk, ml-steward@example.com",
        f"*Runbook*\n<{RUNBOOK}|runbook of tpr_gap_region>",
        f"*Report*\n`{REPORT}`",  # Slack opens web links only: the file is shown as its path
        f"*Dagster partition*\n<{escaped_dagster}|loan_approval/error_budgets 2026-11-18>",
    ]
    assert buttons == {
        "type": "actions",
        "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": "Runbook"},
             "url": RUNBOOK, "action_id": "open_runbook"},
            {"type": "button", "text": {"type": "plain_text", "text": "Dagster partition"},
             "url": DAGSTER, "action_id": "open_dagster"},
        ],
    }  # fmt: skip
    worst = next(
        b for b in message["blocks"] if "Worst cohorts" in b.get("text", {}).get("text", "")
    )
    assert "region=west vs north -0.395 [95% -0.515, -0.275]" in worst["text"]["text"]


def test_an_intersection_cohort_is_escaped_for_slack():
    cohort = {"cohort": "sex&region=female&west vs male&north", "value": -0.2,
              "lower": -0.3, "upper": -0.1, "sufficient": True}  # fmt: skip
    message = slack_payload(page_evidence(worst_cohorts=[cohort]), KEY)
    assert "worst sex&amp;region=female&amp;west vs male&amp;north -0.200" in message["text"]
    worst = next(
        b for b in message["blocks"] if "Worst cohorts" in b.get("text", {}).get("text", "")
    )
    assert "• sex&amp;region=female&amp;west vs male&amp;north -0.200" in worst["text"]["text"]


def test_a_set_slo_names_its_bad_members_where_it_names_the_worst_cohort():
    """A set SLO (every group of every attribute): the summary and the Slack message list
    the members judged bad on the evidence day, clearest violation first."""
    members = ["region=west vs north", "sex&region=female&west vs male&north",
               "age_band=65+ vs 35-50", "region=south vs north"]  # fmt: skip
    evidence = page_evidence(
        subject="tpr_gap_every_attribute",
        reading={"subject": members[0], "status": "bad", "value": 0.395, "lower": 0.25,
                 "upper": 0.53, "reason": "interval wholly beyond <= 0.1",
                 "bad_members": members, "members": 14},
    )  # fmt: skip
    summary = summary_line(evidence)
    assert (
        "; worst region=west vs north -0.395 [95% -0.515, -0.275]; 4 bad members"
        " region=west vs north, sex&region=female&west vs male&north, age_band=65+ vs 35-50"
        " (+1 more) (objective" in summary
    )
    message = slack_payload(evidence, KEY)
    block = next(b for b in message["blocks"] if "Bad members" in b.get("text", {}).get("text", ""))
    assert block["text"]["text"] == (
        "*Bad members (2026-11-17, 14 judged)*\n• region=west vs north\n"
        "• sex&amp;region=female&amp;west vs male&amp;north\n• age_band=65+ vs 35-50\n"
        "• region=south vs north"
    )
    # One bad member: the summary reads as before (its worst cohort says it all).
    one_bad = page_evidence(reading={"subject": members[0], "bad_members": members[:1],
                                     "members": 14})  # fmt: skip
    assert summary_line(one_bad) == summary_line(page_evidence())
    # An SLO on one group has no members block.
    single = page_evidence(reading={"subject": members[0], "bad_members": members[:1],
                                    "members": 1})  # fmt: skip
    assert summary_line(single) == summary_line(page_evidence())
    assert not any(
        "Bad members" in b.get("text", {}).get("text", "")
        for b in slack_payload(single, KEY)["blocks"]
    )


def test_a_served_report_gets_a_button_and_no_runbook_or_owner_says_so():
    served = "https://reports.example.com/loan_approval/2026-11-18.html"
    evidence = page_evidence(
        links={"report": served, "dagster": DAGSTER, "runbook": None}, owners=[]
    )
    message = slack_payload(evidence, KEY)
    assert [f["text"].split("\n")[0] for f in message["blocks"][2]["fields"]] == [
        "*Owners*", "*Report*", "*Dagster partition*",
    ]  # fmt: skip
    assert message["blocks"][2]["fields"][0]["text"] == "*Owners*\nnone configured"
    assert [b["url"] for b in message["blocks"][3]["elements"]] == [served, DAGSTER]
    assert "owners" not in summary_line(evidence)
    assert links_line(evidence) == f"report {served} | dagster partition {DAGSTER}"


def test_health_alert_links_its_pipeline_health_partition():
    dagster = "http://127.0.0.1:3000/assets/loan_approval/pipeline_health?view=partitions&partition=2026-11-18"
    evidence = {
        "source": HEALTH_SOURCE, "kind": "firing", "severity": "ticket",
        "model_name": "loan_approval", "subject": "label_lag", "reason": "new ticket episode",
        "as_of": DAY.isoformat(), "episode_start": DAY.isoformat(),
        "finding": {"message": "p90 label lag 40 days", "observed": 40.0, "threshold": 30.0},
        "links": {"report": REPORT, "dagster": dagster, "runbook": None},
        "dagster_asset": "loan_approval/pipeline_health", "owners": ["team:credit-risk"],
    }  # fmt: skip
    assert summary_line(evidence) == (
        "[TICKET] loan_approval/label_lag: new ticket episode; p90 label lag 40 days"
        " (observed 40, threshold 30); owners team:credit-risk"
    )
    message = slack_payload(evidence, "k")
    assert [b["url"] for b in message["blocks"][3]["elements"]] == [dagster]


def test_evidence_from_before_links_renders_as_before():
    evidence = page_evidence()
    for key in ("links", "dagster_asset", "owners"):
        evidence.pop(key)
    message = slack_payload(evidence, KEY)
    assert "\n" not in message["text"]
    assert [b["type"] for b in message["blocks"]][:3] == ["header", "section", "section"]
    assert "fields" in message["blocks"][2]  # the budget, no links section
    assert log_line(evidence, KEY) == f"ALERT {summary_line(evidence)} [{KEY}]"


def test_ranking_judges_the_size_of_a_gap_and_returns_it_signed():
    rows = pd.DataFrame(
        {
            "cohort": ["west", "south", "east"],
            "value": [-0.30, 0.05, 0.20],
            "lower": [-0.39, -0.02, 0.12],
            "upper": [-0.21, 0.12, 0.28],
            "sufficient": True,
            "judged_value": [0.30, 0.05, 0.20],
            "judged_lower": [0.21, 0.0, 0.12],
            "judged_upper": [0.39, 0.12, 0.28],
        }
    )
    ranked = rank_worst_cohorts(rows, "<=", 0.1)
    assert [(c["cohort"], c["value"], c["lower"], c["beyond_objective"]) for c in ranked] == [
        ("west", -0.30, -0.39, True),  # |gap| >= 0.21, clearest beyond 0.1
        ("east", 0.20, 0.12, True),
        ("south", 0.05, -0.02, False),
    ]


def test_dagster_link_is_the_ui_partition_page_with_each_key_part_encoded():
    assert dagster_partition_url(
        "http://127.0.0.1:3000/", ["loan approval", "error_budgets"], "2026-11-18"
    ) == (
        "http://127.0.0.1:3000/assets/loan%20approval/error_budgets?view=partitions&partition=2026-11-18"
    )


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        (None, "file:///srv/reports/loan_approval/2026-11-18.html"),
        (
            "https://reports.example.com/ml/",
            "https://reports.example.com/ml/loan_approval/2026-11-18.html",
        ),
    ],
)
def test_report_link_served_or_file(base, expected):
    assert (
        report_url("loan_approval", DAY, reports_dir=Path("/srv/reports"), reports_base_url=base)
        == expected
    )


def test_alert_context_from_the_config():
    """The links and owners alert_job adds to the evidence: the default reports folder is
    under MONITORING_HOME; an SLO's owner replaces the model's; a health alert leads to
    pipeline_health, with no runbook and the model's owners."""
    raw = demo_config(START, Path("/data"))
    raw["links"] = {"dagster_url": "https://dagster.example.com/"}
    raw["models"][MODEL]["slos"][0]["owner"] = "fairness-lead@example.com"
    config = parse_config(raw)
    slo = config.models[MODEL].slos[0]
    request = AlertRequest(
        model_name=MODEL, slo_name=GAP_SLO, severity="page", kind="firing", as_of=DAY,
        dedupe_key=KEY, episode_start=DAY, reason="new page episode",
    )  # fmt: skip
    home = {"MONITORING_HOME": "/srv/monitoring"}
    assert alert_context(config, request, slo, home) == {
        "links": {
            "report": "file:///srv/monitoring/reports/loan_approval/2026-11-18.html",
            "dagster": "https://dagster.example.com/assets/loan_approval/error_budgets"
            "?view=partitions&partition=2026-11-18",
            "runbook": "https://runbooks.example.com/ml/tpr_gap_region",
        },
        "dagster_asset": "loan_approval/error_budgets",
        "owners": ["fairness-lead@example.com"],
    }
    health = AlertRequest(
        model_name=MODEL, slo_name="", severity="ticket", kind="firing", as_of=DAY,
        dedupe_key="k", episode_start=DAY, reason="r", source=HEALTH_SOURCE, subject="label_lag",
    )  # fmt: skip
    context = alert_context(config, health, None, home)
    assert context["links"]["dagster"].endswith(
        "/assets/loan_approval/pipeline_health?view=partitions&partition=2026-11-18"
    )
    assert (context["links"]["runbook"], context["owners"]) == (
        None,
        ["team:credit-risk", "ml-steward@example.com"],
    )
