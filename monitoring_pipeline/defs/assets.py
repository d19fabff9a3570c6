"""The daily asset chain of one model (``build_model_assets``), keyed ``<model>/<asset>``:

- ``predictions_log``, ``labels_log``: the external sources (specs, never materialized);
- ``labeled_predictions`` (+ blocking quality checks) <- both logs;
- ``label_status`` <- labeled_predictions;
- ``cohort_metrics`` <- labeled_predictions; ``fairness_disparities`` <- cohort_metrics;
- ``performance_estimates`` <- cohort_metrics: metrics estimated from scores while labels
  lag, and gaps on them (``estimated_disparities``);
- ``drift`` <- labeled_predictions (``defs/drift_assets.py``);
- ``slo_evaluations`` <- cohort_metrics, fairness_disparities, performance_estimates, drift,
  version_comparison;
- ``error_budgets`` (one check per SLO) <- slo_evaluations;
- ``pipeline_health`` <- label_status, drift (``defs/health_assets.py``; never blocking);
- ``feature_attributions`` <- labeled_predictions, for a model that logs attributions;
- ``operational_metrics`` <- labeled_predictions, for a model that logs its latency
  (``columns.latency_ms``); slo_evaluations then reads it too;
- ``complaint_metrics`` <- labeled_predictions, ``complaints_log``, for a model with a
  complaints source; slo_evaluations then reads it too (late_complaints_sensor re-runs it).

``definitions.build_definitions`` adds two more per model: ``version_comparison`` <-
cohort_metrics (``defs/version_comparison.py``) and ``report`` <- error_budgets, drift
(``defs/report_assets.py``).
"""

import functools
from datetime import date

import dagster as dg
import pandas as pd
from sqlalchemy.engine import Engine

from monitoring_pipeline.config.models import MonitoringConfig
from monitoring_pipeline.defs.common import (
    complaints_as_of,
    day_text,
    float_metadata,
    labels_as_of,
    metadata_table,
    model_asset_properties,
    model_provenance,
    model_step_properties,
    partitioned_check_spec,
    percent,
    rounded_metadata,
    run_step,
)
from monitoring_pipeline.defs.drift_assets import build_drift_asset
from monitoring_pipeline.defs.health_assets import build_health_asset
from monitoring_pipeline.defs.resources import MonitoringDatabase
from monitoring_pipeline.defs.verdict_checks import (
    FAIRNESS_CHECK,
    budgets_table,
    cohorts_table,
    fairness_check_description,
    fairness_check_result,
    gaps_table,
    slo_check_description,
    slo_check_result,
    worst_gap,
)
from monitoring_pipeline.pipeline.attributions import build_feature_attributions
from monitoring_pipeline.pipeline.cohort_metrics import (
    build_cohort_metrics,
    build_fairness_disparities,
)
from monitoring_pipeline.pipeline.complaints import build_complaint_metrics
from monitoring_pipeline.pipeline.estimation import build_performance_estimates
from monitoring_pipeline.pipeline.label_status import build_label_status
from monitoring_pipeline.pipeline.labeled_predictions import build_labeled_predictions
from monitoring_pipeline.pipeline.operational import build_operational_metrics
from monitoring_pipeline.pipeline.slo import build_error_budgets, build_slo_evaluations
from monitoring_pipeline.pipeline.verdicts import cohort_view, fairness_view, slo_verdicts
from monitoring_pipeline.quality.expectations import CHECKS
from monitoring_pipeline.storage.writes import Audit

# Assets of a model's chain whose results do not depend on labels: drift reads only the
# features and scores of labeled_predictions (which a late-label re-run rewrites unchanged),
# so late_labels_sensor leaves it out of its re-runs. Complaints have their own sensor.
LABEL_INDEPENDENT_ASSETS = frozenset(
    {"drift", "feature_attributions", "operational_metrics", "complaint_metrics"}
)
# What late_complaints_sensor re-runs: the complaint rates and what reads them.
COMPLAINT_DEPENDENT_ASSETS = frozenset(
    {"complaint_metrics", "slo_evaluations", "error_budgets", "report"}
)


