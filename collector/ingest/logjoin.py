"""Fill the messages of legacy OTel GenAI spans from their log events (``gen_ai.user.message``, ``gen_ai.choice``…).

The official ``opentelemetry-instrumentation-openai-v2`` sends prompt and completion content as OTLP log
records that carry the span's ids, on ``/v1/logs``, so a span and its content arrive separately and in either
order. After each insert the writer calls :func:`join_log_messages` with the span keys touched by the batch;
spans marked ``legacy_events`` that have log events get their messages rebuilt from all of them.
"""

from __future__ import annotations

from typing import Any

import duckdb
import orjson
import pyarrow as pa

from collector.ingest.rows import search_text
from collector.normalize import CanonicalFields, messages_from_log_events
from collector.normalize.messages import first_output_text, last_user_text

__all__ = ["join_log_messages"]

_QUERY = """
SELECT s.trace_id, s.span_id, s.name,
       list(struct_pack(event_name := l.event_name, t := epoch_ns(l.time), body := l.body,
                        attributes := l.attributes) ORDER BY l.time, l.log_id) AS events
FROM _join_keys k
JOIN spans s ON s.trace_id = k.trace_id AND s.span_id = k.span_id
JOIN logs l ON l.trace_id = k.trace_id AND l.span_id = k.span_id
WHERE s.legacy_events
GROUP BY s.trace_id, s.span_id, s.name
"""

_UPDATE = """
UPDATE spans SET input_messages = u.input_messages, output_messages = u.output_messages,
                 input_value = coalesce(spans.input_value, u.input_value),
                 output_value = coalesce(spans.output_value, u.output_value),
                 search_text = u.search_text
FROM _join_updates u
WHERE spans.trace_id = u.trace_id AND spans.span_id = u.span_id
"""


def join_log_messages(con: duckdb.DuckDBPyConnection, keys: set[tuple[str, str]]) -> int:
    """Rebuild messages for the given span keys from their log events; return how many spans changed."""
    trace_ids, span_ids = zip(*keys, strict=True)
    con.register("_join_keys", pa.table({"trace_id": list(trace_ids), "span_id": list(span_ids)}))
    try:
        rows = con.execute(_QUERY).fetchall()
    finally:
        con.unregister("_join_keys")
    if not rows:
        return 0
    updates: dict[str, list[Any]] = {
        name: []
        for name in (
            "trace_id",
            "span_id",
            "input_messages",
            "output_messages",
            "input_value",
            "output_value",
            "search_text",
        )
    }
    for trace_id, span_id, name, events in rows:
        inputs, outputs = messages_from_log_events([_event(e) for e in events])
        updates["trace_id"].append(trace_id)
        updates["span_id"].append(span_id)
        updates["input_messages"].append(_json(inputs))
        updates["output_messages"].append(_json(outputs))
        updates["input_value"].append(last_user_text(inputs))
        updates["output_value"].append(first_output_text(outputs))
        updates["search_text"].append(_search_text(name, inputs, outputs))
    con.register("_join_updates", pa.table(updates))
    try:
        con.execute(_UPDATE)
    finally:
        con.unregister("_join_updates")
    return len(rows)


def _event(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "event_name": row["event_name"],
        "time_unix_nano": row["t"],
        "body": orjson.loads(row["body"]) if row["body"] is not None else None,
        "attributes": orjson.loads(row["attributes"]) if row["attributes"] is not None else {},
    }


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value, default=str).decode()


def _search_text(name: str, inputs: list[dict[str, Any]] | None, outputs: list[dict[str, Any]] | None) -> str:
    return search_text(CanonicalFields(input_messages=inputs, output_messages=outputs), name)
