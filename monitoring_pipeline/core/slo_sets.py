"""SLOs over sets of members: every group of an attribute, of every attribute, every feature.

A set SLO says "every member satisfies the objective" (e.g. ``|tpr_difference| <= 0.1``
for every group of every attribute). Each day it is judged on all its members at once:

* **Multiple-testing control (Bonferroni).** With ``m`` members that have an interval,
  each member's interval is taken at confidence ``1 - (1 - 0.95) / m`` instead of 0.95
  (``bonferroni_confidence``; the caller recomputes them from the additive counts with the
  interval functions of ``core.intervals``). A member is bad when its interval lies wholly
  beyond the objective, a one-sided event of probability at most ``0.025 / m`` for a
  member that meets it, so on a day when every member meets the objective the set is
  called bad with probability at most 0.025, the same as a single SLO. Bonferroni rather
  than Holm: it gives every member one interval that can be shown beside the verdict
  (Holm's step-down has no simple simultaneous intervals), it needs no p-value obtained by
  inverting each interval kind (Wilson, Newcombe, Katz, Welch), and it costs little
  power: at ``m = 10`` the normal quantile grows from 1.96 to 2.81. Figures without an
  interval (PSI, JS, the KS statistic, ECE) have no sampling model in the published
  tables: they are judged on their values, unadjusted.
* **Each member** is classified like a single SLO (``core.slo.classify_days``: bad on
  clear evidence; a member below the minimum size is judged on its interval alone).
* **The set** is bad when some member is bad; good when none is bad and at least one is
  good; unknown when no member can be judged. Members that cannot be judged (a group of 3
  whose interval straddles everything, a rate without a denominator) are listed but do not
  keep the set from being good: a violation large enough to show in such a member makes it
  bad, and a set that could never be good would make every bad day a full burn of its
  budget (all known days bad), paging on the first false alarm.
* **Subject**: the bad member with the clearest violation (its interval furthest beyond
  the objective, ties by the point value); without a bad member, the judged member closest
  to the objective by its point value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from monitoring_pipeline.core.slo import DayStatus, ObjectiveOp, classify_days

__all__ = ["SetVerdict", "bonferroni_confidence", "judge_set"]

ERROR_MEMBERS = "a set needs at least one member, got {members!r}"
ERROR_CONFIDENCE = "confidence must lie strictly between 0 and 1, got {confidence!r}"


def bonferroni_confidence(members: int, confidence: float = 0.95) -> float:
    """Two-sided confidence of each member's interval so that the ``members`` intervals
    hold together with probability at least ``confidence`` (Bonferroni).

    Example:
        >>> bonferroni_confidence(1), round(bonferroni_confidence(5), 4)
        (0.95, 0.99)
    """
    if members < 1:
        raise ValueError(ERROR_MEMBERS.format(members=members))
    if not 0.0 < confidence < 1.0:
        raise ValueError(ERROR_CONFIDENCE.format(confidence=confidence))
    return 1.0 - (1.0 - confidence) / members


@dataclass(frozen=True)
class SetVerdict:
    """A set SLO's verdict for one day.

    Attributes:
        status: ``"bad"``, ``"good"`` or ``"unknown"`` for the set (see the module).
        subject: position of the member named as the subject (None for an empty set).
        bad: positions of the bad members, clearest violation first.
        unknown: positions of the members that could not be judged, in input order.
        statuses: each member's own status.
    """

    status: DayStatus
    subject: int | None
    bad: tuple[int, ...]
    unknown: tuple[int, ...]
    statuses: NDArray[np.object_]


def judge_set(
    values: ArrayLike,
    lowers: ArrayLike,
    uppers: ArrayLike,
    sufficient: ArrayLike,
    objective_op: ObjectiveOp,
    objective_value: float,
) -> SetVerdict:
    """Judge a set SLO on its members' figures (already at the set's confidence).

    Parameters:
        values, lowers, uppers: each member's value and interval (NaN bounds: judged on the
            value; NaN value: cannot be judged).
        sufficient: whether each member reaches the minimum size.
        objective_op, objective_value: as ``classify_days``.

    Returns:
        ``SetVerdict``; a set of one member gets that member's ``classify_days`` status.

    Example:
        >>> v = judge_set([0.05, 0.3, 0.5], [0.0, 0.22, 0.0], [0.1, 0.38, 1.0],
        ...     [True, True, False], "<=", 0.2)
        >>> v.status, v.subject, v.bad, v.unknown
        ('bad', 1, (1,), (2,))
    """
    value = np.atleast_1d(np.asarray(values, dtype=np.float64))
    lower = np.atleast_1d(np.asarray(lowers, dtype=np.float64))
    upper = np.atleast_1d(np.asarray(uppers, dtype=np.float64))
    statuses = np.atleast_1d(
        classify_days(value, lower, upper, objective_op, objective_value, sufficient)
    )
    if len(statuses) == 0:
        return SetVerdict("unknown", None, (), (), statuses)
    upper_objective = objective_op == "<="
    # How far each member lies beyond the objective: by its interval's near bound (its
    # value without one), and by its point value. Positive = beyond.
    near = np.where(
        np.isnan(lower if upper_objective else upper), value, lower if upper_objective else upper
    )
    sign = 1.0 if upper_objective else -1.0
    evidence = np.nan_to_num(sign * (near - objective_value), nan=-np.inf)
    point = np.nan_to_num(sign * (value - objective_value), nan=-np.inf)
    positions = np.arange(len(statuses))

    bad_mask = statuses == "bad"
    # lexsort: last key first; clearest evidence, then the worse point, then input order.
    bad = tuple(int(i) for i in np.lexsort((positions, -point, -evidence)) if bad_mask[i])
    unknown = tuple(int(i) for i in positions[statuses == "unknown"])
    if bad:
        return SetVerdict("bad", bad[0], bad, unknown, statuses)
    good_mask = statuses == "good"
    candidates = good_mask if good_mask.any() else ~np.isnan(value)
    subject = int(np.argmax(np.where(candidates, point, -np.inf))) if candidates.any() else 0
    status: DayStatus = "good" if good_mask.any() else "unknown"
    return SetVerdict(status, subject, (), unknown, statuses)
