"""Typed storage of labeled predictions (sql/012): values round-trip through binary COPY,
the labeled_predictions view rebuilds the JSON analysts query, reads follow each day's
layout, and rows written as JSON before the migration move over intact."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import psycopg2
import pyarrow as pa
import pytest
import sqlalchemy as sa

from monitoring_pipeline.storage import prediction_ids
from monitoring_pipeline.storage.database import create_engine, recreate_database, with_database
from monitoring_pipeline.storage.ingestion import ANALYZE_AFTER_ROWS, refresh_row_statistics
from monitoring_pipeline.storage.labeled_rows import (
    JSONB_COLUMNS,
    LAYOUTS_TABLE,
    ROWS_TABLE,
    labeled_rows,
    layout_table,
    stored_feature_values,
    stored_values,
)
from monitoring_pipeline.storage.migrations import apply_migrations, sql_directory
from monitoring_pipeline.storage.reads import iter_feature_values, iter_window_feature_values
from monitoring_pipeline.storage.writes import (
    Audit,
    TableRows,
    partition_writer,
    replace_partitions,
)
from monitoring_pipeline_tests.helpers.databases import partitions_of

DAY = date(2026, 10, 1)
AUDIT = Audit(run_id="run-1", produced_at=datetime(2026, 10, 2, 8, 30, tzinfo=UTC))


def _frame(n: int, day: date = DAY, **columns) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "partition_date": day,
            "model_name": "m",
            "prediction_id": [f"{day}-p{i}" for i in range(n)],
            "scored_at": pd.Timestamp(day, tz="UTC") + pd.to_timedelta(np.arange(n), unit="s"),
            "model_version": "v1",
            "score": np.linspace(0.1, 0.9, n),
            "decision": np.ones(n),
            "label": [1.0, np.nan] * (n // 2) + [0.0] * (n % 2),
            "first_labelled_at": pd.NaT,
            "labelled_at": pd.NaT,
            "label_lag_hours": np.nan,
            "label_revisions": 0,
            **columns,
        }
    )


def _write(engine, frame: pd.DataFrame, day: date, **layout) -> None:
    with partition_writer(
        engine,
        model_name="m",
        partition_date=day,
        tables=[ROWS_TABLE, LAYOUTS_TABLE],
        audit=AUDIT,
    ) as writer:
        writer.write_arrow(ROWS_TABLE, labeled_rows(frame, **layout), JSONB_COLUMNS)
        writer.write_arrow(LAYOUTS_TABLE, layout_table(day, "m", **layout))


def _view(engine, day: date = DAY) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql_query(
            sa.text(
                "SELECT * FROM monitoring.labeled_predictions "
                "WHERE model_name = 'm' AND partition_date = :day ORDER BY prediction_id"
            ),
            conn,
            params={"day": day},
        )


LAYOUT = {
    "cohort_attributes": ["sex"],
    "numeric_features": ["x", "big"],
    "categorical_features": ["c"],
}


def test_values_round_trip_and_the_view_rebuilds_the_json(engine):
    frame = _frame(
        6,
        sex=["female", "male", None, "female", "male", "female"],
        x=pd.array([3, "12.5", "abc", None, " 7 ", True], dtype=object),
        big=[0.1 + 0.2, np.inf, np.nan, 85300.0, -1e-7, 1e20],
        c=pd.array(["a", 5, None, 2.5, False, ""], dtype=object),
    )
    _write(engine, frame, DAY, **LAYOUT)
    view = _view(engine)
    assert len(view) == 6
    assert view.cohorts.tolist() == [
        {"sex": "female"}, {"sex": "male"}, {"sex": None},
        {"sex": "female"}, {"sex": "male"}, {"sex": "female"},
    ]  # fmt: skip
    features = view.features.tolist()
    # Numbers (and number text) are numbers; words and booleans stay as they were written.
    assert [f["x"] for f in features] == [3, 12.5, "abc", None, 7, True]
    # Floats keep their exact value; non-finite and missing values are null.
    assert [f["big"] for f in features] == [0.1 + 0.2, None, None, 85300, -1e-7, 1e20]
    assert [f["c"] for f in features] == ["a", "5", None, "2.5", "false", ""]
    # Scalar columns keep their types and values.
    assert [None if pd.isna(v) else v for v in view.label] == [1, None, 1, None, 1, None]
    assert view.scored_at.iloc[5] == pd.Timestamp(DAY, tz="UTC") + pd.Timedelta(seconds=5)
    assert view.score.tolist() == pytest.approx(np.linspace(0.1, 0.9, 6).tolist(), abs=0)
    assert set(view.run_id) == {"run-1"}
    assert view.produced_at.iloc[0] == pd.Timestamp(AUDIT.produced_at)

    (chunk,) = iter_feature_values(
        engine, "m", DAY, numeric_features=["x", "big"], categorical_features=["c"],
        cohort_attributes=["sex"],
    )  # fmt: skip
    chunk = chunk.assign(id=view.prediction_id.to_numpy())  # rows come in write order
    assert [None if pd.isna(v) else v for v in chunk.x] == [3.0, 12.5, None, None, 7.0, None]
    assert chunk.big.tolist()[0] == 0.1 + 0.2 and chunk.big.isna().tolist()[1:3] == [True, True]
    assert [None if pd.isna(v) else v for v in chunk.c] == ["a", "5", None, "2.5", "false", ""]
    assert [None if pd.isna(v) else v for v in chunk.sex] == [
        "female", "male", None, "female", "male", "female",
    ]  # fmt: skip
    # What labeled_predictions counts as the rows are written is what is read back here.
    counted = stored_feature_values(
        labeled_rows(frame, **LAYOUT), LAYOUT, numeric_features=["big", "x"],
        categorical_features=["c"], cohort_attributes=["sex"],
    )  # fmt: skip
    read_back = chunk.drop(columns="id")[list(counted.columns)]
    pd.testing.assert_frame_equal(counted, read_back, check_dtype=False)
    with pytest.raises(ValueError, match="not 'score'"):
        next(iter_feature_values(engine, "m", DAY, numeric_features=["score"],
                                 categorical_features=[], cohort_attributes=[]))  # fmt: skip


def test_reads_follow_each_days_layout_when_the_config_changes(engine):
    """Day 1 stored x as numeric, day 2 (after a config change) as categorical, and day 2
    has a new feature y: a window read gives x as numbers on both days, y missing on day 1."""
    day2 = date(2026, 10, 2)
    _write(engine, _frame(2, x=[1.5, 2.0], sex=["a", "b"]), DAY,
           cohort_attributes=["sex"], numeric_features=["x"], categorical_features=[])  # fmt: skip
    _write(engine, _frame(2, day2, x=["3", "n/a"], y=[9.0, 8.0], sex=["b", "a"]), day2,
           cohort_attributes=["sex"], numeric_features=["y"], categorical_features=["x"])  # fmt: skip
    frames = list(
        iter_window_feature_values(
            engine, "m", (DAY, day2), numeric_features=["x", "y"], categorical_features=[],
            cohort_attributes=["sex"],
        )
    )  # fmt: skip
    values = pd.concat(frames).sort_values("score")
    assert sorted(values.x.dropna()) == [1.5, 2.0, 3.0] and values.x.isna().sum() == 1
    assert sorted(values.y.dropna()) == [8.0, 9.0] and values.y.isna().sum() == 2
    (as_text,) = iter_window_feature_values(
        engine, "m", (DAY, DAY), numeric_features=[], categorical_features=["x"]
    )
    assert sorted(as_text.x) == ["1.5", "2"]


def _migrated_before(pg_admin_url: str, tmp_path, name: str, first_left_out: str):
    """A fresh database ``name`` with the migrations of sql/ applied up to, not including,
    the one whose file name starts with ``first_left_out``."""
    recreate_database(pg_admin_url, name)
    engine = create_engine(with_database(pg_admin_url, name))
    before = tmp_path / "sql"
    before.mkdir()
    for path in sorted(sql_directory().glob("*.sql")):
        if path.name < first_left_out:
            shutil.copy(path, before / path.name)
    apply_migrations(engine, before)
    return engine


def test_rows_written_as_json_before_the_migration_move_over_intact(pg_admin_url, tmp_path):
    """Apply sql/ up to 011, write JSON rows the old way, then migrate: the view gives back
    the same objects and the reads the same values."""
    engine = _migrated_before(pg_admin_url, tmp_path, "migrate_labeled_rows", "012")
    rows = [
        ({"sex": "female", "region": "west"}, {"income": 52000, "ratio": 0.25, "purpose": "car"}),
        ({"sex": "male", "region": "east"}, {"income": None, "ratio": 1e-9, "purpose": None}),
        ({"sex": "male", "region": "east"}, {"income": 61000.5, "ratio": 3, "purpose": "home"}),
    ]
    with engine.begin() as conn:
        for i, (cohorts, features) in enumerate(rows):
            conn.execute(
                sa.text(
                    "INSERT INTO monitoring.labeled_predictions VALUES (:day, 'm', :id, "
                    "'2026-10-01T12:00Z', 'v1', 0.5, 1, NULL, NULL, NULL, NULL, 0, "
                    "CAST(:cohorts AS jsonb), CAST(:features AS jsonb), 'old-run', now())"
                ),
                {"day": DAY, "id": f"p{i}", "cohorts": json.dumps(cohorts),
                 "features": json.dumps(features)},
            )  # fmt: skip
    assert apply_migrations(engine)[0] == "012_store_labeled_predictions_typed.sql"
    view = _view(engine)
    assert view.cohorts.tolist() == [c for c, _ in rows]
    assert view.features.tolist() == [f for _, f in rows]
    with engine.connect() as conn:
        layout = conn.execute(
            sa.text(f"SELECT cohort_attributes, numeric_features, categorical_features "
                    f"FROM monitoring.{LAYOUTS_TABLE}")
        ).one()  # fmt: skip
    assert layout == (["region", "sex"], ["income", "ratio"], ["purpose"])
    (chunk,) = iter_feature_values(
        engine, "m", DAY, numeric_features=["income"], categorical_features=["purpose"],
        cohort_attributes=["region"],
    )  # fmt: skip
    assert chunk.income.tolist()[0] == 52000.0 and chunk.income.isna().sum() == 1
    assert sorted(chunk.purpose.dropna()) == ["car", "home"]
    engine.dispose()


def test_the_key_rejects_a_second_row_of_one_prediction_and_day(engine):
    """(model_name, partition_date, prediction_id) is unique: a writer that sends one id
    twice fails and the day keeps its previous rows (a re-run: its partition's key refuses
    the COPY) or stays unwritten (a new day: the key is built before the partition is
    attached); the same id on another day is fine."""

    def rows(n: int, day: date = DAY) -> pd.DataFrame:
        return _frame(n, day, sex="female", x=1.0, big=2.0, c="a")

    key = r'unique (constraint|index) "labeled_prediction_rows_\d'  # a day partition's key
    _write(engine, rows(3), DAY, **LAYOUT)
    doubled = rows(2).assign(prediction_id="same id")
    with pytest.raises(psycopg2.errors.UniqueViolation, match=key):
        _write(engine, doubled, DAY, **LAYOUT)
    assert _view(engine).prediction_id.tolist() == [f"{DAY}-p{i}" for i in range(3)]
    with (
        pytest.raises(sa.exc.IntegrityError, match=key),
        engine.begin() as conn,
    ):
        conn.execute(
            sa.text(
                "INSERT INTO monitoring.labeled_prediction_rows SELECT * FROM "
                "monitoring.labeled_prediction_rows WHERE prediction_id = :id"
            ),
            {"id": f"{DAY}-p0"},
        )
    new_day = date(2026, 10, 3)
    with pytest.raises(sa.exc.IntegrityError, match=key):  # ATTACH builds the key: refused
        _write(engine, doubled.assign(partition_date=new_day), new_day, **LAYOUT)
    assert _view(engine, new_day).empty and _partition_of(engine, new_day) is None
    next_day = date(2026, 10, 2)
    _write(engine, rows(1, next_day).assign(prediction_id=f"{DAY}-p0"), next_day, **LAYOUT)
    assert _view(engine, next_day).prediction_id.tolist() == [f"{DAY}-p0"]


def _partition_of(engine, day: date, model_name: str = "m") -> str | None:
    """The name of the attached partition of labeled_prediction_rows holding ``day``."""
    with engine.connect() as conn:
        name = conn.execute(
            sa.text("SELECT monitoring.day_partition_name(:table, :model, :day)"),
            {"table": ROWS_TABLE, "model": model_name, "day": day},
        ).scalar_one()
    attached = partitions_of(engine, f"monitoring.{ROWS_TABLE}")
    return name if f"monitoring_partitions.{name}" in attached else None


def test_rows_doubled_before_the_key_keep_the_newest_runs_copy(pg_admin_url, tmp_path):
    """A day stored twice by two concurrent runs before sql/014 (issue 14): the migration
    keeps one row per id, the newest run's, and then creates the key."""
    engine = _migrated_before(pg_admin_url, tmp_path, "migrate_doubled_rows", "014")
    older = Audit(run_id="run-older", produced_at=datetime(2026, 10, 2, 8, tzinfo=UTC))
    newer = Audit(run_id="run-newer", produced_at=datetime(2026, 10, 2, 9, tzinfo=UTC))
    frame = _frame(3)
    with engine.begin() as conn:  # what two unserialised runs left: both runs' rows
        for audit, label in ((older, 0.0), (newer, 1.0)):
            conn.execute(
                sa.text(
                    "INSERT INTO monitoring.labeled_prediction_rows (partition_date, model_name, "
                    "prediction_id, scored_at, model_version, score, decision, label, "
                    "label_revisions, cohort_values, numeric_features, categorical_features, "
                    "run_id, produced_at) VALUES (:day, 'm', :id, :scored_at, 'v1', 0.5, 1, "
                    ":label, 0, '{}', '{}', '{}', :run_id, :produced_at)"
                ),
                [
                    {
                        "day": DAY,
                        "id": prediction_id,
                        "scored_at": frame.scored_at.iloc[0].to_pydatetime(),
                        "label": label,
                        "run_id": audit.run_id,
                        "produced_at": audit.produced_at,
                    }
                    for prediction_id in frame.prediction_id
                ],
            )
    assert apply_migrations(engine)[0] == "014_add_labeled_prediction_rows_key.sql"
    with engine.connect() as conn:
        kept = conn.execute(
            sa.text(
                "SELECT prediction_id, label, run_id FROM monitoring.labeled_prediction_rows "
                "ORDER BY prediction_id"
            )
        ).all()
    assert [tuple(r) for r in kept] == [(f"{DAY}-p{i}", 1, "run-newer") for i in range(3)]
    engine.dispose()