def build_model_assets(
    config: MonitoringConfig, model_name: str, partitions_def: dg.PartitionsDefinition
) -> list[dg.AssetsDefinition | dg.AssetSpec]:
    """The asset chain of one monitored model, keyed ``<model_name>/<asset>``."""
    model = config.models[model_name]
    properties = model_asset_properties(config, model_name)
    step_properties = model_step_properties(config, model_name)
    provenance = model_provenance(config, model_name)
    predictions_log = dg.AssetSpec(
        key=[model_name, "predictions_log"],
        description=f"Prediction log of {model_name} (external source: {_source(model.predictions)}).",
        group_name=model_name,
        kinds={"source"},
        **properties,
    )
    labels_log = dg.AssetSpec(
        key=[model_name, "labels_log"],
        description=f"Late-arriving ground-truth labels of {model_name} ({_source(model.labels)}).",
        group_name=model_name,
        kinds={"source"},
        **properties,
    )
    labeled_key = dg.AssetKey([model_name, "labeled_predictions"])

    @dg.asset(
        key=labeled_key,
        deps=[predictions_log.key, labels_log.key],
        partitions_def=partitions_def,
        group_name=model_name,
        kinds={"postgres", "great_expectations"},
        **step_properties,
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
        cutoff = labels_as_of(context)
        step = functools.partial(build_labeled_predictions, labels_as_of=cutoff)
        day, result = run_step(context, monitoring_db, provenance, step, config, model_name)
        if cutoff is not None:
            context.log.info(f"{model_name} {day}: labels recorded by {cutoff.isoformat()} only")
        context.log.info(
            f"{model_name} {day}: {result.rows_read} rows read, {result.rows_quarantined} quarantined, "
            f"{result.rows_written} written, coverage {percent(result.coverage)}"
        )
        if result.source_rows_without_time:
            context.log.warning(
                f"{result.source_rows_without_time} row(s) of the predictions table have no "
                "scored_at: no day can claim them (see ingestion_stats.source_rows_without_time)"
            )
        if result.ids_on_other_days:
            context.log.warning(
                f"{model_name} {day}: {result.ids_on_other_days} prediction id(s) of the day are "
                "also stored on another day (kept on both; see ingestion_stats.ids_on_other_days)"
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
                "labels_orphaned": result.labels_orphaned
                if result.labels_orphaned is not None
                else "n/a (labelled_at is not a timestamp column)",
                "ids_on_other_days": result.ids_on_other_days,
                "rows_stored_in": result.rows_table,
                "rows_written_as": "re-run: earlier rows of the day replaced"
                if result.rows_replaced
                else "first write of the day",
                "source_rows_without_time": result.source_rows_without_time
                if result.source_rows_without_time is not None
                else "n/a (file source)",
                "labelled": result.labelled,
                "labels_as_of": cutoff.isoformat() if cutoff else "all labels",
                "label_coverage": dg.MetadataValue.float(
                    result.coverage if result.coverage is not None else float("nan")
                ),
                "quarantine_reasons": dg.MetadataValue.json(result.quarantine_reasons),
                "preview": metadata_table(
                    result.preview, dict.fromkeys(result.preview.columns, "as stored")
                ),
            },
            check_results=check_results,
        )

    @dg.asset(
        key=[model_name, "label_status"],
        deps=[labeled_key],
        partitions_def=partitions_def,
        group_name=model_name,
        kinds={"postgres"},
        **step_properties,
        description="Per day: predictions, labelled, coverage and label-lag quantiles.",
    )
    def label_status(context: dg.AssetExecutionContext, monitoring_db: MonitoringDatabase):
        day, status = run_step(context, monitoring_db, provenance, build_label_status, model_name)
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
        **step_properties,
        description="Per cohort and intersection: n, rates with 95% Wilson intervals, calibration, and their change from the baseline window (cohort_changes); from additive statistics.",
    )
    def cohort_metrics(context: dg.AssetExecutionContext, monitoring_db: MonitoringDatabase):
        day, (result, view) = run_step(
            context, monitoring_db, provenance, _with_view(build_cohort_metrics, cohort_view_step), config,
            model_name,
        )  # fmt: skip
        context.log.info(
            f"{model_name} {day}: {result.cohorts} cohort rows, overall {result.overall}"
        )
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": result.rows,
                "cohorts": result.cohorts,
                **{f"overall_{k}": rounded_metadata(v) for k, v in result.overall.items()},
                "label_coverage": rounded_metadata(view.label_coverage),
                "evidence_day": day_text(view.evidence_day),
                "cohorts_furthest_from_overall_tpr": cohorts_table(view),
            }
        )

    @dg.asset(
        key=disparities_key,
        deps=[cohort_metrics_key],
        partitions_def=partitions_def,
        group_name=model_name,
        kinds={"postgres"},
        **step_properties,
        check_specs=[
            partitioned_check_spec(
                FAIRNESS_CHECK,
                disparities_key,
                partitions_def,
                description=fairness_check_description(),
            )
        ],
        description="Each group against its attribute's reference group (fixed over the baseline window) and against the rest of its attribute (fairness_disparities_vs_rest): parity, equal opportunity, equalized odds, calibration gaps with intervals.",
    )
    def fairness_disparities(context: dg.AssetExecutionContext, monitoring_db: MonitoringDatabase):
        day, (result, view) = run_step(
            context, monitoring_db, provenance, _with_view(build_fairness_disparities, fairness_view_step),
            config, model_name,
        )  # fmt: skip
        failing_four_fifths = result.worst[
            (result.worst.metric == "disparate_impact_ratio")
            & (result.worst.passes_four_fifths == False)  # noqa: E712
        ]
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": result.rows,
                "attributes_failing_four_fifths": len(failing_four_fifths),
                # Benjamini-Hochberg over every gap of the day (both tables), at 5% FDR.
                "gaps_tested": result.gaps_tested,
                "gaps_significant_after_fdr": result.gaps_significant,
                "evidence_day": day_text(view.evidence_day),
                "worst_gap": rounded_metadata(worst_gap(view)),
                "gaps_beyond_objective": len(view.beyond),
                "worst_gaps": gaps_table(view),
            },
            check_results=[fairness_check_result(view)],
        )

    estimates_key = dg.AssetKey([model_name, "performance_estimates"])

    @dg.asset(
        key=estimates_key,
        deps=[cohort_metrics_key],
        partitions_def=partitions_def,
        group_name=model_name,
        kinds={"postgres"},
        **step_properties,
        description="TPR, FPR, precision, accuracy per cohort estimated from the scores while labels lag (calibrated per cohort on the labelled reference window), with 95% intervals, the gaps between groups on them (estimated_disparities), and, once labels arrive, each estimate's error.",
    )
    def performance_estimates(context: dg.AssetExecutionContext, monitoring_db: MonitoringDatabase):
        day, result = run_step(
            context, monitoring_db, provenance, build_performance_estimates, config, model_name
        )
        coverage = result.coverage
        context.log.info(
            f"{model_name} {day}: {result.estimated} sufficient estimates, "
            f"{result.uncalibrated} uncalibrated; checked against labels: {result.judged}"
            + (f", {percent(coverage)} inside their interval" if coverage is not None else "")
        )
        gaps = result.gaps.head(10)
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": result.rows,
                "sufficient_estimates": result.estimated,
                "uncalibrated": result.uncalibrated,
                "checked_against_labels": result.judged,
                "interval_coverage": rounded_metadata(coverage)
                if coverage is not None
                else "none checked yet (labels incomplete)",
                "reference_window": (
                    f"{result.reference[0]} to {result.reference[1]}"
                    if result.reference
                    else "none"
                ),
                "largest_estimated_gaps": "none"
                if gaps.empty
                else metadata_table(
                    gaps[
                        [
                            "cohort_attribute",
                            "cohort_value",
                            "reference_value",
                            "metric",
                            "value",
                            "lower",
                            "upper",
                            "realised_value",
                        ]
                    ],
                    {
                        "cohort_attribute": "attribute",
                        "cohort_value": "group",
                        "reference_value": "reference group",
                        "metric": "estimated difference (group - reference)",
                        "value": "estimate",
                        "lower": "95% interval, lower bound",
                        "upper": "95% interval, upper bound",
                        "realised_value": "the same gap on the labels so far",
                    },
                ),
            }
        )

    drift = build_drift_asset(
        config, model_name, partitions_def, upstream=labeled_key, properties=step_properties
    )
    operational = (
        [
            _operational_asset(
                config, model_name, partitions_def, labeled_key, step_properties, provenance
            )
        ]
        if model.columns.latency_ms is not None
        else []
    )
    complaints = (
        _complaint_assets(
            config, model_name, partitions_def, labeled_key, step_properties, provenance
        )
        if model.complaints is not None
        else []
    )
    slo_key = dg.AssetKey([model_name, "slo_evaluations"])

    @dg.asset(
        key=slo_key,
        # version_comparison is built beside this chain (definitions.build_definitions):
        # canary SLOs read it, so the day's comparison comes first.
        deps=[
            cohort_metrics_key,
            disparities_key,
            estimates_key,
            drift.key,
            dg.AssetKey([model_name, "version_comparison"]),
            # Operational SLOs read it (a model that logs latencies).
            *[asset.key for asset in operational],
            # Complaint SLOs read it (a model with a complaints source).
            *[asset.key for asset in complaints if isinstance(asset, dg.AssetsDefinition)],
        ],
        partitions_def=partitions_def,
        group_name=model_name,
        kinds={"postgres"},
        **step_properties,
        description="Each SLO judged on the day: bad only on clear evidence, unknown when data is insufficient.",
    )
    def slo_evaluations(context: dg.AssetExecutionContext, monitoring_db: MonitoringDatabase):
        day, frame = run_step(
            context, monitoring_db, provenance, build_slo_evaluations, config, model_name
        )
        counts = frame.status.value_counts().to_dict()
        # Bad first, then the days that could not be judged.
        shown = frame.assign(
            order=frame.status.map({"bad": 0, "unknown": 1, "good": 2}),
            objective=frame.objective_op + " " + frame.objective_value.map(lambda v: f"{v:g}"),
        ).sort_values(["order", "slo_name"], kind="stable")
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": len(frame),
                **{
                    f"{status}_slos": int(counts.get(status, 0))
                    for status in ("good", "bad", "unknown")
                },
                "evaluations": metadata_table(
                    shown.astype({"value": float, "lower": float, "upper": float}),
                    {
                        "slo_name": "SLO",
                        "status": "good / bad (whole interval beyond the objective) / unknown",
                        "sli_subject": "what the SLI read (the group it is about)",
                        "value": "the day's figure (fairness gaps as absolute gaps)",
                        "lower": "95% interval, lower bound",
                        "upper": "95% interval, upper bound",
                        "objective": "the objective",
                        "reason": "why this status",
                    },
                ),
            }
        )

    budgets_key = dg.AssetKey([model_name, "error_budgets"])

    @dg.asset(
        key=budgets_key,
        deps=[slo_key],
        partitions_def=partitions_def,
        group_name=model_name,
        kinds={"postgres"},
        **step_properties,
        check_specs=[
            partitioned_check_spec(
                slo.name, budgets_key, partitions_def, description=slo_check_description(slo)
            )
            for slo in model.slos
        ],
        description="Each SLO's error budget over its compliance period: consumed, remaining, burn rates, ok/ticket/page; one check per SLO (WARN ticket, ERROR page).",
    )
    def error_budgets(context: dg.AssetExecutionContext, monitoring_db: MonitoringDatabase):
        day, verdicts = run_step(
            context, monitoring_db, provenance, _budget_verdicts, config, model_name
        )
        paging = [v.slo.name for v in verdicts if v.status == "page"]
        if paging:
            context.log.warning(f"{model_name} {day}: SLO(s) at page: {paging}")
        statuses = pd.Series([v.status for v in verdicts], dtype=object).value_counts()
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": len(verdicts),
                **{
                    f"{status}_slos": int(statuses.get(status, 0))
                    for status in ("ok", "ticket", "page")
                },
                # One series per SLO, so Dagster plots each budget over the partitions.
                **{
                    f"budget_remaining_days_{v.slo.name}": rounded_metadata(
                        v.budget["remaining_days"]
                    )
                    for v in verdicts
                },
                "budgets": budgets_table(verdicts),
            },
            check_results=[slo_check_result(v) for v in verdicts],
        )

    attributions = (
        [
            _attributions_asset(
                config, model_name, partitions_def, labeled_key, step_properties, provenance
            )
        ]
        if model.attributions
        else []
    )

    # Health reads label_status and drift of the day (and stored figures of earlier days);
    # nothing depends on it, so it never holds up the SLO chain.
    pipeline_health = build_health_asset(
        config,
        model_name,
        partitions_def,
        upstream=[label_status.key, drift.key],
        properties=step_properties,
    )

    return [
        predictions_log,
        labels_log,
        labeled_predictions,
        label_status,
        cohort_metrics,
        fairness_disparities,
        performance_estimates,
        drift,
        slo_evaluations,
        error_budgets,
        pipeline_health,
        *attributions,
        *operational,
        *complaints,
    ]


