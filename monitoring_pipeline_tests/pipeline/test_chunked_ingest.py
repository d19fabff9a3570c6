"""labeled_predictions streamed in chunks writes exactly what one chunk (the whole day) writes,
for a table, a Parquet and a CSV source, with duplicates and conflicts split across chunks,
malformed rows and labels with revisions; a failure mid-stream keeps the previous rows."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
import yaml

from monitoring_pipeline.config import load_config
from monitoring_pipeline.demo.generator import generate_traffic
from monitoring_pipeline.demo.incidents import MalformedRows
from monitoring_pipeline.demo.publish import demo_config, publish_demo_sources
from monitoring_pipeline.pipeline import labeled_predictions
from monitoring_pipeline.pipeline.cohort_metrics import day_statistics, statistics_checksum
from monitoring_pipeline.pipeline.labeled_predictions import (
    LABEL_LAG_COLUMNS,
    build_labeled_predictions,
)
from monitoring_pipeline.storage.ingestion import label_status_figures_from_rows
from monitoring_pipeline.storage.writes import Audit
from monitoring_pipeline_tests.helpers.day_statistics import (
    assert_counted_as_stored,
    assert_same_statistics,
    counted_from_stored_rows,
)

START = date(2026, 10, 1)
DAY = date(2026, 10, 3)
NOW = datetime(2026, 10, 11, 6, tzinfo=UTC)
AUDIT = Audit(run_id="test", produced_at=NOW)
TABLES = ["labeled_predictions", "quarantined_rows", "quality_results", "ingestion_stats"]
WHOLE_DAY = 1_000_000
MODELS = ("loan_approval", "job_screening")


def first_rows_of_day(predictions: pd.DataFrame) -> pd.DataFrame:
    """The day's rows with an id, one per id (the generator repeats a few ids itself)."""
    day = predictions[predictions["scored_at"].dt.date == DAY].dropna(subset=["prediction_id"])
    return day.drop_duplicates("prediction_id")


def with_repeats(predictions: pd.DataFrame) -> pd.DataFrame:
    """The day's rows plus repeats appended at its end, so that in small chunks the copies
    land far from the originals: an exact copy, a conflicting copy, an id padded with
    blanks (the same id once stripped) and an id logged three times."""
    day = first_rows_of_day(predictions)
    first, second, third, fourth = (day.iloc[[i]] for i in (0, 1, 2, 3))
    conflicting = second.assign(score=(second["score"] + 0.25) % 1)
    padded = third.assign(prediction_id=" " + third["prediction_id"] + "  ")
    extra = pd.concat([first, conflicting, padded, fourth, fourth])
    return pd.concat([predictions, extra], ignore_index=True)


def with_revisions(labels: pd.DataFrame, predictions: pd.DataFrame) -> pd.DataFrame:
    """Corrections (a flipped label a day later) for 12 of the day's labelled predictions,
    and an invalid label value for 2 more (quarantined as label rows)."""
    day_ids = predictions.loc[predictions["scored_at"].dt.date == DAY, "prediction_id"]
    known = labels[labels["prediction_id"].isin(day_ids)].drop_duplicates("prediction_id")
    corrections = known.iloc[:12].assign(
        label=1 - known["label"].iloc[:12],
        labelled_at=known["labelled_at"].iloc[:12] + pd.Timedelta(days=1),
    )
    invalid = known.iloc[12:14].assign(
        label=7, labelled_at=known["labelled_at"].iloc[12:14] + pd.Timedelta(hours=2)
    )
    return pd.concat([labels, corrections, invalid], ignore_index=True)


@pytest.fixture
def world(engine, tmp_path: Path):
    incidents = [MalformedRows(model=model, start=DAY, end=DAY, share=0.08) for model in MODELS]
    traffic = {}
    for model in MODELS:
        frames = generate_traffic(
            model, START, DAY, now=NOW, seed=5, incidents=incidents, daily_volume=70
        )
        traffic[model] = replace(
            frames,
            predictions=with_repeats(frames.predictions),
            labels=with_revisions(frames.labels, frames.predictions),
        )
    publish_demo_sources(engine, traffic, tmp_path / "data")
    raw = demo_config(START, tmp_path / "data")
    for model in MODELS:
        raw["models"][model]["quality"] = {"max_malformed_share": 0.2}
    return raw, traffic, tmp_path