def test_a_large_day_refreshes_the_planners_statistics_in_its_transaction(engine):
    """The planner must know a new day's rows before the next steps read them (autovacuum
    may analyze a new partition a minute later): ANALYZE of the day's partition inside the
    write transaction counts its own new rows, and the statistics commit with them."""
    day = date(2026, 10, 9)

    def analyzed_rows(conn, table: str) -> float:
        return conn.execute(
            sa.text("SELECT reltuples FROM pg_class WHERE oid = CAST(:table AS regclass)"),
            {"table": table},
        ).scalar_one()

    frame = _frame(400, day, sex="f", x=1.0, big=2.0, c="a")
    with partition_writer(
        engine, model_name="m", partition_date=day, tables=[ROWS_TABLE], audit=AUDIT
    ) as writer:
        writer.write_arrow(ROWS_TABLE, labeled_rows(frame, **LAYOUT), JSONB_COLUMNS)
        conn = writer.connection()
        partition = writer.partition_table(ROWS_TABLE)
        assert partition.startswith('"monitoring_partitions".') or partition.startswith(
            "monitoring_partitions."
        )
        assert not refresh_row_statistics(conn, ANALYZE_AFTER_ROWS - 1, partition)
        assert analyzed_rows(conn, partition) == -1  # never analyzed
        assert refresh_row_statistics(conn, ANALYZE_AFTER_ROWS, partition)
        assert analyzed_rows(conn, partition) == 400
    with engine.connect() as conn:  # committed with the rows, and the day's only partition
        plan = conn.execute(
            sa.text(
                "EXPLAIN (FORMAT JSON) SELECT * FROM monitoring.labeled_prediction_rows "
                "WHERE model_name = 'm' AND partition_date = :day"
            ),
            {"day": day},
        ).scalar_one()[0]["Plan"]
        assert plan["Plan Rows"] == pytest.approx(400, rel=0.05)
        assert plan["Relation Name"] == _partition_of(engine, day)


