"""Join predictions with their newest ground-truth label (label backfill). Pure pandas (and
Arrow for looking up text): no SQL, no Dagster."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from monitoring_pipeline.core.value_text import is_text

__all__ = [
    "CrossDayTally",
    "LabelFigures",
    "LabelJoin",
    "is_in",
    "positions_in",
    "join_newest_labels",
    "known_by",
    "percentile_cont",
]

HOUR = pd.Timedelta(hours=1)


@dataclass(frozen=True)
class LabelJoin:
    """Predictions with label columns added, and how the labels were used.

    ``frame`` keeps every input prediction, labelled or not, in input order, with columns
    ``label`` (nullable Int64, newest label), ``first_labelled_at``, ``labelled_at``,
    ``label_lag_hours`` (scoring to first label) and ``label_revisions`` (label rows seen).
    """

    frame: pd.DataFrame
    labels_used: int
    labels_orphaned: int


def percentile_cont(values: np.ndarray, fraction: float) -> float | None:
    """PostgreSQL's ``percentile_cont(fraction)`` of ``values`` (no NaN), bit for bit: the
    order statistics at ``fraction * (n - 1)`` interpolated as ``lo + (hi - lo) * t``
    (numpy's linear method rounds differently when ``t >= 0.5``); None when empty.

    >>> percentile_cont(np.array([4.0, 1.0, 3.0, 2.0]), 0.5)
    2.5
    """
    n = len(values)
    if n == 0:
        return None
    position = fraction * (n - 1)
    first = int(np.floor(position))
    second = int(np.ceil(position))
    ordered = np.partition(values, [first, second])
    low, high = float(ordered[first]), float(ordered[second])
    proportion = position - first
    return low + (high - low) * proportion if second > first else low


@dataclass
class LabelFigures:
    """The label figures of a day's written rows (``label_status``'s, but for the count of
    rows), gathered chunk by chunk as the rows are written, so no step reads the day back
    to count them."""

    labelled: int = 0
    corrected: int = 0
    positives: int = 0
    _lags: list = field(default_factory=list)

    def add(self, written: pd.DataFrame) -> None:
        """Take written rows (``label``, ``label_revisions``, ``label_lag_hours``)."""
        label = written["label"]
        self.labelled += int(label.notna().sum())
        self.corrected += int((written["label_revisions"] > 1).sum())
        self.positives += int((label == 1).sum())
        lags = written["label_lag_hours"].to_numpy(dtype=np.float64, na_value=np.nan)
        self._lags.append(lags[~np.isnan(lags)])

    def figures(self) -> dict[str, float | int | None]:
        """As ``storage.ingestion.label_status_figures`` computes them from stored rows."""
        lags = np.concatenate(self._lags) if self._lags else np.array([], dtype=np.float64)
        return {
            "labelled": self.labelled,
            "corrected": self.corrected,
            "positives": self.positives,
            "label_lag_p50_hours": percentile_cont(lags, 0.5),
            "label_lag_p90_hours": percentile_cont(lags, 0.9),
            "label_lag_p99_hours": percentile_cont(lags, 0.99),
            "label_lag_max_hours": float(lags.max()) if len(lags) else None,
        }


class CrossDayTally:
    """What a day's written ids share with the model's other days, counted chunk by chunk.

    ``ids_elsewhere``: the day's candidate ids already stored on another day (asked before
    the write). ``unmatched_label_ids``: the ids of the label rows delivered on the day (one
    per row, <NA> where missing) that match no prediction of another day, or None when the
    delivery cannot be told. :meth:`add` takes each chunk's written ids (unique in the day).

    >>> tally = CrossDayTally(pd.Series(["a"]), pd.Series(["b", "c", None, "c"]))
    >>> tally.add(pd.Series(["a", "b"]))
    >>> tally.add(pd.Series(["d"]))
    >>> tally.ids_on_other_days, tally.labels_orphaned
    (1, 3)
    """

    def __init__(self, ids_elsewhere: pd.Series, unmatched_label_ids: pd.Series | None) -> None:
        self.ids_on_other_days = 0
        self._elsewhere = pd.Series(
            pd.Series(ids_elsewhere, dtype="string").dropna().unique(), dtype="string"
        )
        self._labels_told = unmatched_label_ids is not None
        label_ids = pd.Series(unmatched_label_ids, dtype="string")
        self._missing_label_ids = int(label_ids.isna().sum())
        counts = label_ids.dropna().value_counts()
        self._label_ids = pd.Index(counts.index, dtype="string")
        self._label_rows = counts.to_numpy(dtype=np.int64)
        self._matched = np.zeros(len(counts), dtype=bool)

    def add(self, written_ids: pd.Series) -> None:
        """Count the written ids stored elsewhere; mark the label ids they match."""
        if len(self._elsewhere):
            self.ids_on_other_days += int(is_in(written_ids, self._elsewhere).sum())
        if len(self._label_ids):
            found = positions_in(pd.Series(written_ids, dtype="string"), self._label_ids)
            self._matched[found[found >= 0]] = True

    @property
    def labels_orphaned(self) -> int | None:
        """Delivered label rows whose id is missing or matches no written prediction of any
        day (None when the delivery cannot be told)."""
        if not self._labels_told:
            return None
        return self._missing_label_ids + int(self._label_rows[~self._matched].sum())


def is_in(values: pd.Series, candidates: pd.Series) -> np.ndarray:
    """``values.isin(candidates)`` by hashing both sides once; nulls never match.

    pandas' own ``isin`` on Arrow-backed strings converts every candidate to a scalar first,
    which takes seconds for a day's million ids.
    """
    return positions_in(values, pd.Index(candidates.dropna().unique())) >= 0


def positions_in(values: pd.Series, keys: pd.Index | pd.Series) -> np.ndarray:
    """The position of each of ``values`` among ``keys`` (unique), -1 where it is not one
    of them; nulls match nothing.

    Text on both sides is looked up by Arrow's own hash table, ~3x faster than pandas'
    ``Index.get_indexer`` on Arrow-backed text (a lookup per chunk of 100,000 ids); other
    values by ``get_indexer``.

    >>> positions_in(pd.Series(["b", None, "z", "a"]), pd.Index(["a", "b"])).tolist()
    [1, -1, -1, 0]
    """
    if is_text(values) and is_text(keys):
        found = pc.index_in(_arrow_text(values), value_set=_arrow_text(keys))
        return found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    positions = pd.Index(keys).get_indexer(values).astype(np.int64)
    return np.where(pd.isna(values).to_numpy(), -1, positions)


def _arrow_text(values: pd.Index | pd.Series) -> pa.Array:
    return pa.array(values.array).cast(pa.large_string())


def known_by(labelled_at: pd.Series, as_of: pd.Timestamp | None) -> np.ndarray:
    """Which label rows had been recorded by ``as_of`` (all of them when it is None).

    A replay (``monitoring-pipeline backtest``) joins each day's predictions to the labels
    production had seen by then, not to those recorded since. Rows without a valid
    ``labelled_at`` are kept, so that validation quarantines them as it always does.

    >>> times = pd.to_datetime(pd.Series(["2026-11-02", "2026-11-05", None]), utc=True)
    >>> known_by(times, pd.Timestamp("2026-11-03", tz="UTC")).tolist()
    [True, False, True]
    """
    if as_of is None:
        return np.ones(len(labelled_at), dtype=bool)
    return (labelled_at.isna() | (labelled_at <= as_of)).to_numpy(dtype=bool)


def join_newest_labels(predictions: pd.DataFrame, labels: pd.DataFrame) -> LabelJoin:
    """Attach to each prediction the newest of its labels.

    Parameters
    ----------
    predictions: valid predictions with unique ``prediction_id`` and ``scored_at``.
    labels: valid label rows (``prediction_id``, ``label`` in {0, 1}, ``labelled_at``); a
        prediction may have several (corrections), in any order.

    Label rows whose id matches no prediction are counted as orphaned and not attached.
    The newest label (largest ``labelled_at``) wins; the lag is measured to the *first*
    label, the moment ground truth first became available.

    >>> p = pd.DataFrame({"prediction_id": ["a"], "scored_at": [pd.Timestamp("2026-11-01", tz="UTC")]})
    >>> l = pd.DataFrame({"prediction_id": ["a", "a"], "label": [0, 1],
    ...                   "labelled_at": pd.to_datetime(["2026-11-02", "2026-11-05"], utc=True)})
    >>> row = join_newest_labels(p, l).frame.iloc[0]
    >>> int(row.label), float(row.label_lag_hours), int(row.label_revisions)
    (1, 24.0, 2)
    """
    # Integer positions and times, sorted with numpy: sorting a chunk's Arrow-string ids
    # and grouping on them cost ~2 s of a 1M-row day. Prediction ids are unique, so a
    # label's prediction is one row position.
    ids = labels["prediction_id"]
    row = positions_in(ids, predictions["prediction_id"])
    known = row >= 0
    matched = labels.loc[known]
    times = pd.to_datetime(matched["labelled_at"], utc=True)
    # Stable: of two labels of one instant the one delivered last wins.
    order = np.lexsort((times.array.asi8, row[known]))
    rows_sorted = row[known][order]
    starts = np.flatnonzero(np.diff(rows_sorted, prepend=-1) != 0)
    ends = np.append(starts[1:], len(rows_sorted))[: len(starts)] - 1
    labelled = rows_sorted[starts]  # each labelled prediction's row, once
    n = len(predictions)
    label = np.zeros(n, dtype=np.int64)
    label[labelled] = matched["label"].to_numpy(dtype=np.int64)[order][ends]
    unlabelled = np.ones(n, dtype=bool)
    unlabelled[labelled] = False
    revisions = np.zeros(n, dtype=np.int64)
    revisions[labelled] = ends - starts + 1
    sorted_times = times.array[order]

    def at_rows(values) -> pd.Series:
        """``values`` (one per labelled prediction) on the predictions' rows, NaT elsewhere."""
        spread = pd.Series(values, index=labelled).reindex(np.arange(n))
        return spread.set_axis(predictions.index)

    frame = predictions.assign(
        label=pd.arrays.IntegerArray(label, unlabelled),
        first_labelled_at=at_rows(sorted_times[starts]),
        labelled_at=at_rows(sorted_times[ends]),
        label_revisions=revisions,
    )
    for column in ("first_labelled_at", "labelled_at"):
        # An empty label set carries no time dtype; keep the columns timestamps regardless.
        frame[column] = pd.to_datetime(frame[column], utc=True)
    lag = (frame["first_labelled_at"] - frame["scored_at"]) / HOUR
    frame["label_lag_hours"] = lag.astype("float64")
    return LabelJoin(
        frame=frame,
        labels_used=int(len(matched)),
        labels_orphaned=int(np.count_nonzero(~known)),
    )
