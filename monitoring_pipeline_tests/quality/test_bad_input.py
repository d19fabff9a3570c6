"""Every class of bad input, one case each: the row is quarantined with a reason, or the day
fails with one clear error; and ``rows_read = rows_quarantined + rows_written`` always.

Table-driven: each case is a tiny day (six predictions, a few labels) put in a real source
(a Postgres table, a CSV or a Parquet file), run through the real ``labeled_predictions``
step, and judged on the quarantine reasons, the counts and ``ingestion_stats``. All cases
share one database (one model name per case). README, "Bad input: what happens", lists
the same cases: a test below checks that every row of that table names a test here.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
import yaml

from monitoring_pipeline.config import load_config
from monitoring_pipeline.core.validation import SchemaError
from monitoring_pipeline.demo.publish import write_postgres_table
from monitoring_pipeline.pipeline import labeled_predictions
from monitoring_pipeline.pipeline.labeled_predictions import build_labeled_predictions
from monitoring_pipeline.storage.database import create_engine, with_database
from monitoring_pipeline.storage.sources import SourceUnavailableError
from monitoring_pipeline.storage.writes import Audit
from monitoring_pipeline_tests.helpers.databases import create_database_from_template
from monitoring_pipeline_tests.helpers.day_statistics import assert_counted_as_stored

DAY = date(2026, 10, 3)
AUDIT = Audit(run_id="bad-input", produced_at=datetime(2026, 10, 20, tzinfo=UTC))
README = Path(__file__).resolve().parents[2] / "README.md"
SCHEMA = "demo_source"  # write_postgres_table's schema


def at(hour: float, day: date = DAY) -> pd.Timestamp:
    return pd.Timestamp(datetime(day.year, day.month, day.day, tzinfo=UTC)) + pd.Timedelta(
        hours=hour
    )


def good_predictions(day: date = DAY, prefix: str = "p") -> pd.DataFrame:
    """Six valid predictions of ``day``."""
    return pd.DataFrame(
        {
            "prediction_id": [f"{prefix}{i}" for i in range(1, 7)],
            "scored_at": [at(h, day) for h in (1, 3, 5, 8, 13, 21)],
            "model_version": "v1",
            "score": [0.1, 0.4, 0.55, 0.7, 0.9, 0.2],
            "decision": [0, 0, 1, 1, 1, 0],
            "sex": ["f", "m", "f", "m", "f", "m"],
            "income": [10.0, 20.5, 31.0, 42.0, 15.5, 27.0],
            "employment": ["salaried", "self", "salaried", "none", "self", "salaried"],
        }
    )


def good_labels(day: date = DAY, prefix: str = "p") -> pd.DataFrame:
    """Labels for the first four predictions, delivered the next day."""
    return pd.DataFrame(
        {
            "prediction_id": [f"{prefix}{i}" for i in range(1, 5)],
            "label": [0, 1, 1, 0],
            "labelled_at": [at(30, day)] * 4,
        }
    )


Frame = Callable[[pd.DataFrame], pd.DataFrame]


def unchanged(frame: pd.DataFrame) -> pd.DataFrame:
    return frame


def set_value(row: int, column: str, value) -> Frame:
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        if frame[column].dtype.kind in "iuf" and not isinstance(value, int | float):
            frame[column] = frame[column].astype(object)
        frame.loc[row, column] = value
        return frame

    return change


def as_text(column: str, row: int, value: str) -> Frame:
    """``column`` as text, its ``row`` holding ``value`` (a source that stores any text)."""

    def change(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        frame[column] = frame[column].astype(str).astype(object)
        frame.loc[row, column] = value
        return frame

    return change


def then(*changes: Frame) -> Frame:
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        for step in changes:
            frame = step(frame)
        return frame

    return change


@dataclass(frozen=True)
class Case:
    """One bad input and its outcome.

    ``quarantined``: reason -> prediction rows quarantined with it (substring of the row's
    reason); ``label_reasons`` the same for label rows; ``error``: (exception type, regex of
    its message) when the day must fail instead. ``check`` runs extra assertions on the
    result and the case's stored rows.
    """

    name: str
    source: str  # table | csv | parquet
    predictions: Frame = unchanged
    labels: Frame = unchanged
    raw_file: Callable[[Path], None] | None = None  # rewrites the day's prediction file
    quarantined: dict[str, int] = field(default_factory=dict)
    label_reasons: dict[str, int] = field(default_factory=dict)
    written: int | None = None
    error: tuple[type[Exception], str] | None = None
    check: Callable[..., None] | None = None
    earlier_day: bool = False  # also store a day before, with the same ids
    cohorts: dict[str, list[str]] | None = None  # allowed values, if not sex: f, m


@dataclass
class World:
    engine: sa.Engine
    directory: Path


@pytest.fixture(scope="module")
def world(pg_admin_url, tmp_path_factory):
    name = f"bad_input_{os.getpid()}"
    create_database_from_template(pg_admin_url, name)
    # Sessions of this database print times in UTC+05:45: table sources must read the
    # instants, whatever the server's zone (COPY writes times with the session's offset).
    admin = sa.create_engine(pg_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"ALTER DATABASE \"{name}\" SET timezone TO 'Asia/Kathmandu'"))
    admin.dispose()
    engine = create_engine(with_database(pg_admin_url, name))
    yield World(engine, tmp_path_factory.mktemp("bad_input"))
    engine.dispose()


def publish(world: World, case: Case, day: date, predictions, labels) -> dict:
    """Put the case's logs where its source says; returns the model's config entry."""
    folder = world.directory / case.name
    if case.source == "table":
        write_postgres_table(world.engine, f"{case.name}_predictions", predictions)
        write_postgres_table(world.engine, f"{case.name}_labels", labels)
        sources = {
            "predictions": {"kind": "postgres_table", "table": f"{SCHEMA}.{case.name}_predictions"},
            "labels": {"kind": "postgres_table", "table": f"{SCHEMA}.{case.name}_labels"},
        }
    else:
        suffix = case.source
        # Label files are dated by delivery (a label with no usable time: the next day's).
        times = labels.get("labelled_at", pd.Series(pd.NaT, index=labels.index))
        delivered = pd.to_datetime(times, utc=True, errors="coerce")
        label_days = delivered.dt.date.fillna(day + timedelta(days=1))
        files = [(folder / "predictions" / f"{day}.{suffix}", predictions)]
        files += [
            (folder / "labels" / f"{label_day}.{suffix}", rows.reset_index(drop=True))
            for label_day, rows in labels.groupby(label_days)
        ]
        for path, frame in files:
            path.parent.mkdir(parents=True, exist_ok=True)
            if suffix == "csv":
                frame.to_csv(path, index=False)
            else:
                frame.to_parquet(path, index=False)
        sources = {
            kind: {"kind": "files", "path": str(folder / kind / f"{{date}}.{suffix}")}
            for kind in ("predictions", "labels")
        }
    return {
        **sources,
        "cohorts": {"attributes": case.cohorts or {"sex": ["f", "m"]}},
        "features": {"numeric": ["income"], "categorical": ["employment"]},
        "quality": {"max_malformed_share": 0.5},
    }


def configure(world: World, case: Case, model: dict):
    raw = {"partitions_start": "2026-09-01", "models": {case.name: model}}
    path = world.directory / f"{case.name}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_config(path)


def stored(engine: sa.Engine, table: str, model: str, day: date = DAY) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql_query(
            sa.text(
                f"SELECT * FROM monitoring.{table} WHERE model_name = :m AND partition_date = :d"
            ),
            conn,
            params={"m": model, "d": day},
        )


def run_case(world: World, case: Case):
    return run_case_with_config(world, case)[0]


def run_case_with_config(world: World, case: Case):
    """The case's day through labeled_predictions: its result and the config it ran with."""
    predictions = case.predictions(good_predictions())
    labels = case.labels(good_labels())
    if case.earlier_day:
        # The same ids stored on the day before (its own rows and labels).
        earlier = DAY - timedelta(days=1)
        before = good_predictions(earlier)
        before_labels = good_labels(earlier).iloc[:0]  # the day's labels serve both days
        if case.source == "table":
            predictions = pd.concat([before, predictions], ignore_index=True)
            labels = pd.concat([before_labels, labels], ignore_index=True)
        else:
            publish(world, case, earlier, before, before_labels)
    model = publish(world, case, DAY, predictions, labels)
    if case.raw_file is not None:
        case.raw_file(Path(model["predictions"]["path"].replace("{date}", DAY.isoformat())))
    config = configure(world, case, model)
    if case.earlier_day:
        build_labeled_predictions(world.engine, config, case.name, DAY - timedelta(days=1), AUDIT)
    return build_labeled_predictions(world.engine, config, case.name, DAY, AUDIT), config


