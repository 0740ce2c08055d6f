"""What the store made of the workload, read back through ``POST /api/v1/sql`` after a run.

Per source convention and span kind: how many spans, and how many got the canonical fields a replay needs
(input and output messages, model, total tokens). A gap here means the normalizer missed a convention.
"""

from __future__ import annotations

from typing import Any

import httpx

from bench.server import ServerProcess

__all__ = ["NORMALIZATION_COLUMNS", "normalization_rows"]

NORMALIZATION_COLUMNS = ("convention", "kind", "spans", "input msgs", "output msgs", "model", "tokens")
_SQL = (
    "SELECT source_convention, kind, count(*), count(input_messages), count(output_messages), count(model), "
    "count(total_tokens) FROM spans GROUP BY ALL ORDER BY ALL"
)


def normalization_rows(server: ServerProcess) -> list[dict[str, Any]] | str:
    """One row per (convention, kind); a message instead when the SQL endpoint is missing or failed."""
    try:
        rows = server.sql(_SQL)
    except httpx.HTTPError as exc:
        return f"SQL check failed: {exc}"
    if rows is None:
        return "POST /api/v1/sql is not available"
    return [dict(zip(NORMALIZATION_COLUMNS, row, strict=True)) for row in rows]
