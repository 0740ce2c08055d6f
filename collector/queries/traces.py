"""Trace reads: the filtered, keyset-paged trace listing and one trace as a span tree.

A trace row is its root span (``parent_span_id IS NULL``) with aggregates over all its spans. The listing is
built for large stores: it first picks the page of root spans with a Top-N (``ORDER BY start_time DESC,
trace_id DESC LIMIT n+1``), narrowed by ``trace_id IN (…)`` sub-queries only for the filters that need other
spans, and then aggregates only the page's traces. Trace-level semantics:

- ``project``, ``start``/``end`` and ``min_latency_ms`` apply to the root span (trace latency = root latency);
- ``status`` is the trace status: ERROR when any span is ERROR, otherwise the root's status;
- ``min_tokens`` applies to the trace's total tokens (summed over its spans);
- ``model``, ``provider``, ``prompt_name``, ``prompt_version``, ``q`` and the annotation filters match a trace
  when ANY of its spans matches.

A trace whose root span has not arrived is not listed (yet), but :func:`get_trace` returns it. A trace with
several root spans (rare: a broken propagation) is listed by its latest root and may show again on a later
page; :func:`get_trace` summarizes it by its earliest.

In the listing, the aggregates count the spans that start within :data:`AGGREGATE_SLACK` (5 minutes) of the
page's roots (from the earliest root start to the latest root end): DuckDB then skips the row groups outside
that time range instead of scanning the ``trace_id`` column of the whole store (at 1M spans written at 10,000
spans a minute: ~18 instead of ~55 ms). Children start inside their root span but for clock skew between hosts
or work left running after the root ended, seconds in practice; :func:`get_trace` counts every span whatever
its time.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

import duckdb
from pydantic import BaseModel, Field

from collector.annotations import AnnotationSummary, annotation_summaries, annotations_by_span
from collector.errors import NotFound
from collector.queries.filters import (
    TOKENS_SQL,
    Page,
    SpanFilters,
    Where,
    annotation_condition,
    as_utc,
    check_trace_id,
    decode_cursor,
    encode_cursor,
    finite,
    span_conditions,
)
from collector.queries.spans import SUMMARY_COLUMNS, SpanSummary, preview, span_summary
from collector.store.database import Store

__all__ = [
    "AGGREGATE_SLACK",
    "MAX_TREE_SPANS",
    "SEARCH_FIRST_WINDOW",
    "SpanNode",
    "TraceDetail",
    "TraceSummary",
    "get_trace",
    "list_traces",
]

MAX_TREE_SPANS = 10_000
AGGREGATE_SLACK = timedelta(minutes=5)
SEARCH_FIRST_WINDOW = 1 / 16  # of the stored time range, where a text search looks first
_ROOT_FIELDS = (
    "trace_id",
    "span_id",
    "project",
    "name",
    "kind",
    "start_time",
    "end_time",
    "latency_ms",
    "status_code",
    "status_message",
    "session_id",
    "user_id",
    "input_value",
    "output_value",
)
_COPIED_FIELDS = (
    "trace_id",
    "project",
    "name",
    "kind",
    "latency_ms",
    "status_message",
    "session_id",
    "user_id",
)
_AGGREGATE_FIELDS = (
    "trace_id",
    "span_count",
    "llm_span_count",
    "error_count",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cost",
    "models",
    "first_input",
    "last_output",
)
_AGGREGATES = f"""
SELECT trace_id, count(*), count(*) FILTER (WHERE kind = 'LLM'),
       count(*) FILTER (WHERE status_code = 'ERROR'),
       coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0), sum({TOKENS_SQL}), sum(cost),
       coalesce(list(DISTINCT model ORDER BY model) FILTER (WHERE model IS NOT NULL), []),
       arg_min(input_value, start_time) FILTER (WHERE input_value IS NOT NULL),
       arg_max(output_value, end_time) FILTER (WHERE output_value IS NOT NULL)
