"""Step 1 of a model's chain: validate the day's log, quarantine, join labels, write;
streamed in chunks so that a large day never sits in memory at once."""

from __future__ import annotations

import logging
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import pandas as pd
import pyarrow as pa
from sqlalchemy.engine import Engine

from monitoring_pipeline.config.models import MonitoringConfig
from monitoring_pipeline.core.labels import (
    CrossDayTally,
    LabelFigures,
    is_in,
    join_newest_labels,
    known_by,
)
from monitoring_pipeline.core.validation import (
    coerce_labels,
    coerce_predictions,
    split_malformed_labels,
    split_malformed_predictions,
)
from monitoring_pipeline.pipeline.cohort_metrics import DayStatistics
from monitoring_pipeline.pipeline.drift import DayHistograms, current_bins
from monitoring_pipeline.quality.expectations import (
    ChunkedExpectations,
    ExpectationOutcome,
    QualitySpec,
    import_great_expectations_in_background,
    summarize_checks,
)
from monitoring_pipeline.storage import streaming
from monitoring_pipeline.storage.cohorts import (
    INGESTED_COHORT_STATS_TABLE,
    INGESTED_ESTIMATION_STATS_TABLE,
)
from monitoring_pipeline.storage.drift import INGESTED_HISTOGRAMS_TABLE
from monitoring_pipeline.storage.ingestion import refresh_row_statistics, rows_read_history
from monitoring_pipeline.storage.labeled_rows import (
    JSONB_COLUMNS,
    LAYOUTS_TABLE,
    ROWS_TABLE,
    labeled_rows,
    layout_table,
    stored_feature_values,
    stored_values,
)
from monitoring_pipeline.storage.prediction_ids import ids_stored_on_other_days
from monitoring_pipeline.storage.streaming import match_key
from monitoring_pipeline.storage.writes import Audit, json_column, partition_writer

logger = logging.getLogger(__name__)

# The columns of the materialization's preview (a few rows of the labeled_predictions view).
PREVIEW_COLUMNS = [
    "partition_date", "model_name", "prediction_id", "scored_at", "model_version", "score",
    "decision", "label", "first_labelled_at", "labelled_at", "label_lag_hours",
    "label_revisions", "cohorts",
]  # fmt: skip


@dataclass(frozen=True)
class LabeledPredictionsResult:
    rows_read: int
    rows_written: int
    rows_quarantined: int
    labels_read: int
    labels_quarantined: int
    # Label rows delivered on the day for no written prediction (None: a table source whose
    # labelled_at is not a timestamp, so the delivery day is unknown).
    labels_orphaned: int | None
    source_rows_without_time: int | None
    # Prediction ids of the day also stored on another day (kept on both, counted).
    ids_on_other_days: int
    labelled: int
    quarantine_reasons: dict[str, int]
    outcomes: list[ExpectationOutcome]
    checks: dict[str, dict]
    preview: pd.DataFrame
    # A failed blocking check: the rows the day's downstream assets had published (now
    # removed, since they no longer describe the day's data), per table.
    stale_rows_removed: dict[str, int] = field(default_factory=dict)
    # Where the day's rows are (its partition of labeled_prediction_rows), and whether the
    # day held rows before (a re-run: the partition was emptied) or got a new partition.
    rows_table: str = ""
    rows_replaced: bool = False

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
        optional_numeric_columns=[*model.attribution_columns, *_latency(model)],
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
    history = rows_read_history(engine, model_name, day - timedelta(days=rule.lookback_days), day)
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


LABEL_LAG_COLUMNS = [
    "label_lag_p50_hours", "label_lag_p90_hours", "label_lag_p99_hours", "label_lag_max_hours",
]  # fmt: skip

PARTITION_TABLES = [
    ROWS_TABLE, LAYOUTS_TABLE, "quarantined_rows", "quality_results", "ingestion_stats",
    INGESTED_COHORT_STATS_TABLE, INGESTED_ESTIMATION_STATS_TABLE, INGESTED_HISTOGRAMS_TABLE,
]  # fmt: skip
# What the assets downstream of labeled_predictions publish per (model, day). When a
# blocking check fails they do not run, so their rows from an earlier run are removed in
# the same transaction: a blocked day shows as missing (and pipeline_health names it),
# never as the previous run's figures passing for current ones.
DOWNSTREAM_TABLES = [
    "label_status", "cohort_stats", "cohort_metrics", "cohort_changes", "fairness_disparities",
    "fairness_disparities_vs_rest", "feature_histograms", "drift", "slo_evaluations",
    "error_budgets", "estimation_stats", "performance_estimates", "estimated_disparities",
    "feature_attributions", "latency_histograms", "operational_metrics", "complaint_metrics",
]  # fmt: skip