def configure(tmp_path: Path, raw: dict, chunk_rows: int):
    raw = {**raw, "defaults": {**raw["defaults"], "ingest_chunk_rows": chunk_rows}}
    path = tmp_path / f"models_{chunk_rows}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_config(path)


def use_csv(tmp_path: Path, raw: dict) -> dict:
    """job_screening's prediction files as CSV instead of Parquet."""
    folder = tmp_path / "data" / "job_screening" / "predictions"
    for parquet in folder.glob("*.parquet"):
        pd.read_parquet(parquet).to_csv(parquet.with_suffix(".csv"), index=False)
    models = dict(raw["models"])
    job = dict(models["job_screening"])
    job["predictions"] = {"kind": "files", "path": str(folder / "{date}.csv")}
    models["job_screening"] = job
    return {**raw, "models": models}


def snapshot(engine, model: str) -> dict[str, pd.DataFrame]:
    """The model's rows of the day in every table, audit columns dropped, canonical order."""
    out = {}
    with engine.connect() as conn:
        for table in TABLES:
            frame = pd.read_sql_query(
                sa.text(
                    f"SELECT * FROM monitoring.{table} WHERE model_name = :m AND partition_date = :d"
                ),
                conn,
                params={"m": model, "d": DAY},
            ).drop(columns=["run_id", "produced_at"])
            for column in frame.columns:
                if frame[column].map(lambda v: isinstance(v, dict)).any():
                    frame[column] = frame[column].map(lambda v: yaml.safe_dump(v, sort_keys=True))
            out[table] = frame.sort_values(list(frame.columns)).reset_index(drop=True)
    return out


