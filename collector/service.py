"""The running collector: the store, its write-ahead log and the ingest pipeline, started and stopped together.

Both receivers (OTLP/gRPC in :mod:`collector.grpc_server`, OTLP/HTTP wired by ``ui``) hand decoded requests
to :meth:`Collector.export`, which validates them, logs them durably and returns what to acknowledge.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from google.protobuf.message import Message

from collector.ingest.otlp import ExportKind, Validated, validate
from collector.ingest.pipeline import IngestPipeline
from collector.store.database import Store
from collector.store.wal import WriteAheadLog

__all__ = ["Collector", "CollectorConfig"]


@dataclass(frozen=True, slots=True)
class CollectorConfig:
    db: Path
    wal_dir: Path
    ingest_workers: int = 1
    max_pending_bytes: int = 64 * 1024 * 1024  # ~2.5 s of the store's fastest pace; more only costs memory
    max_message_bytes: int = 64 * 1024 * 1024
    wal_fsync: bool = True
    duckdb_memory_limit: str = "512MB"


class Collector:
    """Open with :meth:`start`, feed with :meth:`export`, stop with :meth:`close` (drains first)."""

    def __init__(self, config: CollectorConfig) -> None:
        self.config = config
        self.store = Store(config.db, memory_limit=config.duckdb_memory_limit)
        self.wal = WriteAheadLog(config.wal_dir, fsync=config.wal_fsync)
        self.pipeline = IngestPipeline(
            self.store,
            self.wal,
            workers=config.ingest_workers,
            max_pending_bytes=config.max_pending_bytes,
            spool=config.wal_dir / "spool",
        )
        self.replayed_records = 0

    def start(self) -> None:
        self.replayed_records = self.pipeline.start()

    async def export(self, kind: ExportKind, message: Message, original: bytes | None) -> Validated:
        """Validate, then durably log the valid part; raises ``Overloaded`` when the queue is full."""
        validated = validate(kind, message, original)
        if validated.accepted:
            await asyncio.wrap_future(self.pipeline.submit(kind, validated.payload))
        return validated

    def close(self) -> None:
        self.pipeline.close()
        self.store.close()
