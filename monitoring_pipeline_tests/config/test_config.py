"""The monitored-models file: the demo config loads; every mistake names the file and key."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import yaml

from monitoring_pipeline.config import ConfigError, load_config
from monitoring_pipeline.config.models import FairnessSLI, FileSource, PostgresTableSource
from monitoring_pipeline.demo.publish import demo_config


@pytest.fixture
def demo_raw(tmp_path: Path) -> dict:
    return demo_config(date(2026, 10, 1), tmp_path / "data")


def write(tmp_path: Path, raw: dict) -> Path:
    path = tmp_path / "monitored_models.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def error_for(tmp_path: Path, raw: dict) -> str:
    path = write(tmp_path, raw)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(str(path)), message
    return message


def test_demo_config_loads_two_models(tmp_path, demo_raw):
    config = load_config(write(tmp_path, demo_raw))
    assert set(config.models) == {"loan_approval", "job_screening"}
    loan, job = config.models["loan_approval"], config.models["job_screening"]
    assert isinstance(loan.predictions, PostgresTableSource)
    assert isinstance(job.predictions, FileSource) and job.predictions.file_format == "parquet"
    assert loan.cohorts.attributes["region"] == ["north", "south", "east", "west"]
    assert "sex&age_band" in loan.cohort_attribute_names
    assert "female&18-25" in loan.cohort_values("sex&age_band")
    assert isinstance(loan.slos[0].sli, FairnessSLI) and loan.slos[0].retrain_on_page
    assert config.min_cohort_size("job_screening") == 30
    assert config.quality("loan_approval").max_malformed_share == pytest.approx(0.03)
    assert config.quality("job_screening").max_malformed_share == pytest.approx(0.01)  # default


def test_unknown_key_is_named_with_a_suggestion(tmp_path, demo_raw):
    demo_raw["models"]["loan_approval"]["cohort"] = demo_raw["models"]["loan_approval"].pop(
        "cohorts"
    )
    message = error_for(tmp_path, demo_raw)
    assert "models.loan_approval.cohort: unknown key (did you mean 'cohorts'?)" in message
    assert "models.loan_approval.cohorts: required key is missing" in message


def test_wrong_type_names_key_and_value(tmp_path, demo_raw):
    demo_raw["models"]["job_screening"]["cohorts"]["min_size"] = "many"
    message = error_for(tmp_path, demo_raw)
    assert "models.job_screening.cohorts.min_size:" in message
    assert "'many'" in message


def test_out_of_range_value(tmp_path, demo_raw):
    demo_raw["models"]["loan_approval"]["slos"][0]["target"] = 1.5
    assert "models.loan_approval.slos.0.target: Input should be less than 1 (got 1.5)" in error_for(
        tmp_path, demo_raw
    )


def test_unknown_source_kind(tmp_path, demo_raw):
    demo_raw["models"]["loan_approval"]["labels"] = {"kind": "s3", "path": "x"}
    message = error_for(tmp_path, demo_raw)
    assert "models.loan_approval.labels:" in message and "'s3'" in message


def test_file_source_needs_date_placeholder(tmp_path, demo_raw):
    demo_raw["models"]["job_screening"]["labels"]["path"] = "/data/labels.parquet"
    assert (
        "models.job_screening.labels.path: Value error, must contain the placeholder {date}"
        in error_for(tmp_path, demo_raw)
    )


def test_references_are_checked(tmp_path, demo_raw):
    loan = demo_raw["models"]["loan_approval"]
    loan["cohorts"]["intersections"].append(["sex", "income_band"])
    assert (
        "intersection ['sex', 'income_band'] names unknown attribute(s) ['income_band']"
        in error_for(tmp_path, demo_raw)
    )


def test_reference_group_of_an_intersection_is_validated(tmp_path, demo_raw):
    cohorts = demo_raw["models"]["loan_approval"]["cohorts"]
    assert ["sex", "age_band"] in cohorts["intersections"]
    cohorts["reference_groups"] = {"sex": "male", "sex&age_band": "male&26-40"}
    config = load_config(write(tmp_path, demo_raw))
    assert config.models["loan_approval"].cohorts.reference_groups["sex&age_band"] == "male&26-40"
    cohorts["reference_groups"] = {"sex&age_band": "male&99+"}
    assert (
        "reference group 'male&99+' of intersection 'sex&age_band': '99+' is not an allowed "
        "value of 'age_band'" in error_for(tmp_path, demo_raw)
    )
    cohorts["reference_groups"] = {"sex&age_band": "male"}
    assert "must give one value per attribute" in error_for(tmp_path, demo_raw)
    # An intersection that is not computed (or in another order) has no groups to pick.
    cohorts["reference_groups"] = {"age_band&sex": "26-40&male"}
    assert "reference_groups names unknown attribute 'age_band&sex'" in error_for(
        tmp_path, demo_raw
    )


def test_slo_on_unknown_feature(tmp_path, demo_raw):
    demo_raw["models"]["loan_approval"]["slos"][2]["sli"]["feature"] = "salary"
    assert "SLO 'income_psi': unknown feature 'salary'" in error_for(tmp_path, demo_raw)


def test_set_slos_spell_their_members_with_a_wildcard(tmp_path, demo_raw):
    loan = demo_raw["models"]["loan_approval"]
    loan["slos"] += [
        {"name": "tpr_every_group", "objective": {"op": ">=", "value": 0.6},
         "sli": {"source": "cohort_metrics", "metric": "tpr", "cohort": "*"}},
        {"name": "tpr_every_sex_age", "objective": {"op": ">=", "value": 0.6},
         "sli": {"source": "cohort_metrics", "metric": "tpr", "cohort": "sex&age_band=*"}},
        {"name": "gap_everywhere", "objective": {"op": "<=", "value": 0.15},
         "sli": {"source": "fairness_disparities", "metric": "tpr_difference",
                 "attribute": "*", "group": "*"}},
        {"name": "psi_everywhere", "objective": {"op": "<=", "value": 0.25},
         "sli": {"source": "drift", "method": "psi", "feature": "*", "cohort": "region=*"}},
    ]  # fmt: skip
    model = load_config(write(tmp_path, demo_raw)).models["loan_approval"]
    slos = {slo.name: slo for slo in model.slos}
    singles = {"accuracy_all", "income_psi"}  # one cohort, one feature
    assert [n for n, slo in slos.items() if not slo.sli.is_set] == sorted(singles)
    assert slos["gap_everywhere"].sli.group is None  # "*" and no group mean the same
    every = model.cohort_members("*", where="x")
    assert ("region", "west") in every and ("sex&age_band", "female&18-25") in every
    assert ("all", "all") not in every
    assert model.cohort_members("sex=*", where="x") == [("sex", "female"), ("sex", "male")]


@pytest.mark.parametrize(
    ("sli", "message"),
    [
        ({"source": "cohort_metrics", "metric": "tpr", "cohort": "height=*"},
         "SLO 'bad_set': cohort '<attribute>=*' names unknown attribute 'height'"),
        ({"source": "cohort_metrics", "metric": "tpr", "cohort": "**"},
         "SLO 'bad_set': cohort must be 'all', '<attribute>=<value>', '<attribute>=*' or '*'"),
        ({"source": "fairness_disparities", "metric": "tpr_difference", "attribute": "*",
          "group": "west"},
         "SLO 'bad_set': attribute '*' covers every group; a group ('west') needs a named"),
        ({"source": "drift", "method": "psi", "feature": "*", "cohort": "sex&age_band=*"},
         "SLO 'bad_set': drift is computed per attribute, not for the intersection cohort"),
        ({"source": "cohort_changes", "metric": "tpr", "cohort": "height=*"},
         "SLO 'bad_set': cohort '<attribute>=*' names unknown attribute 'height'"),
        ({"source": "cohort_changes", "metric": "accuracy", "cohort": "*"},
         "models.loan_approval.slos.8.sli.metric: Input should be 'selection_rate', 'tpr', "
         "'fpr', 'precision' or 'calibration_in_the_large'"),
    ],
)  # fmt: skip
def test_set_slo_mistakes_name_the_slo(tmp_path, demo_raw, sli, message):
    demo_raw["models"]["loan_approval"]["slos"].append(
        {"name": "bad_set", "sli": sli, "objective": {"op": "<=", "value": 0.1}}
    )
    assert message in error_for(tmp_path, demo_raw)


def test_max_severity_per_slo_then_per_sli_source_then_built_in(tmp_path, demo_raw):
    loan = demo_raw["models"]["loan_approval"]
    loan["slos"][1]["max_severity"] = "ticket"  # accuracy_all
    config = load_config(write(tmp_path, demo_raw))
    gap, accuracy, psi, *_ = config.models["loan_approval"].slos
    assert [config.slo_max_severity(s) for s in (gap, accuracy, psi)] == [
        "page", "ticket", "ticket",
    ]  # fmt: skip
    demo_raw["defaults"] = {"max_severity": {"drift": "page", "fairness_disparities": "ticket"}}
    config = load_config(write(tmp_path, demo_raw))
    gap, accuracy, psi, *_ = config.models["loan_approval"].slos
    assert [config.slo_max_severity(s) for s in (gap, accuracy, psi)] == [
        "ticket", "ticket", "page",
    ]  # fmt: skip
    loan["slos"][0]["max_severity"] = "email"
    assert "models.loan_approval.slos.0.max_severity" in error_for(tmp_path, demo_raw)
    loan["slos"][0]["max_severity"] = "page"
    demo_raw["defaults"] = {"max_severity": {"retraining": "ticket"}}
    assert "defaults.max_severity.retraining" in error_for(tmp_path, demo_raw)


def test_change_slo_over_every_cohort_is_accepted(tmp_path, demo_raw):
    demo_raw["models"]["loan_approval"]["slos"].append(
        {"name": "shift", "sli": {"source": "cohort_changes", "metric": "fpr", "cohort": "*"},
         "objective": {"op": "<=", "value": 0.1}}
    )  # fmt: skip
    config = load_config(write(tmp_path, demo_raw))
    shift = config.models["loan_approval"].slos[-1]
    assert shift.sli.is_set and config.slo_max_severity(shift) == "page"
    demo_raw["defaults"] = {"max_severity": {"cohort_changes": "ticket"}}
    assert load_config(write(tmp_path, demo_raw)).slo_max_severity(shift) == "ticket"


def test_slo_metric_must_exist(tmp_path, demo_raw):
    demo_raw["models"]["loan_approval"]["slos"][1]["sli"]["metric"] = "f1"
    assert "models.loan_approval.slos.1.sli.metric" in error_for(tmp_path, demo_raw)


def test_decision_or_threshold_required(tmp_path, demo_raw):
    demo_raw["models"]["loan_approval"]["columns"] = {"decision": None}
    assert "give columns.decision or a threshold" in error_for(tmp_path, demo_raw)


def test_env_reference_expanded_and_unset_variable_named(tmp_path, demo_raw):
    demo_raw["models"]["job_screening"]["predictions"]["path"] = "${DEMO_ROOT}/p/{date}.parquet"
    path = write(tmp_path, demo_raw)
    config = load_config(path, environ={"DEMO_ROOT": "/srv/logs"})
    assert config.models["job_screening"].predictions.path == "/srv/logs/p/{date}.parquet"
    with pytest.raises(
        ConfigError,
        match=r"models\.job_screening\.predictions\.path: environment variable DEMO_ROOT is not set",
    ):
        load_config(path, environ={})


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="no monitored-models file here"):
        load_config(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("models: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_health_defaults_and_per_model_overrides_key_by_key(tmp_path, demo_raw):
    config = load_config(write(tmp_path, demo_raw))
    health = config.health_config("loan_approval")
    assert (health.label_coverage.min_coverage, health.overdue_partitions.severity) == (0.8, "page")
    demo_raw["health"] = {
        "label_coverage": {"min_coverage": 0.7, "window_days": 3},
        "stale_baseline": {"severity": "page"},
    }
    demo_raw["models"]["job_screening"]["health"] = {"label_coverage": {"min_coverage": 0.5}}
    config = load_config(write(tmp_path, demo_raw))
    loan, job = config.health_config("loan_approval"), config.health_config("job_screening")
    assert (loan.label_coverage.min_coverage, loan.label_coverage.window_days) == (0.7, 3)
    # The model's own key wins; the shared keys it did not give stay.
    assert (job.label_coverage.min_coverage, job.label_coverage.window_days) == (0.5, 3)
    assert job.stale_baseline.severity == "page"
    assert job.label_lag.max_ratio == 1.0  # documented default


def test_bad_health_settings_name_the_key(tmp_path, demo_raw):
    demo_raw["health"] = {"label_coverage": {"min_coverage": 1.5}}
    demo_raw["models"]["loan_approval"]["health"] = {
        "overdue_partitions": {"severity": "email", "lookbak_days": 3}
    }
    message = error_for(tmp_path, demo_raw)
    assert "health.label_coverage.min_coverage: Input should be less than or equal to 1" in message
    assert (
        "models.loan_approval.health.overdue_partitions.severity: Input should be 'ticket' or "
        "'page' (got 'email')" in message
    )
    assert (
        "models.loan_approval.health.overdue_partitions.lookbak_days: unknown key "
        "(did you mean 'lookback_days'?)" in message
    )


def test_retraining_action_is_validated_with_the_key_named(tmp_path, demo_raw):
    loan = demo_raw["models"]["loan_approval"]
    loan["retraining"] = {"action": {"kind": "command", "command": ["train", "{request}"]}}
    message = error_for(tmp_path, demo_raw)
    assert "models.loan_approval.retraining.action.command.command" in message
    assert "unknown placeholder(s) ['request']" in message

    loan["retraining"] = {
        "action": {"kind": "webhook", "url": "https://hooks.example/x", "url_env": "HOOK"}
    }
    assert "give exactly one of url and url_env" in error_for(tmp_path, demo_raw)

    loan["retraining"] = {
        "action": {"kind": "command", "command": ["train", "--id={request_id}"]},
        "cooldown_days": -1,
    }
    assert "models.loan_approval.retraining.cooldown_days" in error_for(tmp_path, demo_raw)

    loan["retraining"]["cooldown_days"] = 3
    retraining = load_config(write(tmp_path, demo_raw)).models["loan_approval"].retraining
    assert retraining.action.timeout_seconds == 1800 and retraining.training_window_days == 28


def test_owners_are_emails_or_teams(tmp_path, demo_raw):
    config = load_config(write(tmp_path, demo_raw))
    assert config.models["loan_approval"].owners == ["team:credit-risk", "ml-steward@example.com"]
    demo_raw["models"]["job_screening"]["owners"] = ["talent people"]
    message = error_for(tmp_path, demo_raw)
    assert "models.job_screening.owners" in message
    assert "'talent people' must be an e-mail address or 'team:<name>'" in message


def test_links_default_to_the_local_ui_and_refuse_non_http(tmp_path, demo_raw):
    config = load_config(write(tmp_path, demo_raw))
    assert config.links.dagster_url == "http://127.0.0.1:3000"
    assert config.links.reports_base_url is None
    demo_raw["links"] = {"dagster_url": "dagster.internal:3000"}
    assert "links.dagster_url" in error_for(tmp_path, demo_raw)
    demo_raw["links"] = {"reports_base_url": "https://reports.example.com/ml/"}
    assert load_config(write(tmp_path, demo_raw)).links.reports_base_url == (
        "https://reports.example.com/ml"
    )


@pytest.mark.parametrize(
    ("where", "name", "expected"),
    [
        ("numeric", "", "column name '' must start with a letter"),
        ("numeric", "in\x00come", "column name 'in\\x00come' must start with a letter"),
        ("categorical", "x" * 5000, "at most 63 bytes"),
        ("categorical", '"; DROP TABLE x; --', "must start with a letter"),
        ("numeric", "prediction_id", "'prediction_id' is a column of the published rows"),
        ("categorical", "partition_date", "'partition_date' is a column of the published rows"),
    ],
)
def test_feature_names_must_be_usable_columns(tmp_path, demo_raw, where, name, expected):
    demo_raw["models"]["job_screening"]["features"][where].append(name)
    message = error_for(tmp_path, demo_raw)
    assert f"models.job_screening.features.{where}" in message
    assert expected in message


def test_mapped_columns_and_cohort_values_are_checked(tmp_path, demo_raw):
    demo_raw["models"]["loan_approval"]["columns"] = {"score": "sc;ore"}
    message = error_for(tmp_path, demo_raw)
    assert "models.loan_approval.columns.score" in message
    demo_raw["models"]["loan_approval"].pop("columns")
    attributes = demo_raw["models"]["job_screening"]["cohorts"]["attributes"]
    first = next(iter(attributes))
    attributes[first] = [*attributes[first], "bad\x00value"]
    message = error_for(tmp_path, demo_raw)
    assert "models.job_screening.cohorts.attributes" in message
    assert "without control characters" in message


def test_an_alias_bomb_is_refused_quickly(tmp_path):
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 10):  # 10**10 values once expanded, from 800 bytes
        previous = f"*a{i - 1}"
        levels.append(f"a{i}: &a{i} [{', '.join([previous] * 10)}]")
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(levels) + "\nmodels: *a9\n")
    with pytest.raises(ConfigError, match="expands to more than 1,000,000 values"):
        load_config(path)


def test_anchors_and_aliases_still_work_within_bounds(tmp_path, demo_raw):
    text = yaml.safe_dump(demo_raw, sort_keys=False)
    path = tmp_path / "models.yaml"
    path.write_text(
        "shared_owner: &owner team:talent-ml\n" + text.replace("- team:talent-ml", "- *owner")
    )
    with pytest.raises(ConfigError, match="shared_owner: unknown key"):
        load_config(path)  # the alias resolved; only the helper key itself is unknown


def test_the_schedule_cron_is_checked_as_dagster_checks_it(tmp_path, demo_raw):
    demo_raw["schedule"] = {"cron": "61 * * * *"}
    message = error_for(tmp_path, demo_raw)
    assert "schedule.cron" in message and "not a valid cron expression: '61 * * * *'" in message
    demo_raw["schedule"] = {"cron": "30 5 * * 1-5"}
    assert load_config(write(tmp_path, demo_raw)).schedule.cron == "30 5 * * 1-5"


@pytest.mark.parametrize(
    ("attributions", "expected"),
    [
        ({"no_such_feature": "shap_x"}, "not configured features"),
        ({"income": "shap_x", "loan_amount": "shap_x"}, "share an attribution column"),
        ({"income": "region"}, "are features or cohorts"),
        ({"income": "debt_to_income"}, "are features or cohorts"),
        ({"income": "label"}, "column of the published rows"),
        ({"income": "1bad"}, "must start with a letter"),
    ],
)
def test_attribution_columns_are_validated(tmp_path, demo_raw, attributions, expected):
    demo_raw["models"]["loan_approval"]["attributions"] = attributions
    assert expected in error_for(tmp_path, demo_raw)


def test_an_attribution_column_can_be_a_drift_slo_subject(tmp_path, demo_raw):
    model = demo_raw["models"]["loan_approval"]
    column = model["attributions"]["income"]
    model["slos"].append(
        {"name": "income_attribution_stable", "objective": {"op": "<=", "value": 0.25},
         "sli": {"source": "drift", "method": "psi", "feature": column}}
    )  # fmt: skip
    config = load_config(write(tmp_path, demo_raw))
    assert config.models["loan_approval"].attribution_columns[0] == column


def test_operational_slos_need_the_latency_column(tmp_path, demo_raw):
    loan = demo_raw["models"]["loan_approval"]
    assert loan["columns"]["latency_ms"] == "latency_ms"  # the demo logs it
    config = load_config(write(tmp_path, demo_raw))
    (latency,) = [
        s for s in config.models["loan_approval"].slos if s.sli.source == "operational_metrics"
    ]
    assert latency.sli.metric == "latency_p95" and latency.sli.is_set
    del loan["columns"]["latency_ms"]
    assert "operational SLIs need columns.latency_ms" in error_for(tmp_path, demo_raw)
    loan["columns"]["latency_ms"] = "income"
    assert "columns.latency_ms 'income' is a feature" in error_for(tmp_path, demo_raw)
    loan["columns"]["latency_ms"] = "latency_ms"
    (position,) = [
        i for i, s in enumerate(loan["slos"]) if s["sli"]["source"] == "operational_metrics"
    ]
    loan["slos"][position]["sli"]["metric"] = "latency_p90"
    assert "latency_p50', 'latency_p95', 'latency_p99' or 'throughput'" in error_for(
        tmp_path, demo_raw
    )
