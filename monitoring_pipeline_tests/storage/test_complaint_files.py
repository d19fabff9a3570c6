"""ComplaintReader on daily complaint files (no database): the files of the scoring day up
to the window's last day are read, ids match as text, a missing column is named."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest

from monitoring_pipeline.config.models import ComplaintsConfig
from monitoring_pipeline.core.validation import SchemaError
from monitoring_pipeline.storage.sources import ComplaintReader, read_complaint_rows

DAY = date(2026, 11, 2)


def complaints(tmp_path, **columns) -> ComplaintsConfig:
    return ComplaintsConfig.model_validate(
        {"source": {"kind": "files", "path": str(tmp_path / "{date}.csv")}, "window_days": 14}
        | columns
    )


def write(tmp_path, day: date, rows: dict) -> None:
    pd.DataFrame(rows).to_csv(tmp_path / f"{day.isoformat()}.csv", index=False)


def test_reads_the_files_of_the_day_to_the_windows_last_day(tmp_path):
    write(tmp_path, DAY - timedelta(days=1), {"prediction_id": ["007"], "complained_at": ["x"]})
    write(tmp_path, DAY, {"prediction_id": ["007", "008"], "complained_at": ["a", "b"]})
    write(tmp_path, DAY + timedelta(days=15), {"prediction_id": ["007"], "complained_at": ["c"]})
    # Recorded after the window: never counted, so never read for this day.
    write(tmp_path, DAY + timedelta(days=16), {"prediction_id": ["007"], "complained_at": ["d"]})
    reader = ComplaintReader(None, complaints(tmp_path), DAY)
    found = reader.read(pd.Series(["007", "009"]))
    assert sorted(found.complained_at) == ["a", "c"]
    assert set(found.prediction_id) == {"007"}  # "007" stays text: no leading zero lost
    # The sensor reads every file since a day (it counts what arrived, windows aside).
    assert len(read_complaint_rows(complaints(tmp_path), DAY)) == 4


def test_a_file_without_the_configured_columns_is_named(tmp_path):
    write(tmp_path, DAY, {"id": ["1"], "complained_at": ["a"]})
    with pytest.raises(
        SchemaError, match=r"complaints source .* lacks column\(s\) \['prediction_id'\]"
    ):
        ComplaintReader(None, complaints(tmp_path), DAY)
    reader = ComplaintReader(None, complaints(tmp_path, prediction_id="id"), DAY)
    assert reader.read(pd.Series(["1"])).complained_at.tolist() == ["a"]
