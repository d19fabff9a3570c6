"""The HTML report of a monitored model: executive, on-call and debug pages in one
self-contained file that opens offline (plotly.js inlined).

``render`` and ``figures`` are pure (frames in, HTML and figures out); ``files`` loads the
frames through ``storage.report_queries`` and writes the file.
"""

from monitoring_pipeline.report.files import (
    DEFAULT_DAYS,
    NothingToReportError,
    ReportError,
    WrittenReport,
    report_path,
    report_url,
    reports_dir,
    write_report,
    write_reports,
)

__all__ = [
    "DEFAULT_DAYS",
    "NothingToReportError",
    "ReportError",
    "WrittenReport",
    "report_path",
    "report_url",
    "reports_dir",
    "write_report",
    "write_reports",
]