FROM spans WHERE trace_id IN (SELECT unnest(?::VARCHAR[])) {{window}} GROUP BY trace_id
"""
_IN_WINDOW = "AND start_time BETWEEN ?::TIMESTAMP - ?::INTERVAL AND ?::TIMESTAMP + ?::INTERVAL"
_ERROR_TRACES = "SELECT trace_id FROM spans WHERE status_code = 'ERROR'"


class TraceSummary(BaseModel):
    """A trace: its root span's identity, timing and status, plus aggregates over all its spans."""

    trace_id: str
    project: str
    root_span_id: str = Field(description="The root span (the earliest span when the root has not arrived).")
    name: str
    kind: str
    start_time: datetime
    end_time: datetime
    latency_ms: float = Field(description="The root span's latency.")
    status_code: str = Field(description="ERROR when any span is ERROR, else the root span's status.")
    status_message: str | None = None
    span_count: int
    llm_span_count: int
    error_count: int
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cost: float | None = Field(None, description="Summed cost; null when no span reports one.")
    models: list[str] = Field(default_factory=list)
    session_id: str | None = None
    user_id: str | None = None
    input_preview: str | None = None
    output_preview: str | None = None
    annotations: list[AnnotationSummary] = Field(default_factory=list)


class SpanNode(SpanSummary):
    """A span in a trace tree with its children, ordered by start time."""

    children: list[SpanNode] = Field(default_factory=list)


class TraceDetail(TraceSummary):
    """A trace with its spans as a tree; spans whose parent is missing are listed at the top level."""

    spans: list[SpanNode]
    truncated: bool = Field(False, description=f"True when the trace has more than {MAX_TREE_SPANS} spans.")


def list_traces(
    store: Store, filters: SpanFilters, *, limit: int = 50, cursor: str | None = None
) -> Page[TraceSummary]:
    """Traces matching every filter, newest first; ``cursor`` continues a previous page."""
    where = _root_where(filters)
    after: datetime | None = None
    if cursor is not None:
        after, (trace_id,) = decode_cursor(cursor, "trace", 1)
        where.add("start_time <= ? AND (start_time < ? OR trace_id < ?)", after, after, trace_id)

    def query(con: duckdb.DuckDBPyConnection) -> Page[TraceSummary]:
        if filters.q is None:
            keys = _top_keys(con, where, limit + 1)
        else:
            keys = _newest_first(con, filters, where, limit + 1, after)
        data = _summaries(con, _first_roots(_root_rows(con, keys[:limit])))
        last = data[-1] if len(keys) > limit and data else None
        next_cursor = encode_cursor("trace", last.start_time.replace(tzinfo=None), last.trace_id) if last else None
        return Page(data=data, next_cursor=next_cursor)

    return store.read(query)


def _top_keys(con: duckdb.DuckDBPyConnection, where: Where, count: int) -> list[tuple[Any, ...]]:
    """(trace id, span id, start time) of the ``count`` newest roots matching ``where``."""
    # Only the keys in the Top-N: DuckDB reads every selected column of every row that passes the filters
    # before it keeps the first n, and the previews (input/output values) of ~300,000 roots cost ~0.5 s.
    sql = (
        f"SELECT trace_id, span_id, start_time FROM spans WHERE {where.sql()} "
        "ORDER BY start_time DESC, trace_id DESC, span_id LIMIT ?"
    )
    return [tuple(row) for row in con.execute(sql, [*where.params, count]).fetchall()]


