"""The per-model ``report`` asset: the day's HTML report, linked from its materialization.

Thin: it calls ``report.write_report`` for the partition (the same file the
``monitoring-pipeline report`` command writes) and puts the link and a few key figures in
the metadata.
"""

import dagster as dg

from monitoring_pipeline.config.models import MonitoringConfig
from monitoring_pipeline.defs.common import (
    EXPECTED_ERRORS,
    fail_clearly,
    float_metadata,
    model_step_properties,
)
from monitoring_pipeline.defs.partitions import partition_day
from monitoring_pipeline.defs.resources import MonitoringDatabase
from monitoring_pipeline.report import DEFAULT_DAYS, write_report


def build_report_asset(
    config: MonitoringConfig, model_name: str, partitions_def: dg.PartitionsDefinition
) -> dg.AssetsDefinition:
    """``<model>/report``, downstream of the model's ``error_budgets`` and ``drift``."""

    @dg.asset(
        key=[model_name, "report"],
        deps=[
            dg.AssetKey([model_name, "error_budgets"]),
            dg.AssetKey([model_name, "drift"]),
        ],
        partitions_def=partitions_def,
        group_name=model_name,
        kinds={"html"},
        **model_step_properties(config, model_name),
        description=f"Offline HTML report of the {DEFAULT_DAYS} days up to the day: executive, on-call and debug pages with intervals.",
    )
    def report(context: dg.AssetExecutionContext, monitoring_db: MonitoringDatabase):
        day = partition_day(context)
        try:
            written = write_report(monitoring_db.engine(), config, model_name, day=day)
        except EXPECTED_ERRORS as exc:
            raise fail_clearly(exc) from None
        key = written.figures
        context.log.info(f"{model_name} {day}: report written to {written.path}")
        gap = key.worst_gap
        return dg.MaterializeResult(
            metadata={
                "report": dg.MetadataValue.url(written.url),
                "path": dg.MetadataValue.path(str(written.path)),
                "window": f"{key.start.isoformat()} .. {key.day.isoformat()}",
                "evidence_day": key.evidence_day.isoformat() if key.evidence_day else "none",
                "paging_slos": len(key.paging),
                "ticket_slos": len(key.ticketing),
                "burning": ", ".join(key.paging + key.ticketing) or "none",
                "lowest_budget_remaining": float_metadata(key.lowest_budget_remaining),
                "lowest_budget_slo": key.lowest_budget_slo or "n/a",
                "worst_gap": float_metadata(gap["value"] if gap else None),
                "worst_gap_group": f"{gap['metric']} {gap['group']} on {gap['day']}"
                if gap
                else "no sufficient comparison",
            }
        )

    return report
