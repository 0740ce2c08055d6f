"""The filter model shared by trace and span queries, its translation to SQL, keyset cursors and id checks.

Every filter becomes a parameterized SQL condition (values never enter the SQL text). Which conditions apply
to which rows is decided by the query modules: :mod:`collector.queries.spans` applies them all to each span,
:mod:`collector.queries.traces` applies the *span-level* ones (:func:`span_conditions`) to "any span of the
trace". Cursors are opaque to clients: url-safe base64 of a small JSON array holding the sort key of the last
row returned, tagged with the listing it belongs to so a span cursor cannot be replayed on traces.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, Literal, TypeVar

import duckdb
import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from collector.errors import CollectorError, InvalidQuery, NotFound

__all__ = [
    "MAX_LIMIT",
    "TOKENS_SQL",
    "AmbiguousSpan",
    "Page",
    "SpanFilters",
    "SpanListFilters",
    "Status",
    "Where",
    "annotation_condition",
    "as_utc",
    "check_span_id",
    "check_trace_id",
    "decode_cursor",
    "encode_cursor",
    "find_span",
    "finite",
    "invalid",
    "resolve_span",
    "span_conditions",
    "to_utc",
]

MAX_LIMIT = 500
MAX_Q_CHARS = 1000
Status = Literal["OK", "ERROR", "UNSET"]
T = TypeVar("T")

_TRACE_ID = re.compile(r"[0-9a-fA-F]{32}")
_SPAN_ID = re.compile(r"[0-9a-fA-F]{16}")


class AmbiguousSpan(CollectorError):
    """Several traces hold a span with this id; the caller must name the trace (HTTP 409)."""

    status_code = 409


class Page(BaseModel, Generic[T]):
    """One page of a listing; pass ``next_cursor`` back as ``cursor`` for the next page (null on the last)."""

    data: list[T]
    next_cursor: str | None = None


# -- ids ----------------------------------------------------------------------------------------------------
def check_trace_id(value: str) -> str:
    """The trace id in lower case; :class:`InvalidQuery` unless it is 32 hexadecimal characters."""
    if not _TRACE_ID.fullmatch(value):
        raise InvalidQuery(f"trace id {_show(value)} is not valid: expected 32 hexadecimal characters")
    return value.lower()


def check_span_id(value: str) -> str:
    """The span id in lower case; :class:`InvalidQuery` unless it is 16 hexadecimal characters."""
    if not _SPAN_ID.fullmatch(value):
        raise InvalidQuery(f"span id {_show(value)} is not valid: expected 16 hexadecimal characters")
    return value.lower()


def resolve_span(con: duckdb.DuckDBPyConnection, span_id: str, *, trace_id: str | None = None) -> str:
    """The trace id holding ``span_id`` (ids already checked); errors as :func:`find_span`."""
    return str(find_span(con, span_id, trace_id=trace_id, columns="trace_id")[0])


def find_span(con: duckdb.DuckDBPyConnection, span_id: str, *, trace_id: str | None, columns: str) -> tuple[Any, ...]:
    """``columns`` of the one span with this id (in ``trace_id`` when given).

    Raises :class:`NotFound` when no span matches and :class:`AmbiguousSpan` when several traces share the
    span id and ``trace_id`` was not given.
    """
    # By span id alone, then the trace in Python: DuckDB uses the span_id index for ``span_id = ?`` but falls
    # back to a full scan once ``trace_id = ?`` joins it (~35 ms instead of ~1 ms at a million spans).
    found = con.execute(f"SELECT trace_id, {columns} FROM spans WHERE span_id = ?", [span_id]).fetchall()
    rows = [row[1:] for row in found if trace_id is None or row[0] == trace_id]
    if not rows:
        scope = f" in trace {trace_id}" if trace_id else ""
        raise NotFound(f"no span with id {span_id}{scope}")
    if len(rows) > 1:
        raise AmbiguousSpan(
            f"span id {span_id} occurs in more than one trace; pass ?trace_id=<32 hex> to say which one"
        )
    return tuple(rows[0])


def invalid(message: str) -> PydanticCustomError:
    """A validation error whose details stay JSON-serializable (a bare ``ValueError`` would not be)."""
    return PydanticCustomError("value_error", "{reason}", {"reason": message})


def _show(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:40] + "…")


# -- the filter model ---------------------------------------------------------------------------------------
class SpanFilters(BaseModel):
    """Filters shared by ``GET /traces`` and ``GET /spans``; all optional, combined with AND.

    Times are ISO 8601; a time without a zone is taken as UTC. ``q`` is a case-insensitive substring search
    over the span's name, message contents (system prompts excepted) and input/output values. Annotation filters: with
    ``has_annotation`` unset or true, some annotation must match ``annotation_name``, ``min_score`` and
    ``max_score``; with ``has_annotation=false`` no annotation may match them (none at all when none is
    given).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    project: str | None = Field(None, min_length=1, max_length=200, description="Project name (exact).")
    start: datetime | None = Field(None, description="Only rows starting at or after this time (ISO 8601).")
    end: datetime | None = Field(None, description="Only rows starting before this time (ISO 8601).")
    status: Status | None = Field(None, description="OK, ERROR or UNSET.")
    model: str | None = Field(None, min_length=1, max_length=500, description="Model name (exact).")
    provider: str | None = Field(None, min_length=1, max_length=200, description="Provider (exact).")
    prompt_name: str | None = Field(None, min_length=1, max_length=500, description="Prompt name (exact).")
    prompt_version: str | None = Field(None, min_length=1, max_length=200, description="Prompt version.")
    min_latency_ms: float | None = Field(None, ge=0, allow_inf_nan=False, description="Latency at least.")
    min_tokens: int | None = Field(None, ge=0, description="Total tokens at least.")
    q: str | None = Field(
        None,
        min_length=1,
        max_length=MAX_Q_CHARS,
        description="Case-insensitive text search of inputs/outputs (system prompts are not searched).",
    )
    has_annotation: bool | None = Field(None, description="Whether a (matching) annotation must exist.")
    annotation_name: str | None = Field(None, min_length=1, max_length=200, description="Annotation name.")
    min_score: float | None = Field(None, allow_inf_nan=False, description="Annotation score at least.")
    max_score: float | None = Field(None, allow_inf_nan=False, description="Annotation score at most.")

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else to_utc(value)

    @model_validator(mode="after")
    def _ranges(self) -> SpanFilters:
        if self.start and self.end and self.start >= self.end:
            raise invalid("start must be earlier than end")
        if self.min_score is not None and self.max_score is not None and self.min_score > self.max_score:
            raise invalid("min_score must not exceed max_score")
        return self

    def annotation_filtered(self) -> bool:
        return any(v is not None for v in (self.has_annotation, self.annotation_name, self.min_score, self.max_score))


