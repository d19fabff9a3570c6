"""Join predictions with their newest ground-truth label (label backfill). Pure pandas."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["LabelJoin", "is_in", "join_newest_labels", "known_by"]

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


def is_in(values: pd.Series, candidates: pd.Series) -> np.ndarray:
    """``values.isin(candidates)`` by hashing both sides once; nulls never match.

    pandas' own ``isin`` on Arrow-backed strings converts every candidate to a scalar first,
    which takes seconds for a day's million ids.
    """
    unique = pd.Index(candidates.dropna().unique())
    return (unique.get_indexer(values) >= 0) & values.notna().to_numpy()


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
    known = is_in(labels["prediction_id"], predictions["prediction_id"])
    matched = labels.loc[known]
    ordered = matched.sort_values(["prediction_id", "labelled_at"], kind="stable")
    grouped = ordered.groupby("prediction_id", sort=False)
    summary = pd.DataFrame(
        {
            "label": grouped["label"].last(),
            "first_labelled_at": grouped["labelled_at"].first(),
            "labelled_at": grouped["labelled_at"].last(),
            "label_revisions": grouped.size(),
        }
    )
    if summary.empty:
        # Nothing to attach (and pandas cannot join two empty Arrow-string keys).
        frame = predictions.assign(
            label=pd.NA, first_labelled_at=pd.NaT, labelled_at=pd.NaT, label_revisions=0
        )
    else:
        frame = predictions.join(summary, on="prediction_id")
    for column in ("first_labelled_at", "labelled_at"):
        # An empty label set carries no time dtype; keep the columns timestamps regardless.
        frame[column] = pd.to_datetime(frame[column], utc=True)
    frame["label"] = frame["label"].astype("Int64")
    frame["label_revisions"] = frame["label_revisions"].fillna(0).astype("int64")
    lag = (frame["first_labelled_at"] - frame["scored_at"]) / HOUR
    frame["label_lag_hours"] = lag.astype("float64")
    return LabelJoin(
        frame=frame,
        labels_used=int(len(matched)),
        labels_orphaned=int(np.count_nonzero(~known)),
    )
