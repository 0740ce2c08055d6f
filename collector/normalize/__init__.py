"""Normalization: a span in any supported attribute convention → canonical LLM span fields.

Pure functions, no I/O, safe to call from several threads. The collector converts OTLP
attributes to plain Python values (str, bool, int, float, list, dict for kvlist; bytes either raw
or as base64 text) and calls:

- :func:`normalize_span` once per span → :class:`CanonicalFields`;
- :func:`messages_from_log_events` with the GenAI log records of one span (joined by trace and
  span id, in time order) when ``CanonicalFields.legacy_events`` is set → (inputs, outputs).

Conventions (``source_convention``), detected in this order when keys of several coexist:

1. ``"openinference"`` — ``openinference.span.kind`` is present;
2. ``"openllmetry"`` — ``llm.request.type``, ``traceloop.*`` or ``gen_ai.prompt.0.*`` /
   ``gen_ai.completion.0.*`` keys are present;
3. ``"otel_genai"`` — any other ``gen_ai.*`` key;
4. ``"none"`` — still fills ``input.value``/``output.value``, session, user, metadata, prompt.

Bad data never raises: each field group is filled independently, so a malformed attribute
costs only its own fields. When an attribute holding JSON does not parse, text fields keep the
raw text (``prompt_template``; unparsable message JSON becomes ``input_value``/``output_value``
so it stays searchable) and structured fields (``invocation_parameters``, ``prompt_variables``,
``metadata``, ``tools``) stay None — the raw attributes are stored next to these fields anyway.

Field semantics shared by all conventions (details in :mod:`.fallbacks` and each module):
``model`` is the requested model (what a replay must send), falling back to the response model;
``cost`` is the span's own cost when it carries one, else :func:`.pricing.estimate_cost` for LLM
and EMBEDDING spans; ``invocation_parameters`` may hold non-OpenAI request parameters such as
``top_k`` or ``repetition_penalty`` that OpenAI-compatible servers accept (a replay sends them
through ``extra_body``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from collector.normalize.attrs import SEQUENCE, as_str
from collector.normalize.canonical import CanonicalFields, guarded
from collector.normalize.fallbacks import apply_fallbacks
from collector.normalize.genai import normalize_genai
from collector.normalize.logs import messages_from_log_events
from collector.normalize.openinference import fill_metadata, normalize_openinference
from collector.normalize.openllmetry import normalize_openllmetry
from instrumentation import semconv as sc

__all__ = ["CanonicalFields", "detect_convention", "messages_from_log_events", "normalize_span"]

_log = logging.getLogger(__name__)

# Checked by dictionary lookup first; the prefix scan below runs only when none is present.
_OPENLLMETRY_KEYS = (
    sc.OPENLLMETRY_REQUEST_TYPE,
    sc.TRACELOOP_SPAN_KIND,
    "gen_ai.prompt.0.role",
    "gen_ai.prompt.0.content",
    "gen_ai.completion.0.role",
    "gen_ai.completion.0.content",
)
_OPENLLMETRY_PREFIXES = (sc.TRACELOOP_PREFIX, "gen_ai.prompt.0.", "gen_ai.completion.0.")


def detect_convention(attributes: Mapping[str, Any]) -> str:
    """The attribute convention of a span: openinference, openllmetry, otel_genai or none."""
    if sc.OI_SPAN_KIND in attributes:
        return "openinference"
    for key in _OPENLLMETRY_KEYS:
        if key in attributes:
            return "openllmetry"
    has_genai = False
    for key in attributes:
        if key.startswith(_OPENLLMETRY_PREFIXES):
            return "openllmetry"
        if not has_genai and key.startswith(sc.GEN_AI_PREFIX):
            has_genai = True
    return "otel_genai" if has_genai else "none"


def normalize_span(
    *,
    name: str,
    attributes: dict[str, Any],
    events: list[dict[str, Any]],
    resource: dict[str, Any],
    otel_kind: int,
) -> CanonicalFields:
    """Canonical LLM fields of one span; best effort, never raises.

    ``events`` are the span's events (``{"name", "time_unix_nano", "attributes"}``). ``name``,
    ``resource`` and ``otel_kind`` are accepted for conventions that need them; the supported
    ones carry everything in span attributes and events.
    """
    try:
        attrs: Mapping[str, Any] = attributes if isinstance(attributes, Mapping) else {}
        span_events = events if isinstance(events, SEQUENCE) else []
        convention = detect_convention(attrs)
        if convention == "openinference":
            fields = normalize_openinference(attrs)
        elif convention == "openllmetry":
            fields = normalize_openllmetry(attrs, span_events)
        elif convention == "otel_genai":
            fields = normalize_genai(attrs, span_events)
        else:
            fields = CanonicalFields()
            guarded(_fill_plain, fields, attrs)
        apply_fallbacks(fields, attrs)
        return fields
    except Exception:  # the guards above make this unreachable in practice; keep the promise
        _log.warning("could not normalize span %r", name, exc_info=True)
        return CanonicalFields()


def _fill_plain(fields: CanonicalFields, attributes: Mapping[str, Any]) -> None:
    """What a span of no known convention may still carry (OpenInference-style generic keys)."""
    fields.input_value = as_str(attributes.get(sc.OI_INPUT_VALUE))
    fields.output_value = as_str(attributes.get(sc.OI_OUTPUT_VALUE))
    fill_metadata(fields, attributes)
