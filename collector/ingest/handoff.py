"""Handing built batches from a normalizer process back to the ingest process through spool files.

A group of ~3,000 spans becomes ~20 MB of Arrow columns. Returned as a pickled :class:`Batch` it is copied four
times (pickle, pipe write, pipe read, unpickle) and the main process, which also runs the receivers and DuckDB,
spent ~12 µs of CPU a span on it. Instead the worker writes the tables as Arrow IPC streams into a file of the
spool folder (one copy, into the page cache) and returns its name; the main process memory-maps the file and
reads the tables without copying (:meth:`SpooledBatch.load`), then removes it (the mapping stays valid until the
tables are dropped). The files live only for the time between building and inserting; the folder is emptied at
start, so a crash leaves nothing behind for long.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.connection
import os
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from collector.ingest.rows import Batch, build_batch

__all__ = ["SpooledBatch", "build_spooled", "clear_spool", "exit_with_parent"]

_SUFFIX = ".arrow"


@dataclass(frozen=True, slots=True)
class SpooledBatch:
    """Where a worker left a built batch: one file holding the spans stream, then the logs stream."""

    path: str
    spans_bytes: int
    log_span_keys: set[tuple[str, str]] = field(default_factory=set)
    legacy_span_keys: set[tuple[str, str]] = field(default_factory=set)

    def load(self) -> Batch:
        """Map the file, read both tables without copying, and remove the file."""
        try:
            source = pa.memory_map(self.path)
            spans = pa.ipc.open_stream(source.read_buffer(self.spans_bytes)).read_all()
            logs = pa.ipc.open_stream(source.read_buffer()).read_all()
        finally:
            self.discard()
        return Batch(spans, logs, self.log_span_keys, self.legacy_span_keys)

    def discard(self) -> None:
        """Remove the file (a batch that will not be stored: the records stay in the write-ahead log)."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


def build_spooled(records: list[tuple[int, bytes]], spool: str) -> SpooledBatch:
    """:func:`build_batch`, written to a new file in ``spool``; runs in a worker process."""
    batch = build_batch(records)
    path = os.path.join(spool, f"{uuid.uuid4().hex}{_SUFFIX}")
    try:
        with pa.OSFile(path, "wb") as sink:
            _write_stream(sink, batch.spans)
            spans_bytes = sink.tell()
            _write_stream(sink, batch.logs)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        raise
    return SpooledBatch(path, spans_bytes, batch.log_span_keys, batch.legacy_span_keys)


def _write_stream(sink: pa.NativeFile, table: pa.Table) -> None:
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)


def clear_spool(spool: Path) -> None:
    """Create ``spool`` if needed and remove batch files an earlier run left (their records are in the log)."""
    spool.mkdir(parents=True, exist_ok=True)
    for leftover in spool.glob(f"*{_SUFFIX}"):
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()


def exit_with_parent() -> None:
    """Worker initializer: end this process when the one that started it is gone.

    A server killed outright (SIGKILL, the OOM killer) cannot stop its workers, and a worker never sees its
    task pipe close, since it holds that pipe's write end itself: without this it would idle on forever.
    """
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(0)

    threading.Thread(target=watch, name="spanlab-parent-watch", daemon=True).start()
