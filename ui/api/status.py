"""``GET /api/v1/status``: live ingest figures (queue, write-ahead log, rows stored)."""

from __future__ import annotations

import dataclasses
from typing import Any

from fastapi import APIRouter, Depends, Request

from collector.service import Collector
from ui.deps import get_collector

router = APIRouter(tags=["status"])


@router.get("/status")
def status(request: Request, collector: Collector = Depends(get_collector)) -> dict[str, Any]:
    """Ingest status: accepted, pending and stored counts, write-ahead log size, and span/trace totals; and the
    local model's (installed, loaded: it loads on its first request)."""
    stats = dataclasses.asdict(collector.pipeline.stats)
    row = collector.store.read(lambda con: con.execute("SELECT count(*) FROM spans").fetchone())
    return {
        "ingest": stats,
        "wal_bytes": collector.wal.size_bytes(),
        "wal_outstanding_records": collector.wal.outstanding,
        "replayed_records": collector.replayed_records,
        "spans": int(row[0]) if row else 0,
        "schema_version": collector.store.schema_version,
        "local_model": request.app.state.local_model.status().model_dump(),
    }
