"""The report end to end: a small world materialized by monitor_models_job (whose
``report`` asset writes the file), then rendered in headless Chromium with the network cut
off, and the figures drawn compared with the tables.

Needs the distribution's Chromium at /usr/bin/chromium (Debian: ``apt-get install -y
chromium``); the test fails, never skips, without it. Playwright only drives it: no
browser is downloaded.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa
import yaml
from plotly.offline import get_plotlyjs_version as plotly_js_version

from monitoring_pipeline.cli import main as cli_main
from monitoring_pipeline.config import load_config
from monitoring_pipeline.dagster_storage import instance_storage_config
from monitoring_pipeline.demo.incidents import MinorityDegradation
from monitoring_pipeline.report import report_path
from monitoring_pipeline.storage.database import (
    create_database_if_missing,
    create_engine,
    with_database,
)
from monitoring_pipeline.storage.migrations import apply_migrations
from monitoring_pipeline_tests.helpers.worlds import START, build_world, run_day

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
MODEL = "loan_approval"
DAYS = [START + timedelta(days=i) for i in range(10)]
LAST = DAYS[-1]


@pytest.fixture(scope="module")
def world(pg_admin_url, dagster_storage_url, tmp_path_factory):
    """Ten days of loan_approval, west's TPR degraded from day 5 so that tpr_gap_region
    burns; every day through monitor_models_job, its report asset on the last day only (the
    report reads the tables of its window, never an earlier report)."""
    tmp = tmp_path_factory.mktemp("report_world")
    url = with_database(pg_admin_url, "report_browser")
    create_database_if_missing(pg_admin_url, "report_browser")
    engine = create_engine(url)
    apply_migrations(engine)
    incident = MinorityDegradation(
        model=MODEL, start=DAYS[4], end=DAYS[-1], attribute="region", group="west", severity=0.9
    )
    config, _ = build_world(engine, tmp, incidents=[incident], volume=1500)
    raw = yaml.safe_load(config_path(tmp).read_text())
    raw["links"] = {"reports_dir": str(tmp / "reports"), "dagster_url": "http://dagster.test"}
    config_path(tmp).write_text(yaml.safe_dump(raw))
    config = load_config(config_path(tmp))
    (tmp / "dagster").mkdir()
    with dg.instance_for_test(
        overrides=instance_storage_config(dagster_storage_url),
        temp_dir=str(tmp / "dagster"),
    ) as instance:
        for day in DAYS:
            assert run_day(config, url, instance, day, models=[MODEL], reports=day == LAST).success
        materialization = instance.get_latest_materialization_event(
            dg.AssetKey([MODEL, "report"])
        ).asset_materialization
    yield {"engine": engine, "url": url, "config": config, "tmp": tmp, "mat": materialization}
    engine.dispose()


def config_path(tmp: Path) -> Path:
    return tmp / "monitored_models.yaml"


def query(engine, sql: str, **params) -> pd.DataFrame:
    with engine.connect() as conn:
        result = conn.execute(sa.text(sql), params)
        return pd.DataFrame(result.all(), columns=list(result.keys()))


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} not found: the report test renders in the distribution's Chromium "
            "(Debian/Ubuntu: apt-get install -y chromium). Playwright never downloads one here."
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def page(browser, world):
    """The asset's report for the last day, open in Chromium with every non-file request
    aborted (and recorded)."""
    path = report_path(world["config"], MODEL, LAST)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    blocked: list[str] = []
    errors: list[str] = []

    def route(route):
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    page.route("**/*", route)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(path.as_uri())
    page.wait_for_function("() => window.Plotly !== undefined")
    page.blocked, page.errors = blocked, errors
    yield page
    page.close()


def test_asset_writes_the_report_and_links_it(world):
    path = report_path(world["config"], MODEL, LAST)
    assert path.is_file() and path.stat().st_size > 1_000_000  # plotly.js is inside
    text = path.read_text()
    # plotly.js inlined once, nothing loaded from elsewhere.
    assert re.search(r"<script[^>]*\bsrc=", text) is None
    assert text.count(f"plotly.js v{plotly_js_version()}") == 1
    metadata = world["mat"].metadata
    assert world["mat"].partition == LAST.isoformat()
    assert metadata["path"].value == str(path)
    assert metadata["report"].value == path.as_uri()
    budgets = query(
        world["engine"],
        "SELECT slo_name, status FROM monitoring.error_budgets "
        "WHERE model_name = :m AND partition_date = :d",
        m=MODEL,
        d=LAST,
    )
    assert metadata["paging_slos"].value == (budgets.status == "page").sum()
    assert metadata["paging_slos"].value >= 1  # the degraded west region pages


def test_opens_offline_with_every_section_plotted(page):
    counts = page.evaluate(
        """() => Object.fromEntries(["executive", "oncall", "debug"].map(
               id => [id, document.querySelectorAll('#page-' + id + ' .js-plotly-plot').length]))"""
    )
    # executive: status, budgets, one trend per fairness SLO (tpr_gap_region and
    # estimated_tpr_gap_region), the complaint rates of complaint_rate_region; on-call:
    # verdicts + worst cohorts of each burning SLO; debug: rates and calibration per
    # attribute (3 each), disparities, drift, labels.
    assert counts["executive"] == 5
    assert (
        page.evaluate(
            "document.getElementById('executive-complaints-complaint_rate_region').data.length"
        )
        >= 2
    )  # a line per region that day, and the legend's "window open" entry
    assert counts["oncall"] >= 2
    assert counts["debug"] == 3 + 3 + 3
    assert page.blocked == [] and page.errors == []
    assert page.evaluate("document.querySelector('section#page-executive').hidden") is False
    page.click("nav a[href='#oncall']")
    # The page switches on hashchange, which fires after the click returns: wait for it.
    page.wait_for_function("document.querySelector('section#page-executive').hidden")
    assert page.evaluate("document.querySelector('section#page-executive').hidden") is True
    assert page.evaluate("document.querySelector('section#page-oncall').hidden") is False


def test_budget_bars_equal_the_error_budgets_table(world, page):
    bars = page.evaluate(
        "() => { const t = document.getElementById('executive-budgets').data[0];"
        " return {x: Array.from(t.x), y: Array.from(t.y)}; }"
    )
    table = query(
        world["engine"],
        "SELECT slo_name, remaining_fraction FROM monitoring.error_budgets "
        "WHERE model_name = :m AND partition_date = :d ORDER BY slo_name",
        m=MODEL,
        d=LAST,
    )
    assert bars["y"] == list(table.slo_name)
    stored = [None if pd.isna(v) else float(v) for v in table.remaining_fraction]
    assert [x is None for x in bars["x"]] == [v is None for v in stored]  # no budget: no bar
    assert [x for x in bars["x"] if x is not None] == pytest.approx(
        [v for v in stored if v is not None]
    )
    assert any(v is not None and v < 0 for v in stored)  # the paging SLO is overspent


def test_gap_line_and_band_equal_the_slo_evaluations_table(world, page):
    traces = page.evaluate(
        """() => document.getElementById('executive-trend-tpr_gap_region').data.map(
               t => ({name: t.name, x: Array.from(t.x || []), y: Array.from(t.y || [])}))"""
    )
    drawn = {}
    for t in traces:  # the band comes in runs of days: join them
        joined = drawn.setdefault(t["name"], {"x": [], "y": []})
        joined["x"] += t["x"]
        joined["y"] += t["y"]
    table = query(
        world["engine"],
        "SELECT partition_date, value, lower, upper, sufficient FROM monitoring.slo_evaluations "
        "WHERE model_name = :m AND slo_name = 'tpr_gap_region' ORDER BY partition_date",
        m=MODEL,
    )
    assert drawn["value"]["x"] == [d.isoformat() for d in table.partition_date]
    plotted = table.sufficient & table.value.notna()
    assert plotted.any() and not plotted.all()  # late days lack labels: some gaps
    days = [d.isoformat() for d in table.partition_date]
    line = dict(zip(drawn["value"]["x"], drawn["value"]["y"], strict=True))
    assert [line[d] is not None for d in days] == list(plotted)
    assert [line[d] for d in days if line[d] is not None] == pytest.approx(
        list(table.value[plotted])
    )
    # The band: exactly the drawn days, bounds as stored.
    for column, name in (("lower", "95% interval"), ("upper", "95% interval upper")):
        band = dict(zip(drawn[name]["x"], drawn[name]["y"], strict=True))
        assert sorted(band) == [d for d, ok in zip(days, plotted, strict=True) if ok], name
        assert [band[d] for d in sorted(band)] == pytest.approx(list(table[column][plotted]))


def test_worst_cohort_error_bars_equal_the_disparities_table(world, page):
    drawn = page.evaluate(
        """() => { const t = document.getElementById('oncall-worst-tpr_gap_region').data[0];
               return {x: Array.from(t.x), y: Array.from(t.y),
                       plus: Array.from(t.error_x.array), minus: Array.from(t.error_x.arrayminus)}; }"""
    )
    budget = query(
        world["engine"],
        "SELECT evidence_through FROM monitoring.error_budgets "
        "WHERE model_name = :m AND partition_date = :d AND slo_name = 'tpr_gap_region'",
        m=MODEL,
        d=LAST,
    )
    rows = query(
        world["engine"],
        "SELECT cohort_value, reference_value, value, lower, upper FROM monitoring.fairness_disparities "
        "WHERE model_name = :m AND partition_date = :d AND model_version = 'all' "
        "AND cohort_attribute = 'region' AND metric = 'tpr_difference' AND sufficient",
        m=MODEL,
        d=budget.evidence_through.iloc[0],
    ).assign(cohort=lambda r: "region=" + r.cohort_value + " vs " + r.reference_value)
    by_cohort = rows.set_index("cohort")
    assert sorted(drawn["y"]) == sorted(rows.cohort)
    assert drawn["y"][0] == "region=west vs north"  # the worst first
    for cohort, x, plus, minus in zip(
        drawn["y"], drawn["x"], drawn["plus"], drawn["minus"], strict=True
    ):
        row = by_cohort.loc[cohort]
        assert x == pytest.approx(row.value)
        assert x + plus == pytest.approx(row.upper) and x - minus == pytest.approx(row.lower)


def test_oncall_links_each_bad_day_to_its_dagster_partition(world, page):
    bad = query(
        world["engine"],
        "SELECT partition_date FROM monitoring.slo_evaluations WHERE model_name = :m "
        "AND slo_name = 'tpr_gap_region' AND status = 'bad' ORDER BY partition_date",
        m=MODEL,
    )
    assert len(bad) >= 1
    links = page.evaluate(
        """() => Array.from(document.querySelectorAll('#page-oncall a'))
               .map(a => a.getAttribute('href'))"""
    )
    prefix = f"http://dagster.test/assets/{MODEL}/slo_evaluations?view=partitions&partition="
    linked = sorted(link[len(prefix) :] for link in links if link.startswith(prefix))
    # each bad day once, plus the burning SLO's last judged day in the summary table
    assert {d.isoformat() for d in bad.partition_date} <= set(linked)


def test_cli_writes_the_same_report_to_out(world, monkeypatch, capsys):
    monkeypatch.setenv("MONITORING_DATABASE_URL", world["url"])
    monkeypatch.setenv("MONITORING_CONFIG", str(config_path(world["tmp"])))
    out = world["tmp"] / "cli" / "loan.html"
    assert cli_main(["report", "--model", MODEL, "--days", "7", "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    text = out.read_text()
    # Default day: the newest materialized one; a 7-day window.
    assert f"<b>{(LAST - timedelta(days=6)).isoformat()}</b> .. <b>{LAST.isoformat()}</b>" in text
    assert cli_main(["report", "--model", "nope"]) == 2
    assert "unknown model 'nope'" in capsys.readouterr().err
