"""The DuckDB store: schema migrations, the single writer, the write-ahead log and read cursors."""

from collector.store.database import Store
from collector.store.wal import WalRecord, WriteAheadLog

__all__ = ["Store", "WalRecord", "WriteAheadLog"]