def reason_counts(quarantine: pd.DataFrame, source: str) -> pd.Series:
    rows = quarantine[quarantine["source"] == source]
    return rows["reason"].str.split("; ").explode().value_counts()


def count_with(reasons: pd.Series, text: str) -> int:
    return int(reasons[[text in reason for reason in reasons.index]].sum())


# --- the extra assertions of some cases ----------------------------------------------------


def extra_column_is_ignored(world, result, case):
    rows = stored(world.engine, "labeled_predictions", case.name)
    assert "debug_blob" not in rows.columns and len(rows) == 6


def non_finite_feature_is_stored_missing(world, result, case):
    rows = stored(world.engine, "labeled_predictions", case.name).set_index("prediction_id")
    assert rows.loc["p2", "features"]["income"] is None
    assert rows.loc["p3", "features"]["income"] == 31.0


def long_and_unicode_values_round_trip(world, result, case):
    rows = stored(world.engine, "labeled_predictions", case.name).set_index("prediction_id")
    assert rows.loc["p1", "features"]["employment"] == "x" * 100_000
    assert rows.loc["ид-2 🚀", "features"]["employment"] == "naïve 🚀 ünïcödé"
    reason = stored(world.engine, "quarantined_rows", case.name)["reason"].iloc[0]
    assert len(reason) < 300, reason[:300]  # a long value is quoted shortened