def _newest_first(
    con: duckdb.DuckDBPyConnection, filters: SpanFilters, where: Where, count: int, after: datetime | None
) -> list[tuple[Any, ...]]:
    """:func:`_top_keys` for a text search, which must read the text of every span it looks at: first in the
    newest :data:`SEARCH_FIRST_WINDOW` of the time range only — where a word found in ~1 % of spans has its
    page (at 1M spans ~70 instead of ~700 ms) — then, when that did not fill the page, in the rest. The two
    passes are disjoint in root start time, so their results are simply concatenated; a rare word pays one
    extra look at the newest part (~6 %)."""
    everywhere = Where(list(where.clauses), list(where.params))
    everywhere.extend(_matching_traces(filters, since=None))
    row = con.execute("SELECT min(start_time), max(start_time) FROM spans").fetchone()
    if row is None or row[0] is None:
        return []
    lower = max(row[0], filters.start) if filters.start is not None else row[0]
    upper = min(row[1], after) if after is not None else row[1]
    if filters.end is not None:
        upper = min(upper, filters.end)
    if upper <= lower:
        return _top_keys(con, everywhere, count)
    split = upper - (upper - lower) * SEARCH_FIRST_WINDOW
    newest = Where(list(where.clauses), list(where.params))
    newest.add("start_time >= ?", split)
    # a matching span of a root in the window started after the root (AGGREGATE_SLACK covers clock skew)
    newest.extend(_matching_traces(filters, since=split - AGGREGATE_SLACK))
    keys = _top_keys(con, newest, count)
    if len(keys) >= count:
        return keys
    everywhere.add("start_time < ?", split)
    return keys + _top_keys(con, everywhere, count - len(keys))


def _matching_traces(filters: SpanFilters, *, since: datetime | None) -> Where:
    """``trace_id IN (traces with a span matching the span-level filters)``, those spans started ≥ ``since``."""
    where = Where()
    any_span = span_conditions(filters)
    if since is not None:
        any_span.add("start_time >= ?", since)
    if any_span.clauses:
        where.add(f"trace_id IN (SELECT trace_id FROM spans WHERE {any_span.sql()})", *any_span.params)
    return where