class SpanListFilters(SpanFilters):
    """:class:`SpanFilters` plus what only makes sense for spans: the trace, the span kind, a list of ids."""

    trace_id: str | None = Field(None, description="Only spans of this trace (32 hex characters).")
    kind: str | None = Field(None, min_length=1, max_length=50, description="Span kind: LLM, CHAIN, TOOL, …")
    span_ids: list[str] | None = Field(None, max_length=MAX_LIMIT, description="Only these span ids.")

    @field_validator("trace_id")
    @classmethod
    def _trace_id(cls, value: str | None) -> str | None:
        if value is not None and not _TRACE_ID.fullmatch(value):
            raise invalid("trace_id must be 32 hexadecimal characters")
        return None if value is None else value.lower()

    @field_validator("span_ids")
    @classmethod
    def _span_ids(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        ids = [part.strip() for item in value for part in item.split(",") if part.strip()]
        bad = [i for i in ids if not _SPAN_ID.fullmatch(i)]
        if bad:
            raise invalid(f"span_ids must be 16 hexadecimal characters each; got {_show(bad[0])}")
        if len(ids) > MAX_LIMIT:
            raise invalid(f"at most {MAX_LIMIT} span_ids")
        return [i.lower() for i in ids]


def to_utc(value: datetime) -> datetime:
    """A naive UTC datetime (the store's TIMESTAMP convention); naive input is taken as UTC already."""
    if value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


# -- SQL ----------------------------------------------------------------------------------------------------
@dataclass
class Where:
    """A conjunction of parameterized SQL conditions."""

    clauses: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)

    def add(self, clause: str, *params: Any) -> None:
        self.clauses.append(clause)
        self.params.extend(params)

    def extend(self, other: Where) -> None:
        self.clauses += other.clauses
        self.params += other.params

    def sql(self) -> str:
        return " AND ".join(f"({c})" for c in self.clauses) if self.clauses else "TRUE"


