"""Promotion of spans (typically failing ones) into a dataset as examples.

Selection (:class:`PromotionFilters`, all combined with AND): project, start time range, status, span kind
(``LLM`` unless explicit ``span_ids`` are given), model, prompt name/version, explicit span ids, and two
annotation tests — some annotation (named ``annotation_name`` when given) with a score below ``score_below``,
and some annotation (same name rule) whose label is in ``labels``. Spans are taken oldest first, at most
``limit``.

Mapping of a span to an example:

- ``input``: the span's prompt variables when known, else ``{"messages": input messages}``, else
  ``{"input": input value}``; a span with none of these is skipped (and reported).
- ``expected_output``: the *correction carried by an annotation*: the most recent annotation of the span
  whose ``metadata`` has an ``expected_output`` key (or else a ``correction`` key) gives that value;
  otherwise null, for labeling later.
- ``metadata``: ``source`` (trace and span ids, project, span name, start time, status, and an API link),
  ``original_output`` (the last output message's text, else the output value), ``original_output_messages``,
  ``model``, ``provider``, ``prompt`` (name, version, template when known), ``invocation_parameters`` and
  ``annotations`` (name, score, label, explanation, annotator kind, time).
- ``source_span_id`` / ``source_trace_id``: the link back to the span.

Promotion is idempotent per (dataset, span): a span whose example is already in the dataset's current version
is not added again. All promoted examples land in one new dataset version (none when nothing is new).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import duckdb
import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from collector.annotations import Annotation, annotations_by_span
from collector.queries.filters import Status, Where, check_span_id, invalid, to_utc
from collector.store.database import Store
from replay.datasets.models import Example, ExampleInput
from replay.datasets.store import DatasetStore
from replay.errors import NotFound

__all__ = ["MAX_PROMOTE", "PromotionFilters", "PromotionResult", "SkippedSpan", "promote_spans", "span_example"]

MAX_PROMOTE = 1000
_CORRECTION_KEYS = ("expected_output", "correction")
_SPAN_COLUMNS = (
    "trace_id, span_id, project, name, start_time, status_code, status_message, provider, model, "
    "input_messages, output_messages, input_value, output_value, invocation_parameters, prompt_name, "
    "prompt_version, prompt_template, prompt_variables"
)


class PromotionFilters(BaseModel):
    """Which spans to promote; see the module docstring. At least one filter is required."""

    model_config = ConfigDict(extra="forbid")

    project: str | None = Field(None, min_length=1, max_length=200, description="Project name (exact).")
    start: datetime | None = Field(None, description="Spans starting at or after this time (ISO 8601).")
    end: datetime | None = Field(None, description="Spans starting before this time (ISO 8601).")
    status: Status | None = Field(None, description="OK, ERROR or UNSET.")
    kind: str | None = Field(None, min_length=1, max_length=50, description="Span kind (default LLM).")
    model: str | None = Field(None, min_length=1, max_length=500, description="Model name (exact).")
    prompt_name: str | None = Field(None, min_length=1, max_length=500, description="Prompt name (exact).")
    prompt_version: str | None = Field(None, min_length=1, max_length=200, description="Prompt version.")
    span_ids: list[str] | None = Field(None, min_length=1, max_length=MAX_PROMOTE, description="Only these spans.")
    annotation_name: str | None = Field(None, min_length=1, max_length=200, description="Annotation tested.")
    score_below: float | None = Field(None, allow_inf_nan=False, description="Some annotation scores below this.")
    labels: list[str] | None = Field(None, min_length=1, max_length=100, description="Some annotation has one.")
    limit: int = Field(100, ge=1, le=MAX_PROMOTE, description=f"At most this many spans (1 to {MAX_PROMOTE}).")

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else to_utc(value)

    @field_validator("span_ids")
    @classmethod
    def _span_ids(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        try:
            return list(dict.fromkeys(check_span_id(v) for v in value))
        except Exception as exc:
            raise invalid(str(exc)) from None

    @model_validator(mode="after")
    def _sensible(self) -> PromotionFilters:
        if self.start and self.end and self.start >= self.end:
            raise invalid("start must be earlier than end")
        if self.annotation_name is not None and self.score_below is None and self.labels is None:
            raise invalid("annotation_name needs score_below or labels")
        selecting = ("project", "start", "end", "status", "model", "prompt_name", "prompt_version", "span_ids")
        if not any(getattr(self, f) is not None for f in (*selecting, "score_below", "labels")):
            raise invalid(
                "give at least one filter (status, score_below, labels, span_ids, project, start/end, model, "
                "prompt_name/prompt_version)"
            )
        return self


class SkippedSpan(BaseModel):
    span_id: str
    trace_id: str
    reason: str


class PromotionResult(BaseModel):
    """What a promotion did: the dataset version made (or the current one when nothing was new)."""

    dataset: str
    version: int
    matched: int = Field(description="Spans selected by the filters (at most limit).")
    more: bool = Field(description="More spans matched than limit.")
    added: list[Example]
    already_present: list[str] = Field(description="Span ids whose example the dataset already holds.")
    skipped: list[SkippedSpan] = Field(description="Spans that could not make an example, with why.")


def promote_spans(store: Store, dataset: str, filters: PromotionFilters) -> PromotionResult:
    """Promote the spans ``filters`` select into ``dataset`` (created when missing) in one new version.

    Raises :class:`NotFound` when explicit ``span_ids`` name spans the store does not hold; nothing is
    stored then.
    """
    spans, annotations, more = store.read(lambda con: _select(con, filters))
    if filters.span_ids:
        missing = sorted(set(filters.span_ids) - {span["span_id"] for span in spans})
        if missing:
            raise NotFound(f"no span matching the filters with id(s) {', '.join(missing)}")
    examples: list[ExampleInput] = []
    skipped: list[SkippedSpan] = []
    for span in spans:
        example = span_example(span, annotations.get((span["trace_id"], span["span_id"]), []))
        if example is None:
            reason = "the span has no prompt variables, input messages or input value"
            skipped.append(SkippedSpan(span_id=span["span_id"], trace_id=span["trace_id"], reason=reason))
        else:
            examples.append(example)
    datasets = DatasetStore(store)
    if examples:
        note = f"promoted {len(examples)} span{'s' if len(examples) != 1 else ''}"
        change = datasets.add_examples(dataset, examples, note=note, create=True, skip_known_spans=True)
        version, added = change.version, change.examples
    else:
        version, added = _version_or_zero(datasets, dataset), []
    added_ids = {e.source_span_id for e in added}
    present = [e.source_span_id for e in examples if e.source_span_id and e.source_span_id not in added_ids]
    return PromotionResult(
        dataset=dataset,
        version=version,
        matched=len(spans),
        more=more,
        added=added,
        already_present=present,
        skipped=skipped,
    )


def span_example(span: dict[str, Any], annotations: list[Annotation]) -> ExampleInput | None:
    """The example a span (a row of :data:`_SPAN_COLUMNS`, JSON decoded) and its annotations make."""
    variables, messages = span["prompt_variables"], span["input_messages"]
    if isinstance(variables, dict) and variables:
        input_: dict[str, Any] = variables
    elif messages:
        input_ = {"messages": messages}
    elif span["input_value"]:
        input_ = {"input": span["input_value"]}
    else:
        return None
    return ExampleInput(
        input=input_,
        expected_output=_correction(annotations),
        metadata=_metadata(span, annotations),
        source_span_id=span["span_id"],
        source_trace_id=span["trace_id"],
    )


# -- internals ----------------------------------------------------------------------------------------------
def _select(
    con: duckdb.DuckDBPyConnection, filters: PromotionFilters
) -> tuple[list[dict[str, Any]], dict[tuple[str, str], list[Annotation]], bool]:
    where = _where(filters)
    rows = con.execute(
        f"SELECT {_SPAN_COLUMNS} FROM spans WHERE {where.sql()} ORDER BY start_time, trace_id, span_id LIMIT ?",
        [*where.params, filters.limit + 1],
    ).fetchall()
    names = [c.strip() for c in _SPAN_COLUMNS.split(",")]
    spans = [dict(zip(names, row, strict=True)) for row in rows[: filters.limit]]
    for span in spans:
        for column in ("input_messages", "output_messages", "invocation_parameters", "prompt_variables"):
            span[column] = None if span[column] is None else orjson.loads(span[column])
    annotations = annotations_by_span(con, sorted({s["trace_id"] for s in spans}))
    return spans, annotations, len(rows) > filters.limit


def _where(filters: PromotionFilters) -> Where:
    where = Where()
    for column in ("project", "model", "prompt_name", "prompt_version"):
        if getattr(filters, column) is not None:
            where.add(f"{column} = ?", getattr(filters, column))
    if filters.status is not None:
        where.add("status_code = ?", filters.status)
    kind = filters.kind or (None if filters.span_ids else "LLM")
    if kind is not None:
        where.add("kind = ?", kind)
    if filters.start is not None:
        where.add("start_time >= ?", filters.start)
    if filters.end is not None:
        where.add("start_time < ?", filters.end)
    if filters.span_ids:
        where.add("span_id IN (SELECT unnest(?::VARCHAR[]))", filters.span_ids)
    if filters.score_below is not None:
        _annotated(where, filters.annotation_name, "score < ?", filters.score_below)
    if filters.labels is not None:
        _annotated(where, filters.annotation_name, "label IN (SELECT unnest(?::VARCHAR[]))", filters.labels)
    return where


def _annotated(where: Where, name: str | None, test: str, value: Any) -> None:
    named = "name = ? AND " if name is not None else ""
    params = [name, value] if name is not None else [value]
    where.add(f"(trace_id, span_id) IN (SELECT trace_id, span_id FROM annotations WHERE {named}{test})", *params)


def _correction(annotations: list[Annotation]) -> Any:
    for annotation in reversed(annotations):  # oldest first: the most recent correction wins
        metadata = annotation.metadata or {}
        for key in _CORRECTION_KEYS:
            if key in metadata:
                return metadata[key]
    return None


def _metadata(span: dict[str, Any], annotations: list[Annotation]) -> dict[str, Any]:
    trace_id, span_id = span["trace_id"], span["span_id"]
    prompt = None
    if span["prompt_name"] or span["prompt_template"]:
        prompt = {"name": span["prompt_name"], "version": span["prompt_version"], "template": span["prompt_template"]}
    return {
        "source": {
            "trace_id": trace_id,
            "span_id": span_id,
            "project": span["project"],
            "span_name": span["name"],
            "start_time": to_utc(span["start_time"]).isoformat() + "Z",
            "status_code": span["status_code"],
            "status_message": span["status_message"],
            "link": f"/api/v1/spans/{span_id}?trace_id={trace_id}",
        },
        "original_output": _output_text(span),
        "original_output_messages": span["output_messages"],
        "model": span["model"],
        "provider": span["provider"],
        "prompt": prompt,
        "invocation_parameters": span["invocation_parameters"],
        "annotations": [
            {
                "name": a.name,
                "score": a.score,
                "label": a.label,
                "explanation": a.explanation,
                "annotator_kind": a.annotator_kind,
                "created_at": a.created_at.isoformat(),
            }
            for a in annotations
        ],
    }


def _output_text(span: dict[str, Any]) -> Any:
    messages = span["output_messages"] or []
    if messages and isinstance(messages[-1], dict) and messages[-1].get("content") is not None:
        return messages[-1]["content"]
    return span["output_value"]


def _version_or_zero(datasets: DatasetStore, name: str) -> int:
    try:
        return datasets.get_dataset(name).version
    except NotFound:
        return 0