def _root_rows(con: duckdb.DuckDBPyConnection, keys: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The ``_ROOT_FIELDS`` of the root spans ``keys`` (trace id, span id, start time), in the order of ``keys``."""
    if not keys:
        return []
    rows = con.execute(
        f"SELECT {', '.join(_ROOT_FIELDS)} FROM spans WHERE start_time BETWEEN ? AND ? "
        "AND trace_id IN (SELECT unnest(?::VARCHAR[])) AND span_id IN (SELECT unnest(?::VARCHAR[]))",
        [min(k[2] for k in keys), max(k[2] for k in keys), [k[0] for k in keys], [k[1] for k in keys]],
    ).fetchall()
    by_key = {(row[0], row[1]): row for row in rows}
    return [by_key[(k[0], k[1])] for k in keys if (k[0], k[1]) in by_key]


def _root_where(filters: SpanFilters) -> Where:
    where = Where(["parent_span_id IS NULL"])
    for name, clause in (
        ("project", "project = ?"),
        ("start", "start_time >= ?"),
        ("end", "start_time < ?"),
        ("min_latency_ms", "latency_ms >= ?"),
    ):
        value = getattr(filters, name)
        if value is not None:
            where.add(clause, value)
    if filters.status == "ERROR":
        where.add(f"trace_id IN ({_ERROR_TRACES})")
    elif filters.status is not None:
        where.add(f"status_code = ? AND trace_id NOT IN ({_ERROR_TRACES})", filters.status)
    if filters.q is None:  # with a text search, the passes of _newest_first add it
        where.extend(_matching_traces(filters, since=None))
    if filters.min_tokens is not None:
        where.add(
            f"trace_id IN (SELECT trace_id FROM spans GROUP BY trace_id HAVING sum({TOKENS_SQL}) >= ?)",
            filters.min_tokens,
        )
    where.extend(annotation_condition(filters, "trace_id"))
    return where


def _first_roots(rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    # A trace with several roots keeps the one met first in the page (the latest); see the module docstring.
    seen: set[str] = set()
    out = []
    for row in rows:
        root = dict(zip(_ROOT_FIELDS, row, strict=True))
        if root["trace_id"] not in seen:
            seen.add(root["trace_id"])
            root["input_preview"] = preview(root.pop("input_value"))
            root["output_preview"] = preview(root.pop("output_value"))
            out.append(root)
    return out


def _summaries(con: duckdb.DuckDBPyConnection, roots: list[dict[str, Any]]) -> list[TraceSummary]:
    trace_ids = [r["trace_id"] for r in roots]
    if not trace_ids:
        return []
    low, high = min(r["start_time"] for r in roots), max(r["end_time"] for r in roots)
    sql = _AGGREGATES.format(window=_IN_WINDOW)
    params = [trace_ids, low, AGGREGATE_SLACK, high, AGGREGATE_SLACK]
    aggregates = {r[0]: r for r in con.execute(sql, params).fetchall()}
    notes = annotation_summaries(con, trace_ids)
    return [_summary(root, aggregates[root["trace_id"]], notes.get(root["trace_id"], [])) for root in roots]


def _summary(root: dict[str, Any], aggregate: tuple[Any, ...], notes: list[AnnotationSummary]) -> TraceSummary:
    """Combine root fields (``_ROOT_FIELDS`` with previews) and an ``_AGGREGATES`` row."""
    values = dict(zip(_AGGREGATE_FIELDS, aggregate, strict=True))
    del values["trace_id"]
    first_input, last_output = values.pop("first_input"), values.pop("last_output")
    values["cost"] = finite(values["cost"])
    return TraceSummary(
        **{name: root[name] for name in _COPIED_FIELDS},
        **values,
        root_span_id=root["span_id"],
        start_time=as_utc(root["start_time"]),
        end_time=as_utc(root["end_time"]),
        status_code="ERROR" if values["error_count"] else root["status_code"],
        input_preview=root["input_preview"] or preview(first_input),
        output_preview=root["output_preview"] or preview(last_output),
        annotations=notes,
    )


def get_trace(store: Store, trace_id: str) -> TraceDetail:
    """One trace with its span tree; ``InvalidQuery`` for a malformed id, ``NotFound`` when unknown."""
    trace_id = check_trace_id(trace_id)
    return store.read(lambda con: _detail(con, trace_id))


def _detail(con: duckdb.DuckDBPyConnection, trace_id: str) -> TraceDetail:
    rows = con.execute(
        f"SELECT {SUMMARY_COLUMNS} FROM spans WHERE trace_id = ? ORDER BY start_time, span_id LIMIT ?",
        [trace_id, MAX_TREE_SPANS + 1],
    ).fetchall()
    if not rows:
        raise NotFound(f"no trace with id {trace_id}")
    notes = annotations_by_span(con, [trace_id])
    nodes = [SpanNode(**span_summary(r, notes.get((r[0], r[1]), []))) for r in rows[:MAX_TREE_SPANS]]
    root = next((n for n in nodes if n.parent_span_id is None), nodes[0])
    aggregate = con.execute(_AGGREGATES.format(window=""), [[trace_id]]).fetchone()
    assert aggregate is not None  # the trace has spans
    summary = _summary(
        root.model_dump(exclude={"annotations", "children"}),
        aggregate,
        annotation_summaries(con, [trace_id]).get(trace_id, []),
    )
    return TraceDetail(**summary.model_dump(), spans=build_tree(nodes), truncated=len(rows) > MAX_TREE_SPANS)


def build_tree(nodes: list[SpanNode]) -> list[SpanNode]:
    """Nest ``nodes`` (already sorted by start time) under their parents; return the top level.

    A span whose parent is absent is top-level; so is every span on a parent cycle (malformed input), so no
    span is ever dropped.
    """
    by_id = {n.span_id: n for n in nodes}
    children: dict[str, list[SpanNode]] = defaultdict(list)
    top: list[SpanNode] = []
    for node in nodes:
        parent = node.parent_span_id
        if parent is None or parent not in by_id or parent == node.span_id:
            top.append(node)
        else:
            children[parent].append(node)
    reached = _attach(top, children)
    for node in nodes:  # only cycles are left unreached
        if node.span_id not in reached:
            top.append(node)
            reached |= _attach([node], children, reached)
    top.sort(key=lambda n: (n.start_time, n.span_id))
    return top


def _attach(start: list[SpanNode], children: dict[str, list[SpanNode]], reached: set[str] | None = None) -> set[str]:
    seen = set(reached or ())
    stack = list(start)
    while stack:
        node = stack.pop()
        if node.span_id in seen:
            continue
        seen.add(node.span_id)
        kids = [k for k in children.get(node.span_id, []) if k.span_id not in seen]
        node.children = kids
        stack.extend(kids)
    return seen