def build_labeled_predictions(
    engine: Engine,
    config: MonitoringConfig,
    model_name: str,
    day: date,
    audit: Audit,
    *,
    labels_as_of: datetime | None = None,
) -> LabeledPredictionsResult:
    """Read, validate, quarantine, join and write one day of one model, atomically.

    ``labels_as_of``: join only the label rows recorded (``labelled_at``) by then, as a
    replay of that moment does (None: every label the source holds).

    The day is streamed ``ingest_chunk_rows`` predictions at a time (see README, "Large
    days"): each chunk is validated by the quality suite, split, joined to its labels and
    COPYed before the next is read, all in one transaction. Rows whose id occurs more than
    once in the day (found by a pre-pass over the ids) are held back from their chunk and
    resolved together at the end, so duplicates are judged exactly as on the whole day.
    """
    model = config.models[model_name]
    # GX imports while the day's questions run on the server (the first suite waits).
    import_great_expectations_in_background()
    day_source = streaming.open_prediction_day(
        engine, model, day, chunk_rows=config.ingest_chunk_rows(model_name)
    )
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="other-days") as other_days:
        # Questions about the model's other days, on a connection of their own while the
        # labels are read: the write transaction below never reads another day's rows.
        elsewhere = other_days.submit(_ids_on_other_days, engine, model_name, day, day_source.scan)
        row_range, basis = expected_row_count(engine, config, model_name, day)
        quality = ChunkedExpectations(
            quality_spec(config, model_name, row_range, basis), day_source.mapped_columns
        )
        labels = streaming.open_day_labels(engine, model, day, day_source.scan)
        unmatched = other_days.submit(_unmatched_label_ids, engine, model_name, labels)
        cross_day = CrossDayTally(elsewhere.result(), unmatched.result())
    # cohort_metrics publishes the statistics counted here as the rows are written, and
    # drift the histograms (on the bins it will use, when they are fitted already).
    statistics = DayStatistics(config, model_name)
    histograms = DayHistograms(current_bins(engine, config, model_name), model.cohorts.attributes)
    step = _ChunkStep(
        model, model_name, day, labels, labels_as_of, statistics, histograms, cross_day
    )
    with partition_writer(
        engine, model_name=model_name, partition_date=day, tables=PARTITION_TABLES, audit=audit
    ) as writer:
        held: list[tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.Series]] = []
        for chunk in day_source.chunks():
            step.rows_read += len(chunk.raw)
            quality.add(chunk.mapped)
            coerced = coerce_predictions(chunk.mapped)
            problems = chunk.read_problems
            if problems is None:
                problems = pd.Series([], dtype="string")
            repeated = is_in(
                match_key(chunk.mapped["prediction_id"]), day_source.scan.held_back_keys
            )
            if repeated.any():
                rows = chunk.raw.index[repeated]
                held.append(
                    (
                        chunk.raw[repeated],
                        chunk.mapped[repeated],
                        coerced[repeated],
                        problems[problems.index.isin(rows)],
                    )
                )
                keep = ~repeated
                step.run(writer, chunk.raw[keep], chunk.mapped[keep], coerced[keep], problems)
            else:
                step.run(writer, chunk.raw, chunk.mapped, coerced, problems)
        if held:
            raw, mapped, coerced, problems = (pd.concat(parts) for parts in zip(*held, strict=True))
            step.run(writer, raw, mapped, coerced, problems)
        step.set_aside(writer, day_source.unparsable_rows)
        labels.release()  # every chunk is joined: the day's end needs memory more
        # Questions no single row answers, counted as the rows were written: ids also
        # stored on other days (kept, counted), labels delivered today for no prediction.
        refresh_row_statistics(
            writer.connection(), step.rows_written, writer.partition_table(ROWS_TABLE)
        )
        ids_on_other_days = cross_day.ids_on_other_days
        labels_orphaned = cross_day.labels_orphaned
        outcomes = quality.finish(duplicated_id_rows=day_source.scan.duplicated_id_rows)
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
                    "rows_read": step.rows_read,
                    "rows_quarantined": step.rows_quarantined,
                    "rows_written": step.rows_written,
                    "labels_read": step.labels_read,
                    "labels_quarantined": step.labels_quarantined,
                    "labels_orphaned": labels_orphaned,
                    "source_rows_without_time": day_source.rows_without_time,
                    "ids_on_other_days": ids_on_other_days,
                    # label_status publishes these (and rows_written as its predictions):
                    # counted here, the rows are not read back.
                    **step.label_figures.figures(),
                }
            ]
        ).astype(
            {
                "source_rows_without_time": "Int64",
                "labels_orphaned": "Int64",
                **dict.fromkeys(LABEL_LAG_COLUMNS, "Float64"),
            }
        )
        if step.rows_read != step.rows_quarantined + step.rows_written:
            raise RuntimeError(  # a bug, never bad input: refuse to commit an inconsistent day
                f"rows_read {step.rows_read} != quarantined {step.rows_quarantined} + "
                f"written {step.rows_written}"
            )
        writer.write("quality_results", results)
        writer.write("ingestion_stats", stats)
        cohort_stats, estimation_stats = statistics.rows()
        key = {"partition_date": day, "model_name": model_name}
        writer.write(INGESTED_COHORT_STATS_TABLE, cohort_stats.assign(**key))
        writer.write(INGESTED_ESTIMATION_STATS_TABLE, estimation_stats.assign(**key))
        writer.write(INGESTED_HISTOGRAMS_TABLE, histograms.rows().assign(**key))
        writer.write_arrow(LAYOUTS_TABLE, step.layout())
        checks = summarize_checks(outcomes)
        blocked = any(c["blocking"] and not c["passed"] for c in checks.values())
        stale = writer.clear(DOWNSTREAM_TABLES) if blocked else {}
        partition = writer.day_partition(ROWS_TABLE)
    reason_counts = {f"predictions: {k}": v for k, v in step.reasons.most_common()}
    reason_counts |= {f"labels: {k}": v for k, v in step.label_reasons.most_common()}
    return LabeledPredictionsResult(
        rows_read=step.rows_read,
        rows_written=step.rows_written,
        rows_quarantined=step.rows_quarantined,
        labels_read=step.labels_read,
        labels_quarantined=step.labels_quarantined,
        labels_orphaned=labels_orphaned,
        source_rows_without_time=day_source.rows_without_time,
        ids_on_other_days=ids_on_other_days,
        labelled=step.label_figures.labelled,
        quarantine_reasons=reason_counts,
        outcomes=outcomes,
        checks=checks,
        preview=step.preview,
        stale_rows_removed={table: n for table, n in stale.items() if n},
        rows_table=writer.partition_table(ROWS_TABLE),
        rows_replaced=partition is not None and not partition.new,
    )