def test_stored_values_are_each_lists_element_however_the_lists_are_chunked():
    rng = np.random.default_rng(4)
    frame = _frame(300, sex=rng.choice(["f", "m", None], 300), age=rng.choice(["a", "b"], 300))
    rows = labeled_rows(
        frame, cohort_attributes=["sex", "age"], numeric_features=[], categorical_features=[]
    )
    pieces = pa.Table.from_batches(rows.to_batches(max_chunksize=70))  # several chunks
    for table, first in ((rows, 0), (pieces, 0), (pieces.slice(5, 200), 5)):
        values = stored_values(table, ["sex", "age"])
        for name in ("sex", "age"):
            written = frame[name].iloc[first : first + len(table)]
            assert values[name].isna().tolist() == written.isna().tolist()
            assert values[name].dropna().tolist() == written.dropna().tolist()
    # Lists of other lengths (not what labeled_rows writes) are read element by element.
    ragged = pa.table({
        "model_version": ["v1", "v1"], "score": [0.2, 0.9],
        "decision": pa.array([0, 1], pa.int16()), "label": pa.array([None, 1], pa.int16()),
        "cohort_values": [["f", "30"], ["m", "40", "extra"]],
    })  # fmt: skip
    assert stored_values(ragged, ["sex", "age"])[["sex", "age"]].to_numpy().tolist() == [
        ["f", "30"], ["m", "40"],
    ]  # fmt: skip


