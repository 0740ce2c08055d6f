"""The ingest pipeline: accept → write-ahead log (acknowledge) → normalize (worker processes) → one writer.

    submit(kind, payload) ──▶ WAL group commit ──▶ batcher thread ──▶ build_batch in a worker process,
                 │ (Overloaded when too much is pending)          │   Arrow tables back through a spool file
                 ▼                                                └──▶ Store.write: insert spans/logs,
    Future[seq] resolves when the export is durable:                   join log events, then trim the WAL
    that is when the caller may acknowledge it.

Backpressure: the bytes accepted but not yet stored are bounded by ``max_pending_bytes``; past it
:meth:`IngestPipeline.submit` raises :class:`Overloaded` so the receivers answer 503 / UNAVAILABLE. Its retry
delay is the time the store needs, at the rate measured over the last seconds, to bring the backlog down to half
the limit (1 to 10 s): long enough that exporters which give up after a few attempts (the OTel SDK's make six)
are not turned away while the store catches up, short enough that the store does not run dry.
"""

from __future__ import annotations

import math
import multiprocessing
import threading
import time
from collections import deque
from collections.abc import Iterable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from collector.errors import Overloaded, StoreClosed
from collector.ingest.handoff import SpooledBatch, build_spooled, clear_spool, exit_with_parent
from collector.ingest.logjoin import join_log_messages
from collector.ingest.rows import Batch, build_batch
from collector.store.database import Store
from collector.store.wal import WalRecord, WriteAheadLog

__all__ = ["IngestPipeline", "IngestStats", "retry_delay"]

# ~3,000 spans: big enough that DuckDB's per-insert costs are small, small enough to bound memory (a group is
# held as OTLP bytes, then as ~2.3x as many bytes of Arrow columns).
_MAX_GROUP_BYTES = 8 * 1024 * 1024
_GATHER_SECONDS = 0.005
_RATE_WINDOW_SECONDS = 10.0
_RETRY_AFTER_BOUNDS = (1, 10)


@dataclass(slots=True)
class IngestStats:
    """Live figures for ``/api/v1/status``."""

    accepted_requests: int = 0
    accepted_bytes: int = 0
    refused_requests: int = 0
    stored_batches: int = 0
    stored_rows: int = 0
    pending_bytes: int = 0
    pending_records: int = 0
    failed_batches: int = 0
    worker_restarts: int = 0
    last_error: str | None = None


@dataclass(slots=True)
class _Item:
    seq: int
    kind: int
    payload: bytes


