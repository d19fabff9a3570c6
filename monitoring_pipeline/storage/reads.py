"""Read a written partition back in bounded chunks (server-side cursor)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

CHUNK_ROWS = 250_000


def iter_labeled_predictions(
    engine: Engine,
    model_name: str,
    day: date,
    *,
    cohort_attributes: Sequence[str],
    chunk_rows: int = CHUNK_ROWS,
) -> Iterator[pd.DataFrame]:
    """The day's rows with ``model_version, score, decision, label`` and one column per
    cohort attribute, ``chunk_rows`` at a time, so a large day never sits in memory."""
    with engine.connect() as conn:
        quote = conn.dialect.identifier_preparer.quote
        cohorts = "".join(
            f", cohorts ->> :cohort_{i} AS {quote(name)}"
            for i, name in enumerate(cohort_attributes)
        )
        query = sa.text(
            "SELECT model_version, score, decision, label"
            f"{cohorts} FROM monitoring.labeled_predictions "
            "WHERE model_name = :model AND partition_date = :day"
        )
        params = {"model": model_name, "day": day}
        params |= {f"cohort_{i}": name for i, name in enumerate(cohort_attributes)}
        streaming = conn.execution_options(stream_results=True, max_row_buffer=chunk_rows)
        yield from pd.read_sql_query(query, streaming, params=params, chunksize=chunk_rows)