TOKENS_SQL = "coalesce(total_tokens, coalesce(input_tokens, 0) + coalesce(output_tokens, 0))"


def span_conditions(filters: SpanFilters) -> Where:
    """Conditions on one span's own fields: model, provider, prompt name/version and the text search."""
    where = Where()
    for column in ("model", "provider", "prompt_name", "prompt_version"):
        value = getattr(filters, column)
        if value is not None:
            where.add(f"{column} = ?", value)
    if filters.q is not None:
        where.add("contains(search_text, lower(?))", filters.q)
    return where


def annotation_condition(filters: SpanFilters, key: str) -> Where:
    """``key IN (annotated keys)`` (or ``NOT IN``) for the annotation filters; empty when none is set.

    ``key`` is ``trace_id`` (a trace matches when any of its spans does) or ``span_id`` (with its trace).
    """
    where = Where()
    if not filters.annotation_filtered():
        return where
    matching = Where()
    if filters.annotation_name is not None:
        matching.add("name = ?", filters.annotation_name)
    if filters.min_score is not None:
        matching.add("score >= ?", filters.min_score)
    if filters.max_score is not None:
        matching.add("score <= ?", filters.max_score)
    negate = "NOT " if filters.has_annotation is False else ""
    columns = "trace_id" if key == "trace_id" else "(trace_id, span_id)"
    where.add(f"{columns} {negate}IN (SELECT {columns} FROM annotations WHERE {matching.sql()})", *matching.params)
    return where


# -- cursors ------------------------------------------------------------------------------------------------
def encode_cursor(kind: str, start_time: datetime, *ids: str) -> str:
    """An opaque cursor after the row with this sort key (``kind`` names the listing)."""
    raw = orjson.dumps([kind, start_time.isoformat(), *ids])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, kind: str, id_count: int) -> tuple[datetime, list[str]]:
    """The sort key inside ``cursor``; :class:`InvalidQuery` when it was not made by :func:`encode_cursor`."""
    bad = InvalidQuery("the cursor is not valid: pass next_cursor exactly as returned by the previous page")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        items = orjson.loads(raw)
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise bad from None
    if not isinstance(items, list) or len(items) != 2 + id_count or items[0] != kind:
        raise bad
    if not all(isinstance(i, str) and re.fullmatch(r"[0-9a-f]{16}|[0-9a-f]{32}", i) for i in items[2:]):
        raise bad
    try:
        start_time = datetime.fromisoformat(items[1]) if isinstance(items[1], str) else None
    except ValueError:
        start_time = None
    if start_time is None or start_time.tzinfo is not None:
        raise bad
    return start_time, list(items[2:])


def as_utc(value: datetime) -> datetime:
    """A stored (naive UTC) timestamp as an aware UTC datetime, so JSON carries the zone."""
    return value.replace(tzinfo=UTC)


def finite(value: float | None) -> float | None:
    """``None`` for NaN/infinity (JSON cannot carry them)."""
    return value if value is None or math.isfinite(value) else None