class IngestPipeline:
    """Owns the write-ahead log's lifecycle, the normalizer processes and the batcher thread."""

    def __init__(self, store: Store, wal: WriteAheadLog, *, workers: int, max_pending_bytes: int, spool: Path) -> None:
        """``spool`` is a folder of this pipeline's own (emptied here) for batches on their way back from workers."""
        self._store = store
        self._wal = wal
        self._max_pending = max_pending_bytes
        self._spool = spool
        clear_spool(spool)
        self._stored_log: deque[tuple[float, int]] = deque()  # (monotonic time, bytes) of recent stores
        self._started = time.monotonic()
        self._lock = threading.Condition()
        self._queue: deque[_Item] = deque()
        self._in_flight = threading.Semaphore(max(1, workers) + 1)
        self._closing = False
        self.stats = IngestStats()
        self._workers = workers
        self._pool = self._new_pool()
        self._pool_broken = False
        self._thread = threading.Thread(target=self._run_batcher, name="spanlab-batcher", daemon=True)

    def _new_pool(self) -> ProcessPoolExecutor | None:
        if not self._workers:
            return None
        return ProcessPoolExecutor(
            self._workers, mp_context=multiprocessing.get_context("spawn"), initializer=exit_with_parent
        )

    def start(self) -> int:
        """Queue what the log kept from an earlier run, then start taking exports. Returns records replayed."""
        self._started = time.monotonic()
        replayed = self._enqueue_replayed(self._wal.replay())
        self._wal.start()
        self._thread.start()
        return replayed

    def _enqueue_replayed(self, records: Iterable[WalRecord]) -> int:
        count = 0
        for record in records:
            self._count_pending(len(record.payload))
            self._queue.append(_Item(record.seq, record.kind, record.payload))
            count += 1
        return count

    # -- accepting ----------------------------------------------------------------------------------------------
    def submit(self, kind: int, payload: bytes) -> Future[int]:
        """Log an already-validated export; the future resolves once it is durable (safe to acknowledge)."""
        size = len(payload)
        with self._lock:
            if self._closing:
                raise StoreClosed("the collector is shutting down; retry against the next instance")
            if self.stats.pending_bytes + size > self._max_pending and self.stats.pending_bytes:
                self.stats.refused_requests += 1
                raise Overloaded(
                    f"ingest queue is full ({self.stats.pending_bytes} bytes waiting to be stored); retry later",
                    retry_after_seconds=self._retry_after(),
                )
            self.stats.pending_bytes += size
            self.stats.pending_records += 1
            self.stats.accepted_requests += 1
            self.stats.accepted_bytes += size
        future = self._wal.append(kind, payload)
        future.add_done_callback(lambda done: self._on_durable(done, kind, payload))
        return future

    def _retry_after(self) -> int:
        """The retry delay to give a refused export now (lock held); see :func:`retry_delay`."""
        now = time.monotonic()
        horizon = now - _RATE_WINDOW_SECONDS
        while self._stored_log and self._stored_log[0][0] < horizon:
            self._stored_log.popleft()
        return retry_delay(
            pending_bytes=self.stats.pending_bytes,
            max_pending_bytes=self._max_pending,
            stored_bytes=sum(size for _, size in self._stored_log),
            seconds=now - max(horizon, self._started),
        )

    def _count_pending(self, size: int) -> None:
        with self._lock:
            self.stats.pending_bytes += size
            self.stats.pending_records += 1

    def _on_durable(self, done: Future[int], kind: int, payload: bytes) -> None:
        if done.exception() is not None:
            self._release([], len(payload), 1)
            return
        with self._lock:
            self._queue.append(_Item(done.result(), kind, payload))
            self._lock.notify()

    # -- batching and storing -----------------------------------------------------------------------------------
    def _run_batcher(self) -> None:
        while True:
            group = self._next_group()
            if group is None:
                return
            self._in_flight.acquire()
            records = [(item.kind, item.payload) for item in group]
            if self._pool is None:
                self._store_group(group, _resolved(records))
                continue
            if self._pool_broken:
                self._replace_pool()
            try:
                future = self._pool.submit(build_spooled, records, str(self._spool))
            except BrokenProcessPool:
                self._requeue(group)
                continue
            future.add_done_callback(lambda built, g=group: self._store_group(g, built))  # type: ignore[misc]

    def _replace_pool(self) -> None:
        """A worker died (OOM killer, a signal): start new ones; the lost groups were put back in the queue."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = self._new_pool()
        self._pool_broken = False
        with self._lock:
            self.stats.worker_restarts += 1

    def _requeue(self, group: list[_Item]) -> None:
        with self._lock:
            self._pool_broken = True
            self._queue.extendleft(reversed(group))
            self._lock.notify()
        self._in_flight.release()

    def _next_group(self) -> list[_Item] | None:
        with self._lock:
            while not self._queue:
                if self._closing:
                    return None
                self._lock.wait()
            if sum(len(i.payload) for i in self._queue) < _MAX_GROUP_BYTES and not self._closing:
                self._lock.wait(_GATHER_SECONDS)  # let a burst gather into one bigger insert
            group: list[_Item] = []
            size = 0
            while self._queue and (not group or size + len(self._queue[0].payload) <= _MAX_GROUP_BYTES):
                item = self._queue.popleft()
                size += len(item.payload)
                group.append(item)
            return group

    def _store_group(self, group: list[_Item], built: Future[Any]) -> None:
        """Insert what a worker built (a :class:`SpooledBatch`) or what was built here (a :class:`Batch`)."""
        try:
            result = built.result()
            batch = result.load() if isinstance(result, SpooledBatch) else result
        except BrokenProcessPool:
            self._requeue(group)
            return
        except BaseException as exc:
            self._on_failed(group, exc)
            return
        rows = batch.spans.num_rows + batch.logs.num_rows
        try:
            written = self._store.write(lambda con: _insert(con, batch))
        except BaseException as exc:
            self._on_failed(group, exc)
            return
        written.add_done_callback(lambda done: self._on_stored(group, rows, done))

    def _on_stored(self, group: list[_Item], rows: int, done: Future[int]) -> None:
        if done.exception() is not None:
            self._on_failed(group, done.exception())
            return
        self._wal.committed([item.seq for item in group])
        size = sum(len(i.payload) for i in group)
        now = time.monotonic()
        with self._lock:
            self.stats.stored_batches += 1
            self.stats.stored_rows += rows
            self._stored_log.append((now, size))
        self._release(group, size, len(group))

    def _on_failed(self, group: list[_Item], exc: BaseException | None) -> None:
        # The records stay in the write-ahead log and are retried at the next start; nothing acknowledged is lost.
        with self._lock:
            self.stats.failed_batches += 1
            self.stats.last_error = f"{type(exc).__name__}: {exc}"
        self._release(group, sum(len(i.payload) for i in group), len(group))

    def _release(self, group: list[_Item], size: int, records: int) -> None:
        with self._lock:
            self.stats.pending_bytes -= size
            self.stats.pending_records -= records
            self._lock.notify_all()
        if group:
            self._in_flight.release()

    # -- shutdown -----------------------------------------------------------------------------------------------
    def drain(self, *, timeout: float | None = None) -> bool:
        """Wait until every accepted export is stored (or failed); True when nothing is pending."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while self.stats.pending_records:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._lock.wait(remaining)
        return True

    def close(self, *, timeout: float | None = 30.0) -> None:
        """Refuse new exports, store what was accepted, stop the workers and close the log."""
        with self._lock:
            self._closing = True
        self.drain(timeout=timeout)
        with self._lock:
            self._lock.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        self._wal.close()


