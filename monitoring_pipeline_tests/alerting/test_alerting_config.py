"""The `alerting:` section and what alerts lead to (SLO runbooks and owners): defaults, and
one clear line naming the key for bad values."""

from datetime import date
from pathlib import Path

import pytest

from monitoring_pipeline.config import ConfigError, parse_config
from monitoring_pipeline.demo.publish import DEMO_WEBHOOK_URL, demo_config


def parse(alerting: dict | None, *, slo: dict | None = None):
    """The demo config with this ``alerting`` section (None: none at all) and ``slo`` keys
    set on loan_approval's first SLO."""
    raw = demo_config(date(2026, 10, 1), Path("/tmp"))
    if alerting is None:
        raw.pop("alerting")
    else:
        raw["alerting"] = alerting
    raw["models"]["loan_approval"]["slos"][0].update(slo or {})
    return parse_config(raw, source="m.yaml")


def test_defaults_and_the_demo_destination():
    alerting = parse(None).alerting
    assert (alerting.check_every_seconds, alerting.webhooks) == (120, [])
    assert (alerting.cooldown_days.ticket, alerting.cooldown_days.page) == (7, 3)
    missing = alerting.health_checks_missing
    assert (missing.grace_days, missing.severity) == (1, "page")
    (demo,) = parse(demo_config(date(2026, 10, 1), Path("/tmp"))["alerting"]).alerting.webhooks
    assert (demo.url, demo.timeout_seconds, demo.max_attempts, demo.receives) == (
        DEMO_WEBHOOK_URL, 5, 3, {"ticket", "page"},
    )  # fmt: skip


@pytest.mark.parametrize(
    ("routing", "receives"),
    [
        ({}, {"ticket", "page"}),
        ({"severities": ["ticket"]}, {"ticket"}),
        ({"severities": ["page"]}, {"page"}),
        ({"severities": ["page", "ticket"]}, {"ticket", "page"}),
        ({"min_severity": "ticket"}, {"ticket", "page"}),  # the older form, still accepted
        ({"min_severity": "page"}, {"page"}),
    ],
)
def test_each_webhook_chooses_its_severities(routing, receives):
    (hook,) = parse({"webhooks": [{"name": "x", "url": "http://h"} | routing]}).alerting.webhooks
    assert hook.receives == receives


def test_slo_runbook_and_owner_default_to_none_and_the_model_owners():
    config = parse(None, slo={"owner": "fairness-lead@example.com"})
    model = config.models["loan_approval"]
    own, other = model.slos[0], model.slos[1]
    assert own.runbook_url == "https://runbooks.example.com/ml/tpr_gap_region"  # the demo's
    assert model.slo_owners(own) == ["fairness-lead@example.com"]  # one owner: a string is enough
    assert model.slo_owners(other) == ["team:credit-risk", "ml-steward@example.com"]
    listed = parse(None, slo={"owner": ["team:fairness", "a@example.com"], "runbook_url": None})
    slo = listed.models["loan_approval"].slos[0]
    assert (slo.owner, slo.runbook_url) == (["team:fairness", "a@example.com"], None)


@pytest.mark.parametrize(
    ("alerting", "message"),
    [
        (
            {"webhooks": [{"name": "slack", "url": "https://x", "url_env": "SLACK_URL"}]},
            "alerting.webhooks.0: Value error, webhook 'slack': give either url or url_env",
        ),
        (
            {"webhooks": [{"name": "slack", "url": "ftp://x"}]},
            "alerting.webhooks.0.url: Value error, must be an http:// or https:// URL",
        ),
        (
            {"webhooks": [{"name": "slack", "url_env": "slack-url"}]},
            "alerting.webhooks.0.url_env: Value error, must name an environment variable",
        ),
        (
            {"cooldown_days": {"page": 0}},
            "alerting.cooldown_days.page: Input should be greater than or equal to 1",
        ),
        (
            {"webhooks": [{"name": "x", "url": "http://h", "retries": 3}]},
            "alerting.webhooks.0.retries: unknown key",
        ),
        (
            {"health_checks_missing": {"severity": "warn"}},
            "alerting.health_checks_missing.severity: Input should be 'ticket' or 'page'",
        ),
        (
            {"health_checks_missing": {"grace_days": -1}},
            "alerting.health_checks_missing.grace_days: Input should be greater than or equal to 0",
        ),
        (
            {"webhooks": [{"name": "a", "url": "http://h"}, {"name": "a", "url": "http://i"}]},
            "alerting.webhooks: Value error, two webhooks share a name",
        ),
        (
            {"webhooks": [{"name": "x", "url": "http://h", "severities": ["urgent"]}]},
            "alerting.webhooks.0.severities.0: Input should be 'ticket' or 'page' (got 'urgent')",
        ),
        (
            {"webhooks": [{"name": "x", "url": "http://h", "severities": []}]},
            "alerting.webhooks.0.severities: Value error, list at least one of 'ticket' and "
            "'page' (leave it out for both)",
        ),
        (
            {"webhooks": [{"name": "x", "url": "http://h", "severities": ["page", "page"]}]},
            "alerting.webhooks.0.severities: Value error, lists a severity twice: ['page', 'page']",
        ),
        (
            {
                "webhooks": [
                    {"name": "x", "url": "http://h", "severities": ["page"], "min_severity": "page"}
                ]
            },
            "alerting.webhooks.0: Value error, webhook 'x': give severities or min_severity, not "
            "both (min_severity: page is severities: [page])",
        ),  # fmt: skip
        (
            {"webhooks": [{"name": "x", "url": "http://h", "severites": ["page"]}]},
            "alerting.webhooks.0.severites: unknown key (did you mean 'severities'?)",
        ),
    ],
)
def test_bad_values_name_the_key(alerting, message):
    with pytest.raises(ConfigError) as error:
        parse(alerting)
    assert message in str(error.value)


SLO = "models.loan_approval.slos.0"


@pytest.mark.parametrize(
    ("slo", "message"),
    [
        (
            {"runbook_url": "runbooks.example.com/x"},
            f"{SLO}.runbook_url: Value error, must be an http:// or https:// URL, got 'runbooks.example.com/x'",
        ),
        (
            {"owner": "fairness lead"},
            f"{SLO}.owner: Value error, owner 'fairness lead' must be an e-mail address or 'team:<name>'",
        ),
        (
            {"owner": []},
            f"{SLO}.owner: Value error, name at least one owner, or leave owner out to use the model's owners",
        ),
        ({"owners": ["team:x"]}, f"{SLO}.owners: unknown key (did you mean 'owner'?)"),
        ({"runbook": "https://x"}, f"{SLO}.runbook: unknown key (did you mean 'runbook_url'?)"),
    ],
)
def test_bad_slo_links_name_the_key(slo, message):
    with pytest.raises(ConfigError) as error:
        parse(None, slo=slo)
    assert message in str(error.value)