@pytest.mark.parametrize("source_format", ["parquet", "csv"])
def test_chunks_write_exactly_what_the_whole_day_writes(engine, world, source_format):
    raw, traffic, tmp_path = world
    if source_format == "csv":
        raw = use_csv(tmp_path, raw)
    models = MODELS if source_format == "parquet" else ("job_screening",)
    whole = {}
    for model in models:
        result = build_labeled_predictions(
            engine, configure(tmp_path, raw, WHOLE_DAY), model, DAY, AUDIT
        )
        whole[model] = snapshot(engine, model)
        assert_counted_as_stored(engine, configure(tmp_path, raw, WHOLE_DAY), model, DAY, model)
        assert result.rows_read == result.rows_written + result.rows_quarantined
        assert result.labels_read > 0 and result.labelled > 0
    for chunk_rows in (1, 7, 40):
        config = configure(tmp_path, raw, chunk_rows)
        for model in models:
            build_labeled_predictions(engine, config, model, DAY, AUDIT)
            chunked = snapshot(engine, model)
            assert_counted_as_stored(engine, config, model, DAY, f"{model} @{chunk_rows}")
            for table in TABLES:
                pd.testing.assert_frame_equal(
                    chunked[table], whole[model][table], obj=f"{model} {table} @{chunk_rows}"
                )

    for model in models:
        day_rows = whole[model]
        labeled = day_rows["labeled_predictions"].set_index("prediction_id")
        quarantined = day_rows["quarantined_rows"]
        source = traffic[model].predictions
        in_day = first_rows_of_day(source)
        exact, conflicting, padded, tripled = (in_day["prediction_id"].iloc[i] for i in range(4))
        reasons = quarantined.groupby("prediction_id")["reason"].apply(sorted)
        copy = "duplicate prediction_id (exact copy of an earlier row)"
        conflict = "duplicate prediction_id with conflicting content"
        # (The generator's own duplicate rows may add copies to these ids: hence >=.)
        assert exact in labeled.index and reasons[exact] == [copy] * len(reasons[exact])
        assert conflicting not in labeled.index and len(reasons[conflicting]) >= 2
        assert set(reasons[conflicting]) == {conflict}
        assert padded in labeled.index and reasons[" " + padded + "  "] == [copy]
        assert tripled in labeled.index and len(reasons[tripled]) >= 2
        assert set(reasons[tripled]) == {copy}
        # Corrections were joined (some corrected ids are quarantined predictions).
        assert (labeled["label_revisions"] > 1).sum() >= 6
        assert (quarantined["source"] == "labels").sum() >= 1
        stats = day_rows["ingestion_stats"].iloc[0]
        assert stats.rows_read == stats.rows_written + stats.rows_quarantined
        # The label figures counted while writing are PostgreSQL's own over the stored rows,
        # bit for bit (percentile_cont included), whatever the chunks.
        from_rows = label_status_figures_from_rows(engine, model, DAY)
        assert from_rows.predictions == stats.rows_written and stats.labelled > 0
        for figure in ("labelled", "corrected", "positives", *LABEL_LAG_COLUMNS):
            assert stats[figure] == from_rows[figure], figure
        assert stats.rows_quarantined == (quarantined["source"] == "predictions").sum()
        unique = day_rows["quality_results"].query(
            "expectation == 'expect_column_values_to_be_unique'"
        )
        # Raw-equal repeats only (the padded id differs as a raw value): 2 + 2 + 3 rows, plus
        # the generator's own duplicate rows.
        assert unique.unexpected_count.iloc[0] >= 7

    # Another cohort setting than the one the day was counted by: its rows are counted again.
    model = models[0]
    other = {**raw, "models": {**raw["models"]}}
    other["models"][model] = {**raw["models"][model]}
    other["models"][model]["cohorts"] = {**raw["models"][model]["cohorts"], "intersections": []}
    (tmp_path / "other").mkdir(exist_ok=True)
    changed = configure(tmp_path / "other", other, WHOLE_DAY)
    assert statistics_checksum(changed, model) != statistics_checksum(
        configure(tmp_path, raw, WHOLE_DAY), model
    )
    taken = day_statistics(engine, changed, model, DAY)
    assert not (taken[0].cohort_attribute.str.contains("&")).any()
    assert_same_statistics(taken, counted_from_stored_rows(engine, changed, model, DAY), "changed")


def test_a_failure_mid_stream_keeps_the_previous_rows(engine, world, monkeypatch):
    raw, _, tmp_path = world
    config = configure(tmp_path, raw, 10)
    for model in MODELS:
        build_labeled_predictions(engine, config, model, DAY, AUDIT)
    before = {model: snapshot(engine, model) for model in MODELS}

    calls = {"n": 0}
    original = labeled_predictions._ChunkStep.run

    def fail_on_third_chunk(self, *args):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("worker killed")
        return original(self, *args)

    monkeypatch.setattr(labeled_predictions._ChunkStep, "run", fail_on_third_chunk)
    for model in MODELS:
        calls["n"] = 0
        with pytest.raises(RuntimeError, match="worker killed"):
            build_labeled_predictions(
                engine, config, model, DAY, Audit("failed", NOW + timedelta(hours=1))
            )
        after = snapshot(engine, model)
        for table in TABLES:
            pd.testing.assert_frame_equal(after[table], before[model][table], obj=table)
    monkeypatch.undo()
    # The abandoned COPY stream left no broken connection behind: the day runs again.
    result = build_labeled_predictions(engine, config, "loan_approval", DAY, AUDIT)
    assert result.rows_read == result.rows_written + result.rows_quarantined


def test_chunk_size_is_validated_and_overridable_per_model(world):
    raw, _, tmp_path = world
    config = configure(tmp_path, raw, 5000)
    assert config.ingest_chunk_rows("loan_approval") == 5000
    models = dict(raw["models"])
    models["loan_approval"] = {**models["loan_approval"], "ingest_chunk_rows": 20}
    config = configure(tmp_path, {**raw, "models": models}, 5000)
    assert config.ingest_chunk_rows("loan_approval") == 20
    assert config.ingest_chunk_rows("job_screening") == 5000
    with pytest.raises(Exception, match="ingest_chunk_rows"):
        configure(tmp_path, raw, 0)