def id_keeps_its_zeros(world, result, case):
    rows = stored(world.engine, "labeled_predictions", case.name).set_index("prediction_id")
    assert {"007", "0007"} <= set(rows.index)
    assert rows.loc["007", "label"] == 0 and rows.loc["0007", "label"] == 1


def ids_on_other_days_are_counted(world, result, case):
    stats = stored(world.engine, "ingestion_stats", case.name).iloc[0]
    assert stats.ids_on_other_days == 6
    assert result.ids_on_other_days == 6
    # A re-run of the day does not count the day's own earlier rows, and its write
    # transaction locks no other day's partition (the other days were asked before it on
    # a connection of their own): two re-runs of two days of a model never deadlock.
    config = load_config(world.directory / f"{case.name}.yaml")
    locked: list[str] = []
    refresh = labeled_predictions.refresh_row_statistics

    def refresh_noting_locks(conn, rows_written, day_table):
        locked.extend(
            conn.execute(
                sa.text(
                    "SELECT c.relname FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE l.pid = pg_backend_pid() AND n.nspname = 'monitoring_partitions' "
                    "AND c.relkind = 'r'"
                )
            ).scalars()
        )
        return refresh(conn, rows_written, day_table)

    with mock.patch.object(labeled_predictions, "refresh_row_statistics", refresh_noting_locks):
        rerun = build_labeled_predictions(world.engine, config, case.name, DAY, AUDIT)
    assert rerun.ids_on_other_days == 6
    with world.engine.connect() as conn:
        own = conn.execute(
            sa.text("SELECT monitoring.day_partition_name('labeled_prediction_rows', :m, :d)"),
            {"m": case.name, "d": DAY},
        ).scalar_one()
    assert set(locked) == {own}
    assert (result.rows_replaced, rerun.rows_replaced) == (False, True)
    assert rerun.rows_table == result.rows_table == f"monitoring_partitions.{own}"
    # Both days keep their rows: which copy is the right one is not knowable here.
    for day in (DAY, DAY - timedelta(days=1)):
        assert len(stored(world.engine, "labeled_predictions", case.name, day)) == 6