def _attributions_asset(config, model_name, partitions_def, upstream, properties, provenance):
    """``feature_attributions``, for a model that logs attributions (``attributions:``)."""

    @dg.asset(
        key=[model_name, "feature_attributions"],
        deps=[upstream],
        partitions_def=partitions_def,
        group_name=model_name,
        kinds={"postgres"},
        **properties,
        description="Per cohort and feature: mean |attribution| with its 95% interval, signed mean and share, from the attributions the model logs; their drift is in drift (feature = the attribution column).",
    )
    def feature_attributions(context: dg.AssetExecutionContext, monitoring_db: MonitoringDatabase):
        day, result = run_step(
            context, monitoring_db, provenance, build_feature_attributions, config, model_name
        )
        top = result.overall.head(1)
        if not result.attributed:
            context.log.info(f"{model_name} {day}: no prediction carries attributions")
        elif len(top):
            context.log.info(
                f"{model_name} {day}: {result.rows} attribution rows; largest share "
                f"{top.feature.iloc[0]} {percent(float(top.share.iloc[0]))}"
            )
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": result.rows,
                # 0 on a day served by a version that logs no attributions: figures empty.
                "predictions_with_attributions": result.attributed,
                **{
                    f"share_{row.feature}": rounded_metadata(row.share)
                    for row in result.overall.itertuples()
                },
                "overall": metadata_table(result.overall, _ATTRIBUTION_COLUMNS),
            }
        )

    return feature_attributions