def retry_delay(*, pending_bytes: int, max_pending_bytes: int, stored_bytes: int, seconds: float) -> int:
    """Whole seconds until the backlog is down to half the limit, at the rate of ``stored_bytes`` in ``seconds``.

    Bounded to 1-10 s. Nothing stored over a while means the store is stalled (a long checkpoint): the longest
    delay; nothing stored yet in the first seconds after start: the shortest.
    """
    low, high = _RETRY_AFTER_BOUNDS
    if stored_bytes <= 0 or seconds <= 0:
        return low if seconds < _RATE_WINDOW_SECONDS else high
    rate = stored_bytes / seconds
    return max(low, min(high, math.ceil((pending_bytes - max_pending_bytes / 2) / rate)))


def _resolved(records: list[tuple[int, bytes]]) -> Future[Batch]:
    future: Future[Batch] = Future()
    try:
        future.set_result(build_batch(records))
    except BaseException as exc:
        future.set_exception(exc)
    return future


def _insert(con: duckdb.DuckDBPyConnection, batch: Batch) -> int:
    """Insert one batch (duplicates of stored spans/logs are skipped) and fill messages from log events."""
    if batch.spans.num_rows:
        con.register("_spans_batch", batch.spans)
        con.execute("INSERT INTO spans BY NAME SELECT * FROM _spans_batch ON CONFLICT DO NOTHING")
        con.unregister("_spans_batch")
    if batch.logs.num_rows:
        con.register("_logs_batch", batch.logs)
        con.execute("INSERT INTO logs BY NAME SELECT * FROM _logs_batch ON CONFLICT DO NOTHING")
        con.unregister("_logs_batch")
    keys = batch.log_span_keys | batch.legacy_span_keys
    if keys:
        join_log_messages(con, keys)
    return batch.spans.num_rows