def sex_coded(frame: pd.DataFrame) -> pd.DataFrame:
    """The cohort as integer codes, one missing: read back, the column is floats (1.0)."""
    return frame.assign(sex=pd.array([1, 2, 1, None, 1, 2], dtype="Int64"))


def codes_are_stored_as_written(world, result, case):
    rows = stored(world.engine, "labeled_predictions", case.name).set_index("prediction_id")
    assert rows["cohorts"].map(lambda c: c["sex"]).to_dict() == {
        "p1": "1", "p2": "2", "p3": "1", "p5": "1", "p6": "2",
    }  # fmt: skip
    quality = stored(world.engine, "quality_results", case.name).set_index("expectation")
    in_set = quality.loc["expect_column_values_to_be_in_set"]
    in_set = in_set[in_set["column_name"] == "sex"].iloc[0]
    assert (in_set.unexpected_count, in_set.element_count) == (0, 6)  # the null: not-null


def orphans_are_counted(world, result, case):
    stats = stored(world.engine, "ingestion_stats", case.name).iloc[0]
    assert stats.labels_orphaned == result.labels_orphaned == 2


def blank_and_missing_label_ids_are_orphans(world, result, case):
    # ghost1, ghost2, "  " and a missing id match no prediction; " p1 " cleaned is p1.
    stats = stored(world.engine, "ingestion_stats", case.name).iloc[0]
    assert stats.labels_orphaned == result.labels_orphaned == 4


def times_are_utc(world, result, case):
    rows = stored(world.engine, "labeled_predictions", case.name).set_index("prediction_id")
    assert rows.loc["p2", "scored_at"] == at(3)  # given as 08:00+05:00


def edge_times_stay_on_their_utc_day(world, result, case):
    rows = stored(world.engine, "labeled_predictions", case.name).set_index("prediction_id")
    assert rows.loc["p1", "scored_at"] == at(0.25) and rows.loc["p6", "scored_at"] == at(23.75)
    assert rows.loc["p1", "labelled_at"] == at(30)


def no_labels_yet(world, result, case):
    assert (result.labels_read, result.labelled, result.labels_orphaned) == (0, 0, 0)


def empty_day(world, result, case):
    assert result.rows_read == 0 and not result.checks["row_count"]["passed"]


def nul_and_invalid_bytes_spelled_out(world, result, case):
    quarantine = stored(world.engine, "quarantined_rows", case.name)
    assert quarantine["row_data"].map(lambda row: "\\xff" in str(row)).sum() == 1


def truncated_line_is_quarantined(world, result, case):
    quarantine = stored(world.engine, "quarantined_rows", case.name)
    assert quarantine["row_data"].iloc[0]["source_line"].startswith("p6,2026-10-03")


# --- file rewrites ---------------------------------------------------------------------------


def cut_mid_line(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 40])


