"""storage.streaming.read_ahead: a day's chunks read by a thread of their own, one ahead."""

from __future__ import annotations

import threading
import time

import pytest

from monitoring_pipeline.storage.streaming import read_ahead


def test_items_come_in_order_and_the_next_is_read_while_the_caller_works():
    produced: list[tuple[int, float]] = []

    def items():
        for i in range(4):
            time.sleep(0.05)  # reading a chunk
            produced.append((i, time.perf_counter()))
            yield i

    taken = []
    for item in read_ahead(items()):
        taken.append((item, time.perf_counter()))
        time.sleep(0.1)  # working on it
    assert [i for i, _ in taken] == [0, 1, 2, 3]
    # Item 1 was read while the caller worked on item 0, not after.
    assert produced[1][1] < taken[0][1] + 0.1


def test_an_error_of_the_source_is_raised_where_it_happened():
    def items():
        yield 1
        raise ValueError("bad chunk")

    seen = []
    with pytest.raises(ValueError, match="bad chunk"):
        for item in read_ahead(items()):
            seen.append(item)
    assert seen == [1]


def test_stopping_early_closes_the_source_in_its_thread():
    closed = threading.Event()

    def items():
        try:
            yield from range(1_000)
        finally:
            closed.set()

    before = threading.active_count()
    stream = read_ahead(items())
    assert next(stream) == 0
    stream.close()
    assert closed.wait(timeout=5)
    assert threading.active_count() == before  # the reader thread is gone
