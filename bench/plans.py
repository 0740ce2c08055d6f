"""A planned span: everything both exporters (the OTel SDK and the raw protobuf builder) need to emit it."""

from __future__ import annotations

from dataclasses import dataclass

from bench.calls import Attributes, LogEvent

__all__ = ["EventPlan", "SpanPlan"]


@dataclass(frozen=True, slots=True)
class EventPlan:
    name: str
    time_ns: int
    attributes: Attributes


@dataclass(slots=True)
class SpanPlan:
    """One span as it will be exported. ``kind`` and ``status`` use the SDK's numbering (INTERNAL = 0)."""

    trace_id: bytes
    span_id: bytes
    parent_span_id: bytes | None
    scope: str
    name: str
    kind: int
    start_ns: int
    end_ns: int
    attributes: Attributes
    status: int = 0
    status_message: str = ""
    events: tuple[EventPlan, ...] = ()
    logs: tuple[LogEvent, ...] = ()
    convention: str = ""
    role: str = ""  # agent | llm | tool