def _operational_asset(config, model_name, partitions_def, upstream, properties, provenance):
    """``operational_metrics`` (and ``latency_histograms``), for a model that logs its
    serving latency (``columns.latency_ms``)."""

    @dg.asset(
        key=[model_name, "operational_metrics"],
        deps=[upstream],
        partitions_def=partitions_def,
        group_name=model_name,
        kinds={"postgres"},
        **properties,
        description="Per cohort: serving latency p50/p95/p99 (ms) from additive log-binned histograms, with distribution-free 95% intervals, and throughput (predictions per day) with its Poisson interval; operational SLOs read it.",
    )
    def operational_metrics(context: dg.AssetExecutionContext, monitoring_db: MonitoringDatabase):
        day, result = run_step(
            context, monitoring_db, provenance, build_operational_metrics, config, model_name
        )
        p95 = result.overall.get("latency_p95")
        context.log.info(
            f"{model_name} {day}: {result.measured} latencies"
            + (f", p95 {p95[0]:.1f} ms [{p95[1]:.1f}, {p95[2]:.1f}]" if p95 else "")
        )
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": result.rows,
                "latencies_measured": result.measured,
                "latencies_invalid": result.invalid,
                # One series each, so Dagster plots them over the partitions.
                **{
                    (f"{metric}_ms" if metric != "throughput" else metric): rounded_metadata(
                        figures[0]
                    )
                    for metric, figures in result.overall.items()
                },
                "slowest_cohorts": metadata_table(result.cohorts, _OPERATIONAL_COLUMNS, limit=10),
            }
        )

    return operational_metrics


