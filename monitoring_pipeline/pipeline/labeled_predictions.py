"""Step 1 of a model's chain: validate the day's log, quarantine, join labels, write."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd
from sqlalchemy.engine import Engine

from monitoring_pipeline.config.models import MonitoringConfig
from monitoring_pipeline.core.labels import join_newest_labels
from monitoring_pipeline.core.validation import (
    coerce_labels,
    coerce_predictions,
    split_malformed_labels,
    split_malformed_predictions,
)
from monitoring_pipeline.quality.expectations import (
    ExpectationOutcome,
    QualitySpec,
    run_expectations,
    summarize_checks,
)
from monitoring_pipeline.storage import sources
from monitoring_pipeline.storage.writes import (
    Audit,
    TableRows,
    json_column,
    read_frame,
    replace_partitions,
)

logger = logging.getLogger(__name__)

LABELED_COLUMNS = [
    "partition_date", "model_name", "prediction_id", "scored_at", "model_version", "score",
    "decision", "label", "first_labelled_at", "labelled_at", "label_lag_hours",
    "label_revisions", "cohorts", "features",
]  # fmt: skip


@dataclass(frozen=True)
class LabeledPredictionsResult:
    rows_read: int
    rows_written: int
    rows_quarantined: int
    labels_read: int
    labels_quarantined: int
    labels_orphaned: int
    source_rows_without_time: int | None
    labelled: int
    quarantine_reasons: dict[str, int]
    outcomes: list[ExpectationOutcome]
    checks: dict[str, dict]
    preview: pd.DataFrame

    @property
    def coverage(self) -> float | None:
        return self.labelled / self.rows_written if self.rows_written else None


def quality_spec(
    config: MonitoringConfig, model_name: str, row_count_range, basis: str
) -> QualitySpec:
    model = config.models[model_name]
    tolerances = config.quality(model_name)
    return QualitySpec(
        cohort_values=model.cohorts.attributes,
        numeric_features=model.features.numeric,
        categorical_features=model.features.categorical,
        has_decision_column=model.columns.decision is not None,
        max_malformed_share=tolerances.max_malformed_share,
        max_feature_null_share=tolerances.max_feature_null_share,
        row_count_range=row_count_range,
        row_count_basis=basis,
    )


def expected_row_count(
    engine: Engine, config: MonitoringConfig, model_name: str, day: date
) -> tuple[tuple[int, int] | None, str]:
    """Allowed row-count range from the median rows read on comparable earlier days."""
    rule = config.quality(model_name).row_count
    history = read_frame(
        engine,
        "SELECT partition_date, rows_read FROM monitoring.ingestion_stats WHERE model_name = :model "
        "AND partition_date >= :start AND partition_date < :day",
        {"model": model_name, "start": day - timedelta(days=rule.lookback_days), "day": day},
    )
    basis = "previous day(s)"
    if rule.seasonality == "weekly":
        history = history[[d.weekday() == day.weekday() for d in history["partition_date"]]]
        basis = f"previous {day:%A}(s)"
    if history.empty:
        return None, "no comparable earlier day: at least one row"
    median = float(history["rows_read"].median())
    low, high = int(rule.min_ratio * median), int(rule.max_ratio * median) + 1
    return (max(low, 1), high), (
        f"[{rule.min_ratio:g}, {rule.max_ratio:g}] x median {median:g} of {len(history)} {basis}"
    )


def build_labeled_predictions(
    engine: Engine, config: MonitoringConfig, model_name: str, day: date, audit: Audit
) -> LabeledPredictionsResult:
    """Read, validate, quarantine, join and write one day of one model, atomically."""
    model = config.models[model_name]
    raw_day = sources.read_predictions(engine, model, day)
    row_range, basis = expected_row_count(engine, config, model_name, day)
    outcomes = run_expectations(raw_day.mapped, quality_spec(config, model_name, row_range, basis))

    split = split_malformed_predictions(
        coerce_predictions(raw_day.mapped),
        day=day,
        cohort_values=model.cohorts.attributes,
        decision_from_threshold=model.threshold if model.columns.decision is None else None,
    )
    valid = split.valid
    raw_labels = sources.read_labels(engine, model, day, valid["prediction_id"].tolist())
    labels = coerce_labels(raw_labels)
    if model.positive_label != 1:
        labels["label"] = (
            (labels["label"] == model.positive_label)
            .astype("float64")
            .where(labels["label"].notna())
        )
    label_split = split_malformed_labels(labels, valid.set_index("prediction_id")["scored_at"])
    joined = join_newest_labels(valid, label_split.valid)

    labeled = joined.frame.assign(
        partition_date=day,
        model_name=model_name,
        cohorts=json_column(joined.frame, list(model.cohorts.attributes)),
        features=json_column(joined.frame, model.features.all),
    )[LABELED_COLUMNS]
    quarantine = pd.concat(
        [
            _quarantine_rows(
                raw_day.raw.loc[split.quarantined.index], split, "predictions", raw_day.mapped
            ),
            _quarantine_rows(
                raw_labels.loc[label_split.quarantined.index], label_split, "labels", raw_labels
            ),
        ],
        ignore_index=True,
    ).assign(partition_date=day, model_name=model_name)
    results = (
        pd.DataFrame([vars(o) for o in outcomes])
        .astype({"element_count": "Int64", "unexpected_count": "Int64"})
        .assign(partition_date=day, model_name=model_name)
    )
    stats = pd.DataFrame(
        [
            {
                "partition_date": day,
                "model_name": model_name,
                "rows_read": len(raw_day.raw),
                "rows_quarantined": len(split.quarantined),
                "rows_written": len(labeled),
                "labels_read": len(raw_labels),
                "labels_quarantined": len(label_split.quarantined),
                "labels_orphaned": joined.labels_orphaned,
                "source_rows_without_time": raw_day.rows_without_time,
            }
        ]
    ).astype({"source_rows_without_time": "Int64"})
    replace_partitions(
        engine,
        model_name=model_name,
        partition_date=day,
        rows=[
            TableRows("labeled_predictions", labeled),
            TableRows("quarantined_rows", quarantine),
            TableRows("quality_results", results),
            TableRows("ingestion_stats", stats),
        ],
        audit=audit,
    )
    reasons = split.reasons.str.split("; ").explode().value_counts()
    label_reasons = label_split.reasons.str.split("; ").explode().value_counts()
    reason_counts = {f"predictions: {k}": int(v) for k, v in reasons.items()}
    reason_counts |= {f"labels: {k}": int(v) for k, v in label_reasons.items()}
    return LabeledPredictionsResult(
        rows_read=len(raw_day.raw),
        rows_written=len(labeled),
        rows_quarantined=len(split.quarantined),
        labels_read=len(raw_labels),
        labels_quarantined=len(label_split.quarantined),
        labels_orphaned=joined.labels_orphaned,
        source_rows_without_time=raw_day.rows_without_time,
        labelled=int(labeled["label"].notna().sum()),
        quarantine_reasons=reason_counts,
        outcomes=outcomes,
        checks=summarize_checks(outcomes),
        preview=labeled.drop(columns=["features"]).head(5),
    )


def _quarantine_rows(raw: pd.DataFrame, split, source: str, mapped: pd.DataFrame) -> pd.DataFrame:
    if raw.empty:
        return pd.DataFrame(columns=["source", "prediction_id", "reason", "row_data"])
    ids = mapped.loc[raw.index, "prediction_id"].astype("string")
    return pd.DataFrame(
        {
            "source": source,
            "prediction_id": ids.to_numpy(),
            "reason": split.reasons.reindex(raw.index).to_numpy(),
            "row_data": json_column(raw, list(raw.columns)).to_numpy(),
        }
    )
