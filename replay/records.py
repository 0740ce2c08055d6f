"""Stored replays: the ``replays`` table, one row per *successful* replay.

A replay that fails (unreplayable span, provider error) stores nothing: a row is written in one transaction
after the model answered, so no half-made replay is ever visible. The failed call itself still shows up as an
ERROR span in the ``replay`` project, like any traced call.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import duckdb
import orjson
from pydantic import BaseModel, ConfigDict, Field

from collector.queries.filters import as_utc, check_span_id
from replay.diff import ReplayDiff
from replay.errors import InvalidInput, NotFound
from replay.model_call import ModelOutput
from replay.overrides import ReplayOverrides
from replay.rebuild import ReplayRequest

__all__ = ["MAX_LIST", "ReplayResult", "get_replay", "list_replays", "save_replay"]

MAX_LIST = 500
_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_COLUMNS = (
    "id, created_at, source_trace_id, source_span_id, dataset, example_id, provider, model, request, overrides, "
    "original, output, diff, expected_output, replay_trace_id, replay_span_id"
)
_NAMES = tuple(name.strip() for name in _COLUMNS.split(","))
_JSON = ("request", "overrides", "original", "output", "diff", "expected_output")


class ReplayResult(BaseModel):
    """One replay: what was replayed and how, the original output beside the new one, and their diff.

    ``replay_trace_id``/``replay_span_id`` name the traced model call in the ``replay`` project (null when the
    replay ran without tracing). ``expected_output`` is the dataset example's, for an example replay.
    """

    model_config = ConfigDict(protected_namespaces=())

    id: str = Field(description="A UUID4.")
    created_at: datetime
    source_trace_id: str | None = None
    source_span_id: str | None = None
    dataset: str | None = None
    example_id: str | None = None
    provider: str
    model: str
    request: ReplayRequest
    overrides: ReplayOverrides
    original: ModelOutput
    output: ModelOutput
    diff: ReplayDiff
    expected_output: Any = None
    replay_trace_id: str | None = None
    replay_span_id: str | None = None


def save_replay(con: duckdb.DuckDBPyConnection, result: ReplayResult) -> None:
    """Insert ``result`` (run it on the store's writer: ``store.write(lambda con: save_replay(con, r))``)."""
    row = result.model_dump(mode="json")
    values = [orjson.dumps(row[name]).decode() if name in _JSON else row[name] for name in _NAMES]
    values[_NAMES.index("created_at")] = result.created_at.replace(tzinfo=None)
    con.execute(f"INSERT INTO replays ({_COLUMNS}) VALUES ({', '.join('?' * len(values))})", values)


def get_replay(con: duckdb.DuckDBPyConnection, replay_id: str) -> ReplayResult:
    """One stored replay; :class:`InvalidInput` for a malformed id, :class:`NotFound` when unknown."""
    if not _ID.fullmatch(replay_id):
        raise InvalidInput(f"replay id {replay_id[:60]!r} is not valid: expected a lower-case UUID")
    row = con.execute(f"SELECT {_COLUMNS} FROM replays WHERE id = ?", [replay_id]).fetchone()
    if row is None:
        raise NotFound(f"no replay with id {replay_id}")
    return _result(row)


def list_replays(con: duckdb.DuckDBPyConnection, span_id: str, *, limit: int = 100) -> list[ReplayResult]:
    """The replays of one source span, newest first (at most ``limit``, itself at most :data:`MAX_LIST`)."""
    span_id = check_span_id(span_id)
    rows = con.execute(
        f"SELECT {_COLUMNS} FROM replays WHERE source_span_id = ? ORDER BY created_at DESC, id LIMIT ?",
        [span_id, min(limit, MAX_LIST)],
    ).fetchall()
    return [_result(row) for row in rows]


def _result(row: tuple[Any, ...]) -> ReplayResult:
    values = dict(zip(_NAMES, row, strict=True))
    for name in _JSON:
        values[name] = None if values[name] is None else orjson.loads(values[name])
    values["created_at"] = as_utc(values["created_at"])
    return ReplayResult(**values)
