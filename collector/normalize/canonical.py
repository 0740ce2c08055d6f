"""The canonical LLM span fields every convention is normalized into."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_log = logging.getLogger(__name__)

KINDS = frozenset(
    {
        "LLM",
        "CHAIN",
        "TOOL",
        "RETRIEVER",
        "EMBEDDING",
        "AGENT",
        "RERANKER",
        "GUARDRAIL",
        "EVALUATOR",
        "UNKNOWN",
    }
)


@dataclass(slots=True)
class CanonicalFields:
    """Convention-independent view of one span, as stored in the ``spans`` table.

    Messages are OpenAI chat messages (``role``, ``content``, ``tool_calls``, ``tool_call_id``,
    ``name``; output messages may add ``finish_reason``), keys with a None value omitted. Tools
    are OpenAI tool dicts. ``invocation_parameters`` uses OpenAI request names and never holds
    ``model``, ``messages``, ``tools`` or ``response_format`` (those have their own fields).
    Every field is best effort: None means "not present on the span", never "failed".
    """

    kind: str = "UNKNOWN"
    provider: str | None = None
    model: str | None = None
    input_messages: list[dict[str, Any]] | None = None
    output_messages: list[dict[str, Any]] | None = None
    invocation_parameters: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    response_format: Any = None
    prompt_name: str | None = None
    prompt_version: str | None = None
    prompt_template: str | None = None
    prompt_variables: dict[str, Any] | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    cost: float | None = None
    session_id: str | None = None
    user_id: str | None = None
    source_convention: str = "none"
    input_value: str | None = None
    output_value: str | None = None
    base_url: str | None = None
    metadata: dict[str, Any] | None = None
    legacy_events: bool = False


Step = Callable[[CanonicalFields, Mapping[str, Any]], None]
"""One fill step: reads span attributes, sets some fields in place."""


def run_steps(steps: Sequence[Step], fields: CanonicalFields, attributes: Mapping[str, Any]) -> None:
    """Run fill steps in order, each isolated as in :func:`guarded` (one frame less per step)."""
    for step in steps:
        try:
            step(fields, attributes)
        except Exception:
            _log.debug("normalize step %s failed", getattr(step, "__name__", step), exc_info=True)


def guarded(step: Callable[..., None], fields: CanonicalFields, *args: Any) -> None:
    """Run one fill step; a failure leaves its fields unset instead of losing the whole span.

    Normalization sees arbitrary sender data, so each step is isolated: a surprise in, say, the
    tool definitions must not cost the span its messages or token counts.
    """
    try:
        step(fields, *args)
    except Exception:
        _log.debug("normalize step %s failed", getattr(step, "__name__", step), exc_info=True)
