"""The retry delay given to refused exports: the time the store needs to bring the backlog down to half the limit."""

from __future__ import annotations

import pytest

from collector.ingest.pipeline import retry_delay

MB = 1024 * 1024


@pytest.mark.parametrize(
    ("pending_mb", "stored_mb", "seconds", "expected"),
    [
        (128, 50, 10.0, 10),  # 64 MB over half the limit at 5 MB/s: 12.8 s, capped at 10
        (128, 320, 10.0, 2),  # 32 MB/s: 2 s
        (128, 640, 10.0, 1),  # 64 MB/s: exactly 1 s
        (128, 6400, 10.0, 1),  # a fast store never answers less than 1 s
        (70, 10, 10.0, 6),  # 6 MB over half at 1 MB/s
        (40, 10, 10.0, 1),  # under half the limit (one huge request was refused): the shortest delay
    ],
)
def test_delay_is_the_time_to_drain_the_backlog_to_half_the_limit(
    pending_mb: int, stored_mb: int, seconds: float, expected: int
) -> None:
    delay = retry_delay(
        pending_bytes=pending_mb * MB, max_pending_bytes=128 * MB, stored_bytes=stored_mb * MB, seconds=seconds
    )
    assert delay == expected


def test_nothing_stored_lately_means_a_stalled_store_unless_just_started() -> None:
    stalled = retry_delay(pending_bytes=128 * MB, max_pending_bytes=128 * MB, stored_bytes=0, seconds=10.0)
    starting = retry_delay(pending_bytes=128 * MB, max_pending_bytes=128 * MB, stored_bytes=0, seconds=2.0)
    assert (stalled, starting) == (10, 1)
