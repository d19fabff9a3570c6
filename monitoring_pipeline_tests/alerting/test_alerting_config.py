"""The `alerting:` section: defaults, and one clear line naming the key for bad values."""

from datetime import date
from pathlib import Path

import pytest

from monitoring_pipeline.config import ConfigError, parse_config
from monitoring_pipeline.demo.publish import DEMO_WEBHOOK_URL, demo_config


def parse(alerting: dict | None):
    raw = demo_config(date(2026, 10, 1), Path("/tmp"))
    if alerting is None:
        raw.pop("alerting")
    else:
        raw["alerting"] = alerting
    return parse_config(raw, source="m.yaml")


def test_defaults_and_the_demo_destination():
    alerting = parse(None).alerting
    assert (alerting.check_every_seconds, alerting.webhooks) == (120, [])
    assert (alerting.cooldown_days.ticket, alerting.cooldown_days.page) == (7, 3)
    missing = alerting.health_checks_missing
    assert (missing.grace_days, missing.severity) == (1, "page")
    (demo,) = parse(demo_config(date(2026, 10, 1), Path("/tmp"))["alerting"]).alerting.webhooks
    assert (demo.url, demo.timeout_seconds, demo.max_attempts, demo.min_severity) == (
        DEMO_WEBHOOK_URL, 5, 3, "ticket",
    )  # fmt: skip


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
    ],
)
def test_bad_values_name_the_key(alerting, message):
    with pytest.raises(ConfigError) as error:
        parse(alerting)
    assert message in str(error.value)