def cut_parquet(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def with_invalid_utf8(path: Path) -> None:
    path.write_bytes(path.read_bytes().replace(b"self", b"s\xffelf", 1))


def empty_file(path: Path) -> None:
    path.write_bytes(b"")


def remove_file(path: Path) -> None:
    path.unlink()


def header_only(path: Path) -> None:
    pd.read_parquet(path).head(0).to_parquet(path, index=False)


def header_only_from_empty_frame(path: Path) -> None:
    # What a logger writing an empty day with no schema of its own produces.
    columns = pd.read_parquet(path).columns
    pd.DataFrame({c: pd.Series([], dtype=object) for c in columns}).to_parquet(path, index=False)


def naive_and_offset_times(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame["scored_at"] = [
        "2026-10-03 01:00:00",  # no zone: UTC
        "2026-10-03T08:00:00+05:00",  # 03:00 UTC
        "2026-10-03T02:00:00+05:00",  # 21:00 UTC the day before
        "2026-10-03T23:30:00-01:00",  # 00:30 UTC the day after
        "2026-10-03T13:00:00Z",
        "2026-10-03T21:00:00.123456+00:00",
    ]
    return frame


def near_midnight(frame: pd.DataFrame) -> pd.DataFrame:
    """Two predictions 15 minutes from the day's UTC edges (another day in UTC+05:45)."""
    frame = frame.copy()
    frame.loc[0, "scored_at"] = at(0.25)
    frame.loc[5, "scored_at"] = at(23.75)
    return frame


def naive_times(frame: pd.DataFrame) -> pd.DataFrame:
    """A `timestamp without time zone` column: its values are taken as UTC."""
    return near_midnight(frame).assign(scored_at=lambda f: f["scored_at"].dt.tz_localize(None))


def duplicate_rows(frame: pd.DataFrame) -> pd.DataFrame:
    exact = frame.iloc[[0]]
    conflicting = frame.iloc[[1]].assign(score=0.99)
    return pd.concat([frame, exact, conflicting], ignore_index=True)


def zero_padded_ids(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(prediction_id=["007", "0007", "7", "p4", "p5", "p6"])


def zero_padded_labels(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(prediction_id=["007", "0007", "7", "p4"], label=[0, 1, 1, 0])


def with_orphans(frame: pd.DataFrame) -> pd.DataFrame:
    """Two labels delivered on the day for ids no prediction has."""
    ghosts = frame.iloc[:2].assign(prediction_id=["ghost1", "ghost2"], labelled_at=at(22))
    return pd.concat([frame, ghosts], ignore_index=True)


def with_blank_orphans(frame: pd.DataFrame) -> pd.DataFrame:
    """Labels delivered on the day: two for ids no prediction has, one with a blank id,
    one without an id, and one with blanks around p1's id (cleaned, it is p1)."""
    extra = frame.iloc[[0, 1, 2, 3, 0]].assign(
        prediction_id=["ghost1", "ghost2", "  ", None, "\u00a0p1 "], labelled_at=at(22)
    )
    return pd.concat([frame, extra], ignore_index=True)


def long_and_unicode(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame.loc[0, "employment"] = "x" * 100_000
    frame.loc[1, "prediction_id"] = "ид-2 🚀"
    frame.loc[1, "employment"] = "naïve 🚀 ünïcödé"
    frame.loc[2, "sex"] = "f" * 50_000
    return frame


def long_id(frame: pd.DataFrame) -> pd.DataFrame:
    # Random hex: PostgreSQL compresses a repetitive value below its index-row limit.
    noise = np.random.default_rng(1).integers(0, 16, 10_000)
    long = "".join("0123456789abcdef"[d] for d in noise)
    return frame.assign(prediction_id=[long, *frame["prediction_id"].iloc[1:]])


def empty(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.iloc[:0]


CASES = [
    Case("missing_column_table", "table", predictions=lambda f: f.drop(columns="score"),
         error=(SchemaError, r"predictions source demo_source\.missing_column_table_predictions lacks column\(s\) \['score'\]")),
    Case("missing_column_csv", "csv", predictions=lambda f: f.drop(columns="sex"),
         error=(SchemaError, r"lacks column\(s\) \['sex'\]")),
    Case("missing_label_column", "parquet", labels=lambda f: f.drop(columns="labelled_at"),
         error=(SchemaError, r"labels source .* lacks column\(s\) \['labelled_at'\]")),
    Case("renamed_column", "parquet", predictions=lambda f: f.rename(columns={"score": "probability"}),
         error=(SchemaError, r"lacks column\(s\) \['score'\].*unmapped column\(s\) \['probability'\]")),
    Case("extra_column", "parquet", predictions=lambda f: f.assign(debug_blob="x"), written=6,
         check=extra_column_is_ignored),
    Case("score_text_table", "table", predictions=as_text("score", 1, "high"),
         quarantined={"score missing or not a number": 1}, written=5),
    Case("score_text_csv", "csv", predictions=set_value(1, "score", "high"),
         quarantined={"score missing or not a number": 1}, written=5),
    Case("decision_text", "table", predictions=as_text("decision", 2, "yes"),
         quarantined={"decision not 0 or 1": 1}, written=5),
    Case("scored_at_text", "csv", predictions=as_text("scored_at", 3, "yesterday"),
         quarantined={"scored_at missing or not a time": 1}, written=5),
    Case("label_text", "csv", labels=as_text("label", 0, "yes"),
         label_reasons={"label not 0 or 1": 1}, written=6),
    Case("labelled_at_text", "table", labels=as_text("labelled_at", 0, "soon"),
         label_reasons={"labelled_at missing or not a time": 1}, written=6),
    Case("score_nan", "parquet", predictions=set_value(0, "score", np.nan),
         quarantined={"score missing or not a number": 1}, written=5),
    Case("score_inf", "table", predictions=then(set_value(0, "score", np.inf), set_value(1, "score", -np.inf)),
         quarantined={"score outside [0, 1]": 2}, written=4),
    Case("feature_nan_inf", "parquet", predictions=then(set_value(1, "income", np.inf), set_value(0, "income", np.nan)),
         written=6, check=non_finite_feature_is_stored_missing),
    Case("score_out_of_range", "csv", predictions=then(set_value(0, "score", 1.5), set_value(1, "score", -0.1)),
         quarantined={"score outside [0, 1]": 2}, written=4),
    Case("cohort_null", "table", predictions=set_value(0, "sex", None),
         quarantined={"sex missing": 1}, written=5),
    Case("cohort_numeric_codes_table", "table", predictions=sex_coded, cohorts={"sex": ["1", "2"]},
         quarantined={"sex missing": 1}, written=5, check=codes_are_stored_as_written),
    Case("cohort_numeric_codes_csv", "csv", predictions=sex_coded, cohorts={"sex": ["1", "2"]},
         quarantined={"sex missing": 1}, written=5, check=codes_are_stored_as_written),
    Case("cohort_unseen", "parquet", predictions=set_value(0, "sex", "x"),
         quarantined={"sex value 'x' not allowed": 1}, written=5),
    Case("long_and_unicode_values", "table", predictions=long_and_unicode,
         quarantined={"sex value 'fffff": 1}, written=5, check=long_and_unicode_values_round_trip),
    Case("long_id", "parquet", predictions=long_id,
         quarantined={"prediction_id longer than 500 characters": 1}, written=5),
    Case("duplicate_ids_in_day", "csv", predictions=duplicate_rows,
         quarantined={"duplicate prediction_id (exact copy of an earlier row)": 1,
                      "duplicate prediction_id with conflicting content": 2}, written=5),
    Case("ids_on_other_days_table", "table", earlier_day=True, written=6,
         check=ids_on_other_days_are_counted),
    Case("ids_on_other_days_files", "parquet", earlier_day=True, written=6,
         check=ids_on_other_days_are_counted),
    Case("orphan_labels_files", "parquet", labels=with_orphans, written=6, check=orphans_are_counted),
    Case("orphan_labels_table", "table", labels=with_orphans, written=6, check=orphans_are_counted),
    Case("blank_orphan_labels_files", "parquet", labels=with_blank_orphans, written=6,
         check=blank_and_missing_label_ids_are_orphans),
    Case("blank_orphan_labels_table", "table", labels=with_blank_orphans, written=6,
         check=blank_and_missing_label_ids_are_orphans),
    Case("labelled_before_scored", "csv", labels=set_value(1, "labelled_at", at(2)),
         label_reasons={"labelled before the prediction was scored": 1}, written=6),
    Case("odd_time_zones", "csv", predictions=naive_and_offset_times,
         quarantined={"scored_at outside the partition day": 2}, written=4, check=times_are_utc),
    Case("odd_session_time_zone_table", "table", predictions=near_midnight, written=6,
         check=edge_times_stay_on_their_utc_day),
    Case("naive_times_table", "table", predictions=naive_times, written=6,
         check=edge_times_stay_on_their_utc_day),
    Case("no_labels_yet", "parquet", labels=empty, written=6, check=no_labels_yet),
    Case("empty_day_table", "table", predictions=empty, written=0, check=empty_day),
    Case("empty_day_csv_header_only", "csv", predictions=empty, written=0, check=empty_day),
    Case("empty_csv_file", "csv", raw_file=empty_file,
         error=(SourceUnavailableError, r"cannot read .*2026-10-03\.csv: Empty CSV file")),
    Case("header_only_parquet", "parquet", raw_file=header_only, written=0, check=empty_day),
    Case("header_only_parquet_untyped", "parquet", raw_file=header_only_from_empty_frame,
         written=0, check=empty_day),
    Case("missing_file", "parquet", raw_file=remove_file,
         error=(SourceUnavailableError, r"no file for this day: .*2026-10-03\.parquet")),
    Case("truncated_csv", "csv", raw_file=cut_mid_line,
         quarantined={"CSV row with 2 field(s) where the header has 8": 1}, written=5,
         check=truncated_line_is_quarantined),
    Case("truncated_parquet", "parquet", raw_file=cut_parquet,
         error=(SourceUnavailableError, r"cannot read .*2026-10-03\.parquet: ")),
    Case("nul_byte_csv", "csv", predictions=set_value(0, "employment", "a\x00b"),
         quarantined={"employment holds a NUL byte": 1}, written=5),
    Case("invalid_utf8_csv", "csv", raw_file=with_invalid_utf8,
         quarantined={"employment holds bytes that are not UTF-8": 1}, written=5,
         check=nul_and_invalid_bytes_spelled_out),
    Case("ids_with_leading_zeros", "csv", predictions=zero_padded_ids, labels=zero_padded_labels,
         written=6, check=id_keeps_its_zeros),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input(world, case: Case):
    if case.error is not None:
        error, message = case.error
        with pytest.raises(error, match=message):
            run_case(world, case)
        assert stored(world.engine, "ingestion_stats", case.name).empty  # nothing committed
        return
    result, config = run_case_with_config(world, case)
    stats = stored(world.engine, "ingestion_stats", case.name)
    assert len(stats) == 1
    row = stats.iloc[0]
    assert row.rows_read == row.rows_quarantined + row.rows_written
    assert (result.rows_read, result.rows_quarantined, result.rows_written) == (
        row.rows_read,
        row.rows_quarantined,
        row.rows_written,
    )
    if case.written is not None:
        assert row.rows_written == case.written
    quarantine = stored(world.engine, "quarantined_rows", case.name)
    assert (quarantine["source"] == "predictions").sum() == row.rows_quarantined
    assert (quarantine["source"] == "labels").sum() == row.labels_quarantined
    assert row.rows_quarantined == sum(case.quarantined.values()) or not case.quarantined
    predictions = reason_counts(quarantine, "predictions")
    for reason, rows in case.quarantined.items():
        assert count_with(predictions, reason) == rows, (reason, predictions.to_dict())
    labels = reason_counts(quarantine, "labels")
    for reason, rows in case.label_reasons.items():
        assert count_with(labels, reason) == rows, (reason, labels.to_dict())
    if not case.quarantined:
        assert row.rows_quarantined == 0, predictions.to_dict()
    if not case.label_reasons:
        assert row.labels_quarantined == 0, labels.to_dict()
    # The cohort statistics counted while writing are those of the rows stored, whatever
    # the input's oddities.
    assert_counted_as_stored(world.engine, config, case.name, DAY, case.name)
    if case.check is not None:
        case.check(world, result, case)


def readme_bad_input_rows() -> list[list[str]]:
    text = README.read_text()
    section = text.split("## Bad input: what happens", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in row.strip("|").split(" | ")] for row in rows[2:]]


def test_readme_table_names_a_test_for_every_class():
    rows = readme_bad_input_rows()
    assert len(rows) >= 25
    known = {f"test_bad_input[{case.name}]" for case in CASES}
    named = set()
    for cells in rows:
        tests = set(re.findall(r"test_bad_input\[[a-z0-9_]+\]", cells[-1]))
        assert tests, f"README row names no test: {cells}"
        assert tests <= known, f"README names unknown tests: {tests - known}"
        named |= tests
    assert named == known, f"cases missing from the README table: {known - named}"
