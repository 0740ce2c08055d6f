"""A write-ahead log of accepted OTLP exports: group-committed, fsync'd, replayed on start, trimmed once stored.

An export is acknowledged only after its record is on disk, so a crash between the reply and the DuckDB commit
loses nothing: on start :meth:`WriteAheadLog.replay` hands every surviving record back to the writer. Records
live in numbered segment files; a segment is deleted once every record in it is committed to DuckDB.

Record layout: ``<length:u32><crc32:u32><seq:u64><kind:u8>`` then ``length`` payload bytes. A torn or corrupt
tail (a crash mid-write) ends the replay of its segment: such a record was never acknowledged.
"""

from __future__ import annotations

import os
import struct
import threading
import zlib
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

__all__ = ["WalRecord", "WriteAheadLog"]

_HEADER = struct.Struct("<IIQB")
_SEGMENT_BYTES = 64 * 1024 * 1024


@dataclass(slots=True, frozen=True)
class WalRecord:
    seq: int
    kind: int
    payload: bytes


@dataclass(slots=True)
class _Segment:
    path: Path
    max_seq: int = 0


@dataclass(slots=True)
class _Pending:
    kind: int
    payload: bytes
    future: Future[int] = field(default_factory=Future)


class WriteAheadLog:
    """Append-only log with one flusher thread that fsyncs each group of appends once."""

    def __init__(self, directory: Path, *, fsync: bool = True, segment_bytes: int = _SEGMENT_BYTES) -> None:
        self._dir = directory
        self._dir.mkdir(parents=True, exist_ok=True)
        self._fsync = fsync
        self._segment_bytes = segment_bytes
        self._lock = threading.Condition()
        self._pending: list[_Pending] = []
        self._closed = False
        self._segments: list[_Segment] = [_Segment(p) for p in sorted(self._dir.glob("*.seg"))]
        self._outstanding: set[int] = set()
        self._next_seq = 1
        self._file: BinaryIO | None = None
        self._active: _Segment | None = None
        self._thread = threading.Thread(target=self._run, name="spanlab-wal", daemon=True)

    # -- start-up ---------------------------------------------------------------------------------------------
    def replay(self) -> Iterator[WalRecord]:
        """Yield every intact record left by an earlier run, oldest first. Call before :meth:`start`."""
        for segment in self._segments:
            for record in _read_segment(segment.path):
                segment.max_seq = max(segment.max_seq, record.seq)
                self._next_seq = max(self._next_seq, record.seq + 1)
                self._outstanding.add(record.seq)
                yield record

    def start(self) -> None:
        self._open_new_segment()
        self._thread.start()

    # -- appending ----------------------------------------------------------------------------------------------
    def append(self, kind: int, payload: bytes) -> Future[int]:
        """Queue one record; the future resolves to its sequence number once it is durable."""
        item = _Pending(kind, payload)
        with self._lock:
            if self._closed:
                raise RuntimeError("the write-ahead log is closed")
            self._pending.append(item)
            self._lock.notify()
        return item.future

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._pending and not self._closed:
                    self._lock.wait()
                group, self._pending = self._pending, []
                if not group and self._closed:
                    return
            try:
                seqs = self._write_group(group)
            except BaseException as exc:  # a disk error must reach the callers, not kill the thread
                for item in group:
                    item.future.set_exception(exc)
                continue
            for item, seq in zip(group, seqs, strict=True):
                item.future.set_result(seq)

    def _write_group(self, group: list[_Pending]) -> list[int]:
        assert self._active is not None and self._file is not None
        seqs: list[int] = []
        chunks: list[bytes] = []
        with self._lock:
            for item in group:
                seq = self._next_seq
                self._next_seq += 1
                self._outstanding.add(seq)
                seqs.append(seq)
                header = _HEADER.pack(len(item.payload), zlib.crc32(item.payload), seq, item.kind)
                chunks += (header, item.payload)
            self._active.max_seq = seqs[-1]
        f = self._file
        f.write(b"".join(chunks))
        f.flush()
        if self._fsync:
            os.fsync(f.fileno())
        if f.tell() >= self._segment_bytes:
            self._open_new_segment()
        return seqs

    def _open_new_segment(self) -> None:
        if self._file is not None:
            self._file.close()
        number = int(self._segments[-1].path.stem) + 1 if self._segments else 1
        segment = _Segment(self._dir / f"{number:012d}.seg")
        self._file = open(segment.path, "ab")  # noqa: SIM115 - kept open across groups
        if self._fsync:
            _fsync_dir(self._dir)
        with self._lock:
            self._segments.append(segment)
            self._active = segment

    # -- trimming -----------------------------------------------------------------------------------------------
    def committed(self, seqs: list[int]) -> None:
        """Mark records as stored in DuckDB; delete segments whose records all are."""
        with self._lock:
            self._outstanding.difference_update(seqs)
            low = min(self._outstanding, default=self._next_seq)
            done = [s for s in self._segments if s is not self._active and s.max_seq < low]
            self._segments = [s for s in self._segments if s not in done]
        for segment in done:
            segment.path.unlink(missing_ok=True)

    @property
    def outstanding(self) -> int:
        with self._lock:
            return len(self._outstanding)

    def size_bytes(self) -> int:
        with self._lock:
            paths = [s.path for s in self._segments]
        return sum(p.stat().st_size for p in paths if p.exists())

    def close(self) -> None:
        """Flush what is queued, stop the flusher and close the active segment."""
        with self._lock:
            self._closed = True
            self._lock.notify()
        if self._thread.is_alive():
            self._thread.join()
        if self._file is not None:
            self._file.close()
            self._file = None
        with self._lock:
            low = min(self._outstanding, default=self._next_seq)
            if self._active is not None and self._active.max_seq < low:
                self._active.path.unlink(missing_ok=True)
                self._segments.remove(self._active)
                self._active = None


def _read_segment(path: Path) -> Iterator[WalRecord]:
    data = path.read_bytes()
    offset = 0
    while offset + _HEADER.size <= len(data):
        length, crc, seq, kind = _HEADER.unpack_from(data, offset)
        start = offset + _HEADER.size
        payload = data[start : start + length]
        if len(payload) != length or zlib.crc32(payload) != crc:
            return
        yield WalRecord(seq, kind, payload)
        offset = start + length


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