def test_an_empty_table_day_is_written_as_empty_and_fails_the_row_count(engine, world):
    raw, _, tmp_path = world
    config = configure(tmp_path, raw, 7)
    empty_day = DAY + timedelta(days=3)  # after the simulated traffic
    result = build_labeled_predictions(engine, config, "loan_approval", empty_day, AUDIT)
    assert (result.rows_read, result.rows_written, result.labels_read) == (0, 0, 0)
    assert not result.checks["row_count"]["passed"]
    assert result.checks["schema"]["passed"]
    with engine.connect() as conn:
        stats = conn.execute(
            sa.text("SELECT rows_read FROM monitoring.ingestion_stats WHERE partition_date = :d"),
            {"d": empty_day},
        ).all()
    assert stats == [(0,)]


@pytest.mark.parametrize("source_format", ["parquet", "csv"])
def test_streamed_chunks_hold_what_the_whole_day_reader_returns(engine, world, source_format):
    """Same rows, values and types as the whole-day reader (ids stay text); only the unit
    of a table's timestamps differs (microseconds, PostgreSQL's own precision)."""
    from monitoring_pipeline.storage import sources, streaming

    raw, _, tmp_path = world
    if source_format == "csv":
        raw = use_csv(tmp_path, raw)
    config = configure(tmp_path, raw, 7)
    with engine.begin() as conn:  # an id that looks like a number must stay "0042"
        conn.execute(
            sa.text(
                "UPDATE demo_source.loan_predictions SET prediction_id = '0042' "
                "WHERE prediction_id = (SELECT min(prediction_id) FROM demo_source.loan_predictions"
                " WHERE scored_at >= :day)"
            ),
            {"day": datetime(2026, 10, 3, tzinfo=UTC)},
        )
    for model in MODELS:
        whole = sources.read_predictions(engine, config.models[model], DAY)
        day = streaming.open_prediction_day(engine, config.models[model], DAY, chunk_rows=7)
        chunks = list(day.chunks())
        assert len(chunks) == -(-len(whole.raw) // 7)
        streamed = pd.concat([chunk.raw for chunk in chunks])
        assert streamed["prediction_id"].dropna().map(type).eq(str).all()
        expected = whole.raw.astype({"scored_at": streamed["scored_at"].dtype})
        pd.testing.assert_frame_equal(streamed, expected, obj=model)
        assert day.rows_without_time == whole.rows_without_time
        if model == "loan_approval":
            assert "0042" in set(streamed["prediction_id"])


def test_nul_bytes_quarantine_their_rows_not_the_day(engine, world):
    raw, _, tmp_path = world
    day_file = tmp_path / "data" / "job_screening" / "predictions" / f"{DAY}.parquet"
    day = pd.read_parquet(day_file)
    cohort = next(iter(raw["models"]["job_screening"]["cohorts"]["attributes"]))
    category = raw["models"]["job_screening"]["features"]["categorical"][0]
    day.loc[day.index[0], cohort] = "wo\x00man"
    day.loc[day.index[1], category] = "bad\x00value"
    day.to_parquet(day_file, index=False)
    config = configure(tmp_path, raw, chunk_rows=40)

    result = build_labeled_predictions(engine, config, "job_screening", DAY, AUDIT)

    assert result.rows_read == len(day) == result.rows_quarantined + result.rows_written
    tables = snapshot(engine, "job_screening")
    reasons = tables["quarantined_rows"].reason
    assert reasons.str.contains(f"{category} holds a NUL byte", regex=False).sum() == 1
    assert reasons.str.contains(f"{cohort} holds a NUL byte", regex=False).sum() == 1
    assert reasons.str.contains(r"value 'wo\x00man' not allowed", regex=False).sum() == 1
    assert len(tables["labeled_predictions"]) == result.rows_written > 0
