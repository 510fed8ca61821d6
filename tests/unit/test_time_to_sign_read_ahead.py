"""Time to sign reads its rows on another thread: the reader always learns where they end, even
when reading fails, so a failed read ends the report with the error instead of waiting."""

from __future__ import annotations

from collections.abc import Iterator
from queue import Queue
from typing import Any

import pytest

from inkbridge.services.reports import _END, _read_into


def test_a_failed_read_still_marks_the_end_of_the_rows() -> None:
    def rows() -> Iterator[int]:
        yield 1
        raise RuntimeError("read failed")

    queue: Queue[Any] = Queue()
    with pytest.raises(RuntimeError, match="read failed"):
        _read_into(rows(), queue)
    assert queue.get_nowait() == 1
    assert queue.get_nowait() is _END
    assert queue.empty()


def test_every_row_comes_before_the_end() -> None:
    queue: Queue[Any] = Queue()
    _read_into(iter([(1,), (2,)]), queue)
    assert [queue.get_nowait() for _ in range(3)] == [(1,), (2,), _END]