class _ChunkStep:
    """Validate, join and write one batch of predictions; keeps the day's running totals."""

    def __init__(
        self,
        model,
        model_name: str,
        day: date,
        labels: streaming.DayLabels,
        labels_as_of: datetime | None,
        statistics: DayStatistics,
        histograms: DayHistograms,
        cross_day: CrossDayTally,
    ) -> None:
        self.model = model
        self.cross_day = cross_day
        self.labels_as_of = None if labels_as_of is None else pd.Timestamp(labels_as_of)
        self.model_name = model_name
        self.day = day
        self.labels = labels
        self.rows_read = self.rows_written = self.rows_quarantined = 0
        self.labels_read = self.labels_quarantined = 0
        self.label_figures = LabelFigures()
        self.statistics = statistics
        self.histograms = histograms
        self.reasons: Counter[str] = Counter()
        self.label_reasons: Counter[str] = Counter()
        self.preview = pd.DataFrame(columns=PREVIEW_COLUMNS)

    def run(
        self,
        writer,
        raw: pd.DataFrame,
        mapped: pd.DataFrame,
        coerced: pd.DataFrame,
        read_problems: pd.Series,
    ) -> None:
        """``raw`` (source names), ``mapped`` (standard names) and ``coerced`` (typed) are the
        same rows; every id repeated in the day is either absent or present with all its
        copies, so validation's duplicate rules give what they give on the whole day.
        ``read_problems``: reasons the reader found, by row (may hold other rows too)."""
        model = self.model
        split = split_malformed_predictions(
            coerced,
            day=self.day,
            cohort_values=model.cohorts.attributes,
            decision_from_threshold=model.threshold if model.columns.decision is None else None,
            read_problems=read_problems[read_problems.index.isin(coerced.index)],
        )
        valid = split.valid
        raw_labels = self.labels.for_ids(valid["prediction_id"])
        labels = coerce_labels(raw_labels)
        if self.labels_as_of is not None:
            known = known_by(labels["labelled_at"], self.labels_as_of)
            raw_labels, labels = raw_labels.loc[known], labels.loc[known]
        if model.positive_label != 1:
            labels["label"] = (
                (labels["label"] == model.positive_label)
                .astype("float64")
                .where(labels["label"].notna())
            )
        label_split = split_malformed_labels(labels, valid.set_index("prediction_id")["scored_at"])
        joined = join_newest_labels(valid, label_split.valid)
        labeled = joined.frame.assign(partition_date=self.day, model_name=self.model_name)
        quarantine = pd.concat(
            [
                _quarantine_rows(raw.loc[split.quarantined.index], split, "predictions", mapped),
                _quarantine_rows(
                    raw_labels.loc[label_split.quarantined.index], label_split, "labels", raw_labels
                ),
            ],
            ignore_index=True,
        ).assign(partition_date=self.day, model_name=self.model_name)
        layout = self._layout()
        stored = labeled_rows(labeled, **layout)
        writer.write_arrow(ROWS_TABLE, stored, JSONB_COLUMNS)
        writer.write("quarantined_rows", quarantine)

        self.rows_written += len(labeled)
        self.rows_quarantined += len(split.quarantined)
        self.labels_read += len(raw_labels)
        self.labels_quarantined += len(label_split.quarantined)
        self.label_figures.add(labeled)
        self.cross_day.add(labeled["prediction_id"])
        # Counted on the values as stored (cohort values as text), as a read back would.
        self.statistics.add(stored_values(stored, layout["cohort_attributes"]))
        if self.histograms.bins:
            self.histograms.add(
                stored_feature_values(
                    stored,
                    layout,
                    numeric_features=self.histograms.numeric_features,
                    categorical_features=self.histograms.categorical_features,
                    cohort_attributes=self.histograms.cohort_attributes,
                )
            )
        self.reasons.update(_reason_counts(split.reasons))
        self.label_reasons.update(_reason_counts(label_split.reasons))
        if len(self.preview) < 5 and len(labeled):
            head = labeled.head(5 - len(self.preview))
            head = head.assign(cohorts=json_column(head, list(model.cohorts.attributes)))
            head = head[PREVIEW_COLUMNS]
            self.preview = head if self.preview.empty else pd.concat([self.preview, head])

    def set_aside(self, writer, rows: list[tuple[str, str]]) -> None:
        """Quarantine source rows that never became a row of fields (``(text, reason)``):
        they count as read and quarantined, their text kept as ``{"source_line": ...}``."""
        if not rows:
            return
        texts, reasons = zip(*rows, strict=True)
        frame = pd.DataFrame({"source_line": list(texts)})
        writer.write(
            "quarantined_rows",
            pd.DataFrame(
                {
                    "source": "predictions",
                    "prediction_id": None,
                    "reason": list(reasons),
                    "row_data": json_column(frame, ["source_line"]).to_numpy(),
                }
            ).assign(partition_date=self.day, model_name=self.model_name),
        )
        self.rows_read += len(rows)
        self.rows_quarantined += len(rows)
        self.reasons.update(reasons)

    def _layout(self) -> dict[str, list[str]]:
        return {
            "cohort_attributes": list(self.model.cohorts.attributes),
            # Attributions and the latency ride with the numeric features (stored under
            # their column names).
            "numeric_features": [
                *self.model.features.numeric,
                *self.model.attribution_columns,
                *_latency(self.model),
            ],
            "categorical_features": list(self.model.features.categorical),
        }

    def layout(self) -> pa.Table:
        """The day's ``labeled_prediction_layouts`` row: what the value arrays hold."""
        return layout_table(self.day, self.model_name, **self._layout())


def _ids_on_other_days(
    engine: Engine, model_name: str, day: date, scan: streaming.DayScan
) -> pd.Series:
    """The day's ids (its pre-pass's: a query of a source table, or a file's ids) that are
    stored for the model on another day."""
    day_ids = scan.id_keys if scan.id_keys is not None else scan.day_ids
    if day_ids is None:
        return pd.Series([], dtype="string")
    with engine.connect() as conn:
        return ids_stored_on_other_days(conn, model_name, day, day_ids)


def _unmatched_label_ids(
    engine: Engine, model_name: str, labels: streaming.DayLabels
) -> pd.Series | None:
    with engine.connect() as conn:
        return labels.unmatched_label_ids(conn, model_name)


def _latency(model) -> list[str]:
    return [] if model.columns.latency_ms is None else [model.columns.latency_ms]


def _reason_counts(reasons: pd.Series) -> dict[str, int]:
    counts = reasons.str.split("; ").explode().value_counts()
    return {str(k): int(v) for k, v in counts.items()}


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
