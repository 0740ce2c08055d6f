"""The store: one DuckDB file, every write on one writer thread, reads on per-thread cursors.

Following datasette's ``_execute_writes``: writes are queued to a single thread that owns the write
connection, so ingest batches and annotation writes never contend; reads use cursors of the same database
instance (DuckDB's MVCC gives them a consistent snapshot without blocking the writer).
"""

from __future__ import annotations

import contextlib
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from collector.errors import StoreClosed
from collector.store.schema import migrate

__all__ = ["Store"]

T = TypeVar("T")
WriteFn = Callable[[duckdb.DuckDBPyConnection], Any]


class Store:
    """Open (creating and migrating) a DuckDB file and run the writer thread."""

    def __init__(self, path: Path, *, memory_limit: str = "512MB", threads: int | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # zstd for every column: measured 5x smaller files than DuckDB's default (FSST/dictionary) on LLM spans,
        # whose large JSON texts compress well, and faster checkpoints, which are most of the cost of ingest.
        config: dict[str, Any] = {"memory_limit": memory_limit, "force_compression": "zstd"}
        if threads:
            config["threads"] = threads
        self.path = path
        self._con = duckdb.connect(str(path), config=config)
        self.schema_version = migrate(self._con)
        self._local = threading.local()
        self._queue: deque[tuple[WriteFn, Future[Any]]] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run_writes, name="spanlab-writer", daemon=True)
        self._thread.start()

    # -- writes -------------------------------------------------------------------------------------------------
    def write(self, fn: Callable[[duckdb.DuckDBPyConnection], T]) -> Future[T]:
        """Run ``fn(connection)`` on the writer thread inside a transaction; the future holds its result."""
        future: Future[T] = Future()
        with self._cond:
            if self._closed:
                raise StoreClosed("the store is shutting down")
            self._queue.append((fn, future))
            self._cond.notify()
        return future

    def _run_writes(self) -> None:
        con = self._con.cursor()
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue:
                    break
                fn, future = self._queue.popleft()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                con.execute("BEGIN TRANSACTION")
                result = fn(con)
                con.execute("COMMIT")
            except BaseException as exc:
                _rollback(con)
                future.set_exception(exc)
            else:
                future.set_result(result)
        con.close()

    # -- reads --------------------------------------------------------------------------------------------------
    def cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's read cursor (created on first use)."""
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            if self._closed:
                raise StoreClosed("the store is shutting down")
            cursor = self._local.cursor = self._con.cursor()
        return cursor

    def read(self, fn: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        return fn(self.cursor())

    # -- shutdown -----------------------------------------------------------------------------------------------
    def close(self) -> None:
        """Finish queued writes, checkpoint and close the file."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join()
        try:
            self._con.execute("CHECKPOINT")
        finally:
            self._con.close()


def _rollback(con: duckdb.DuckDBPyConnection) -> None:
    with contextlib.suppress(duckdb.Error):  # no transaction was open
        con.execute("ROLLBACK")