def test_rows_stored_before_partitioning_move_into_day_partitions(pg_admin_url, tmp_path):
    """sql/038: the rows of every (model, day) written before move into a partition of their
    own, the view gives back the same rows, and a re-run of a moved day replaces it whole
    (TRUNCATE of its partition, no dead rows left to vacuum)."""
    engine = _migrated_before(pg_admin_url, tmp_path, "migrate_day_partitions", "038")
    days = [DAY, date(2026, 10, 2)]
    for day in days:
        _write(engine, _frame(5, day, sex="f", x=1.5, big=2.0, c="a"), day, **LAYOUT)
    before = {day: _view(engine, day) for day in days}
    assert apply_migrations(engine) == ["038_partition_labeled_prediction_rows_by_day.sql"]
    for day in days:
        pd.testing.assert_frame_equal(_view(engine, day), before[day])
        assert _partition_of(engine, day) is not None
    assert len(partitions_of(engine, f"monitoring.{ROWS_TABLE}")) == 2

    def storage_file(day: date) -> int:
        with engine.connect() as conn:
            return conn.execute(
                sa.text("SELECT relfilenode FROM pg_class WHERE relname = :name"),
                {"name": _partition_of(engine, day)},
            ).scalar_one()

    first_file = storage_file(DAY)
    _write(engine, _frame(3, DAY, sex="m", x=0.5, big=1.0, c="b"), DAY, **LAYOUT)
    rerun = _view(engine, DAY)
    assert rerun.prediction_id.tolist() == [f"{DAY}-p{i}" for i in range(3)]
    assert rerun.cohorts.tolist() == [{"sex": "m"}] * 3
    pd.testing.assert_frame_equal(_view(engine, days[1]), before[days[1]])
    assert storage_file(DAY) != first_file  # swapped by TRUNCATE, not rows deleted
    engine.dispose()


