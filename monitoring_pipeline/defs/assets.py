"""Per-model daily assets: source logs -> labeled_predictions (+ quality checks) -> label_status."""

import dagster as dg

from monitoring_pipeline.config.models import MonitoringConfig
from monitoring_pipeline.defs.common import float_metadata, percent, run_step
from monitoring_pipeline.defs.drift_assets import build_drift_asset
from monitoring_pipeline.defs.health_assets import build_health_asset
from monitoring_pipeline.defs.resources import MonitoringDatabase
from monitoring_pipeline.pipeline.cohort_metrics import (
    build_cohort_metrics,
    build_fairness_disparities,
    worst_gaps_markdown,
)
from monitoring_pipeline.pipeline.label_status import build_label_status
from monitoring_pipeline.pipeline.labeled_predictions import build_labeled_predictions
from monitoring_pipeline.pipeline.slo import (
    budgets_markdown,
    build_error_budgets,
    build_slo_evaluations,
)
from monitoring_pipeline.quality.expectations import CHECKS


def build_model_assets(
    config: MonitoringConfig, model_name: str, partitions_def: dg.PartitionsDefinition
) -> list[dg.AssetsDefinition | dg.AssetSpec]:
    """The asset chain of one monitored model, keyed ``<model_name>/<asset>``."""
    model = config.models[model_name]
    predictions_log = dg.AssetSpec(
        key=[model_name, "predictions_log"],
        description=f"Prediction log of {model_name} (external source: {_source(model.predictions)}).",
        group_name=model_name,
        kinds={"source"},
    )
    labels_log = dg.AssetSpec(
        key=[model_name, "labels_log"],
        description=f"Late-arriving ground-truth labels of {model_name} ({_source(model.labels)}).",
        group_name=model_name,
        kinds={"source"},
    )
    labeled_key = dg.AssetKey([model_name, "labeled_predictions"])

    @dg.asset(
        key=labeled_key,
        deps=[predictions_log.key, labels_log.key],
        partitions_def=partitions_def,
        group_name=model_name,
        kinds={"postgres", "great_expectations"},
        check_specs=[
            dg.AssetCheckSpec(
                check.name,
                asset=labeled_key,
                blocking=check.blocking,
                description=check.description,
            )
            for check in CHECKS
        ],
        description="Each prediction of the day with its newest label and label lag; malformed rows quarantined.",
    )
    def labeled_predictions(context: dg.AssetExecutionContext, monitoring_db: MonitoringDatabase):
        day, result = run_step(
            context, monitoring_db, build_labeled_predictions, config, model_name
        )
        context.log.info(
            f"{model_name} {day}: {result.rows_read} rows read, {result.rows_quarantined} quarantined, "
            f"{result.rows_written} written, coverage {percent(result.coverage)}"
        )
        if result.source_rows_without_time:
            context.log.warning(
                f"{result.source_rows_without_time} row(s) of the predictions table have no "
                "scored_at: no day can claim them (see ingestion_stats.source_rows_without_time)"
            )
        if result.stale_rows_removed:
            context.log.warning(
                f"{model_name} {day}: blocked by a failed blocking check; the day's earlier "
                f"downstream results were removed: {result.stale_rows_removed}"
            )
        check_results = [
            dg.AssetCheckResult(
                check_name=check.name,
                passed=result.checks[check.name]["passed"],
                severity=dg.AssetCheckSeverity.ERROR
                if check.blocking
                else dg.AssetCheckSeverity.WARN,
                metadata={
                    "expectations_evaluated": result.checks[check.name]["evaluated"],
                    "failed_expectations": dg.MetadataValue.md(
                        "\n".join(f"- {line}" for line in result.checks[check.name]["failed"])
                        or "none"
                    ),
                },
            )
            for check in CHECKS
        ]
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": result.rows_written,
                "rows_read": result.rows_read,
                "rows_quarantined": result.rows_quarantined,
                "labels_read": result.labels_read,
                "labels_quarantined": result.labels_quarantined,
                "labels_orphaned": result.labels_orphaned,
                "source_rows_without_time": result.source_rows_without_time
                if result.source_rows_without_time is not None
                else "n/a (file source)",
                "labelled": result.labelled,
                "label_coverage": dg.MetadataValue.float(
                    result.coverage if result.coverage is not None else float("nan")
                ),
                "quarantine_reasons": dg.MetadataValue.json(result.quarantine_reasons),
                "preview": dg.MetadataValue.md(result.preview.to_markdown(index=False)),
            },
            check_results=check_results,
        )

    @dg.asset(
        key=[model_name, "label_status"],
        deps=[labeled_key],
        partitions_def=partitions_def,
        group_name=model_name,
        kinds={"postgres"},
        description="Per day: predictions, labelled, coverage and label-lag quantiles.",
    )
    def label_status(context: dg.AssetExecutionContext, monitoring_db: MonitoringDatabase):
        day, status = run_step(context, monitoring_db, build_label_status, model_name)
        context.log.info(
            f"{model_name} {day}: coverage {percent(status.coverage)} of {status.predictions}"
        )
        return dg.MaterializeResult(
            metadata={
                "predictions": status.predictions,
                "labelled": status.labelled,
                "coverage": dg.MetadataValue.float(
                    status.coverage if status.coverage is not None else float("nan")
                ),
                "corrected": status.corrected,
                "label_lag_p50_hours": float_metadata(status.label_lag_p50_hours),
                "label_lag_p90_hours": float_metadata(status.label_lag_p90_hours),
            }
        )

    cohort_metrics_key = dg.AssetKey([model_name, "cohort_metrics"])
    disparities_key = dg.AssetKey([model_name, "fairness_disparities"])

    @dg.asset(
        key=cohort_metrics_key,
        deps=[labeled_key],
        partitions_def=partitions_def,
        group_name=model_name,
        kinds={"postgres"},
        description="Per cohort and intersection: n, rates with 95% Wilson intervals, calibration; from additive statistics.",
    )
    def cohort_metrics(context: dg.AssetExecutionContext, monitoring_db: MonitoringDatabase):
        day, result = run_step(context, monitoring_db, build_cohort_metrics, config, model_name)
        context.log.info(
            f"{model_name} {day}: {result.cohorts} cohort rows, overall {result.overall}"
        )
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": result.rows,
                "cohorts": result.cohorts,
                **{f"overall_{k}": float_metadata(v) for k, v in result.overall.items()},
                "cohorts_furthest_from_overall_tpr": dg.MetadataValue.md(
                    result.highlights.to_markdown(index=False)
                    if not result.highlights.empty
                    else "none sufficient"
                ),
            }
        )

    @dg.asset(
        key=disparities_key,
        deps=[cohort_metrics_key],
        partitions_def=partitions_def,
        group_name=model_name,
        kinds={"postgres"},
        description="Each group against its attribute's reference group: parity, equal opportunity, equalized odds, calibration gaps with intervals.",
    )
    def fairness_disparities(context: dg.AssetExecutionContext, monitoring_db: MonitoringDatabase):
        day, result = run_step(
            context, monitoring_db, build_fairness_disparities, config, model_name
        )
        failing_four_fifths = result.worst[
            (result.worst.metric == "disparate_impact_ratio")
            & (result.worst.passes_four_fifths == False)  # noqa: E712
        ]
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": result.rows,
                "attributes_failing_four_fifths": len(failing_four_fifths),
                "worst_gaps": dg.MetadataValue.md(worst_gaps_markdown(result.worst)),
            }
        )

    drift = build_drift_asset(config, model_name, partitions_def, upstream=labeled_key)
    slo_key = dg.AssetKey([model_name, "slo_evaluations"])

    @dg.asset(
        key=slo_key,
        deps=[cohort_metrics_key, disparities_key, drift.key],
        partitions_def=partitions_def,
        group_name=model_name,
        kinds={"postgres"},
        description="Each SLO judged on the day: bad only on clear evidence, unknown when data is insufficient.",
    )
    def slo_evaluations(context: dg.AssetExecutionContext, monitoring_db: MonitoringDatabase):
        day, frame = run_step(context, monitoring_db, build_slo_evaluations, config, model_name)
        counts = frame.status.value_counts().to_dict()
        table = frame[
            [
                "slo_name",
                "status",
                "sli_subject",
                "value",
                "lower",
                "upper",
                "objective_op",
                "objective_value",
            ]
        ]
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": len(frame),
                **{
                    f"{status}_slos": int(counts.get(status, 0))
                    for status in ("good", "bad", "unknown")
                },
                "evaluations": dg.MetadataValue.md(
                    table.round(3).to_markdown(index=False) if len(frame) else "no SLO"
                ),
            }
        )

    @dg.asset(
        key=[model_name, "error_budgets"],
        deps=[slo_key],
        partitions_def=partitions_def,
        group_name=model_name,
        kinds={"postgres"},
        description="Each SLO's error budget over its compliance period: consumed, remaining, burn rates, ok/ticket/page.",
    )
    def error_budgets(context: dg.AssetExecutionContext, monitoring_db: MonitoringDatabase):
        day, frame = run_step(context, monitoring_db, build_error_budgets, config, model_name)
        statuses = frame.status.value_counts().to_dict() if len(frame) else {}
        if statuses.get("page"):
            paging = list(frame[frame.status == "page"].slo_name)
            context.log.warning(f"{model_name} {day}: SLO(s) at page: {paging}")
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": len(frame),
                **{
                    f"{status}_slos": int(statuses.get(status, 0))
                    for status in ("ok", "ticket", "page")
                },
                "budgets": dg.MetadataValue.md(budgets_markdown(frame)),
            }
        )

    # Health reads label_status and drift of the day (and stored figures of earlier days);
    # nothing depends on it, so it never holds up the SLO chain.
    pipeline_health = build_health_asset(
        config, model_name, partitions_def, upstream=[label_status.key, drift.key]
    )

    return [
        predictions_log,
        labels_log,
        labeled_predictions,
        label_status,
        cohort_metrics,
        fairness_disparities,
        drift,
        slo_evaluations,
        error_budgets,
        pipeline_health,
    ]


def _source(source) -> str:
    return getattr(source, "table", None) or getattr(source, "path", "")