def _complaint_assets(config, model_name, partitions_def, upstream, properties, provenance):
    """``complaints_log`` (the external source) and ``complaint_metrics``, for a model with
    a complaints source."""
    settings = config.models[model_name].complaints
    log = dg.AssetSpec(
        key=[model_name, "complaints_log"],
        description=f"Late-arriving complaints and appeals about {model_name}'s predictions ({_source(settings.source)}).",
        group_name=model_name,
        kinds={"source"},
        **model_asset_properties(config, model_name),  # an external source: no pool
    )

    @dg.asset(
        key=[model_name, "complaint_metrics"],
        deps=[upstream, log.key],
        partitions_def=partitions_def,
        group_name=model_name,
        kinds={"postgres"},
        **properties,
        description=f"Per cohort: the share of the day's predictions that drew a complaint or appeal within {settings.window_days} days, with its Wilson 95% interval; a lower bound until the window closes. Complaint SLOs read it.",
    )
    def complaint_metrics(context: dg.AssetExecutionContext, monitoring_db: MonitoringDatabase):
        step = functools.partial(
            build_complaint_metrics, complaints_as_of=complaints_as_of(context)
        )
        day, result = run_step(context, monitoring_db, provenance, step, config, model_name)
        rate = result.complained / result.predictions if result.predictions else None
        state = "final" if result.window_complete else "window open"
        context.log.info(
            f"{model_name} {day}: {result.complained} of {result.predictions} predictions "
            f"complained about ({state}, window closes {result.window_closes_at:%Y-%m-%d})"
        )
        unusable = {k: v for k, v in result.outcomes.items() if k != "counted" and v}
        if unusable:
            context.log.warning(f"{model_name} {day}: complaint rows not counted: {unusable}")
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": result.rows,
                "predictions": result.predictions,
                "predictions_complained_about": result.complained,
                "complaint_rate": rounded_metadata(rate),
                "window_complete": result.window_complete,
                "window_closes_at": str(result.window_closes_at),
                # Every complaint row read for the day's predictions, by what became of it.
                **{f"complaint_rows_{k}": v for k, v in result.outcomes.items()},
                **(
                    {
                        "highest_cohorts": metadata_table(
                            result.cohorts, _COMPLAINT_COLUMNS, limit=10
                        )
                    }
                    if len(result.cohorts)
                    else {}
                ),
            }
        )

    return [log, complaint_metrics]