def test_any_table_partitioned_by_day_is_written_through_its_day_partitions(engine):
    """storage.day_partitions is generic: a table of schema monitoring partitioned by
    RANGE (model_name, partition_date) gets a partition per day from partition_writer, by
    CSV COPY as well as binary; a second write of the day replaces the first."""
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE TABLE monitoring.day_partitioned_probe (model_name text NOT NULL, "
                "partition_date date NOT NULL, value integer, run_id text NOT NULL, "
                "produced_at timestamptz NOT NULL) PARTITION BY RANGE (model_name, partition_date)"
            )
        )
    try:
        for values in ([1, 2, 3], [7]):
            frame = pd.DataFrame({"model_name": "m", "partition_date": DAY, "value": values})
            written = replace_partitions(
                engine,
                model_name="m",
                partition_date=DAY,
                rows=[TableRows("day_partitioned_probe", frame)],
                audit=AUDIT,
            )
            assert written == {"day_partitioned_probe": len(values)}
            with engine.connect() as conn:
                stored = conn.execute(
                    sa.text("SELECT value FROM monitoring.day_partitioned_probe ORDER BY value")
                ).scalars()
                assert list(stored) == values
            assert len(partitions_of(engine, "monitoring.day_partitioned_probe")) == 1
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("DROP TABLE monitoring.day_partitioned_probe"))


