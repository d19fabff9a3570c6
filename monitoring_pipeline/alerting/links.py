"""Where an alert leads: the model's HTML report of the day, the Dagster partition, the
runbook. Plain strings in, URLs out; no I/O.

The Dagster UI's own link to one partition of an asset is
``/assets/<key path, each part URL-encoded>?view=partitions&partition=<key>`` (its
``assetDetailsPathForKey`` with ``{view: 'partitions', partition}``, as the UI links a
materialization's partition; checked in dagster-webserver 1.13's bundle).

Example::

    >>> dagster_partition_url("http://127.0.0.1:3000", ["loan", "error_budgets"], "2026-11-18")
    'http://127.0.0.1:3000/assets/loan/error_budgets?view=partitions&partition=2026-11-18'
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path
from urllib.parse import quote, urlencode

__all__ = ["dagster_partition_url", "report_url"]


def report_url(
    model_name: str, day: date, *, reports_dir: Path, reports_base_url: str | None
) -> str:
    """The link to ``<model>/<day>.html``: under ``reports_base_url`` when the reports are
    served, else the ``file://`` URL of the file in ``reports_dir`` (made absolute).

        >>> report_url("loan", date(2026, 11, 18), reports_dir=Path("/r"), reports_base_url=None)
        'file:///r/loan/2026-11-18.html'
    """
    name = f"{day.isoformat()}.html"
    if reports_base_url:
        return f"{reports_base_url.rstrip('/')}/{quote(model_name)}/{name}"
    return (Path(reports_dir).expanduser().resolve() / model_name / name).as_uri()


def dagster_partition_url(dagster_url: str, asset_key: Sequence[str], partition_key: str) -> str:
    """The Dagster UI page of one partition of an asset (see the module docstring)."""
    path = "/".join(quote(part, safe="") for part in asset_key)
    query = urlencode({"view": "partitions", "partition": partition_key})
    return f"{dagster_url.rstrip('/')}/assets/{path}?{query}"