_COMPLAINT_COLUMNS = {
    "cohort": "cohort (attribute=group)",
    "value": "complaint rate",
    "lower": "95% interval, lower bound",
    "upper": "95% interval, upper bound",
    "complaints": "predictions complained about",
    "n": "predictions",
}


_OPERATIONAL_COLUMNS = {
    "cohort": "cohort (attribute=group)",
    "latency_p50": "median latency, ms",
    "latency_p95": "95th percentile latency, ms",
    "latency_p99": "99th percentile latency, ms",
    "throughput": "predictions that day",
}


_ATTRIBUTION_COLUMNS = {
    "feature": "the feature explained",
    "mean_abs": "mean |attribution| over everyone that day",
    "lower": "95% interval, lower bound",
    "upper": "95% interval, upper bound",
    "mean": "mean signed attribution",
    "share": "share of the total mean |attribution|",
}


def _with_view(step, view):
    """``step`` followed by ``view`` of the same day: one step for ``run_step``, whose
    errors (a database outage) are handled alike."""

    def both(engine: Engine, config: MonitoringConfig, model_name: str, day: date, audit: Audit):
        return step(engine, config, model_name, day, audit), view(engine, config, model_name, day)

    return both


def cohort_view_step(engine: Engine, config: MonitoringConfig, model_name: str, day: date):
    return cohort_view(engine, model_name, day)


def fairness_view_step(engine: Engine, config: MonitoringConfig, model_name: str, day: date):
    return fairness_view(engine, config, model_name, day)


def _budget_verdicts(
    engine: Engine, config: MonitoringConfig, model_name: str, day: date, audit: Audit
):
    budgets = build_error_budgets(engine, config, model_name, day, audit)
    return slo_verdicts(engine, config, model_name, day, budgets)


def _source(source) -> str:
    return getattr(source, "table", None) or getattr(source, "path", "")
