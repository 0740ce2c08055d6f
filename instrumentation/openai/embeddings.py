"""``embeddings.create``: a GenAI ``embeddings`` span (model, parameters, dimensions, usage; no input text)."""

from __future__ import annotations

from typing import Any

from instrumentation import semconv as sc
from instrumentation.openai.chat import usage_attributes
from instrumentation.openai.request import (
    RequestSnapshot,
    begin,
    context_attributes,
    invocation_parameters,
    to_json,
)
from instrumentation.redaction import ContentPolicy

__all__ = ["EmbeddingsOperation", "EmbeddingsReply"]

_LEFT_OUT = frozenset({"extra_headers", "extra_query", "timeout", "input"})  # transport options, and the texts
_OWN_FIELDS = frozenset({"model", "input"})


class EmbeddingsOperation:
    """How an embeddings call is recorded."""

    def start(
        self, resource: Any, kwargs: dict[str, Any], policy: ContentPolicy
    ) -> tuple[str, dict[str, Any], RequestSnapshot]:
        return begin("embeddings", resource, kwargs, left_out=_LEFT_OUT, prompt_source=None, capture=policy.capture)

    def request_attributes(self, request: RequestSnapshot, policy: ContentPolicy) -> dict[str, Any]:
        content = request.content()
        params = invocation_parameters(content["arguments"], _OWN_FIELDS)
        attributes: dict[str, Any] = {}
        if params:
            attributes[sc.SPANLAB_REQUEST_INVOCATION_PARAMETERS] = to_json(params)
        encoding = params.get("encoding_format")
        if isinstance(encoding, str):
            attributes[sc.GEN_AI_REQUEST_ENCODING_FORMATS] = [encoding]
        dimensions = params.get("dimensions")
        if isinstance(dimensions, int) and not isinstance(dimensions, bool):
            attributes[sc.GEN_AI_EMBEDDINGS_DIMENSION_COUNT] = dimensions
        attributes.update(context_attributes(request, content, policy))
        return attributes

    def reply(self, result: Any) -> EmbeddingsReply | None:
        """The reply of a ``CreateEmbeddingResponse`` (anything else records nothing)."""
        data = getattr(result, "data", None)
        return EmbeddingsReply(result, data) if isinstance(data, list) else None

    def stream_recorder(self) -> None:
        return None


class EmbeddingsReply:
    """Response model, usage and the vectors' size, copied when the call returns."""

    __slots__ = ("attributes_at_end",)
    error: str | None = None

    def __init__(self, result: Any, data: list[Any]) -> None:
        attributes = usage_attributes(getattr(result, "usage", None))
        model = getattr(result, "model", None)
        if isinstance(model, str):
            attributes[sc.GEN_AI_RESPONSE_MODEL] = model
        vector = getattr(data[0], "embedding", None) if data else None
        if isinstance(vector, list) and vector:
            attributes[sc.GEN_AI_EMBEDDINGS_DIMENSION_COUNT] = len(vector)
        self.attributes_at_end = attributes  # ints and strings: nothing left to copy

    def attributes(self, policy: ContentPolicy) -> dict[str, Any]:
        return self.attributes_at_end