@pytest.mark.parametrize("ids_per_statement", [2, 200_000])
def test_ids_of_the_day_are_found_on_other_days_in_pieces(engine, monkeypatch, ids_per_statement):
    """storage.prediction_ids asks the other days of the model only, however many ids it
    sends per statement."""
    monkeypatch.setattr(prediction_ids, "IDS_PER_STATEMENT", ids_per_statement)
    day, other = date(2026, 10, 20), date(2026, 10, 21)
    _write(engine, _frame(5, day, sex="f", x=1.0, big=2.0, c="a"), day, **LAYOUT)
    shared = [f"{day}-p1", f"{day}-p3"]
    other_rows = _frame(3, other, sex="f", x=1.0, big=2.0, c="a").assign(
        prediction_id=[*shared, "only-other"]
    )
    _write(engine, other_rows, other, **LAYOUT)
    asked = pd.Series([f"{day}-p{i}" for i in range(5)] + [None, "never"], dtype="string")
    with engine.connect() as conn:
        found = prediction_ids.ids_stored_on_other_days(conn, "m", day, asked)
        assert sorted(found) == shared
        # From the other day's side, every one of its ids but its own is on day.
        assert (
            sorted(
                prediction_ids.ids_stored_on_other_days(conn, "m", other, other_rows.prediction_id)
            )
            == shared
        )
        labels = pd.Series(
            [f"{day}-p0", "only-other", "only-other", None, "nobody"], dtype="string"
        )
        unmatched = prediction_ids.label_ids_unmatched_on_other_days(conn, "m", other, labels)
    # Asked for the other day: p0 is stored on day, so matched; the rest stay.
    assert unmatched.tolist() == ["only-other", "only-other", pd.NA, "nobody"]


def test_a_table_in_the_way_of_a_day_partition_is_refused_clearly(engine):
    """A table of the day partition's name that is not attached to the parent (made by
    hand) is neither written into nor replaced: the write fails, saying what to do."""
    day = date(2026, 10, 25)
    with engine.begin() as conn:
        name = conn.execute(
            sa.text("SELECT monitoring.day_partition_name(:table, 'm', :day)"),
            {"table": ROWS_TABLE, "day": day},
        ).scalar_one()
        conn.execute(sa.text(f"CREATE TABLE monitoring_partitions.{name} (note text)"))
    try:
        with pytest.raises(RuntimeError, match="exists but is not a partition"):
            _write(engine, _frame(2, day, sex="f", x=1.0, big=2.0, c="a"), day, **LAYOUT)
        assert _view(engine, day).empty
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE monitoring_partitions.{name}"))
