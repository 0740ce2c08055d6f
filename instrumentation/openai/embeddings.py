"""``embeddings.create``: a GenAI ``embeddings`` span (model, parameters, dimensions, usage; no input text)."""

from __future__ import annotations

from typing import Any

from instrumentation import semconv as sc
from instrumentation.openai.call import LLMCall
from instrumentation.openai.chat import provider_of, usage_attributes
from instrumentation.openai.request import context_attributes, endpoint_attributes, invocation_parameters, to_json
from instrumentation.redaction import ContentPolicy

__all__ = ["EmbeddingsOperation"]

_OWN_FIELDS = frozenset({"model", "input"})


class EmbeddingsOperation:
    """How an embeddings call is recorded."""

    operation = "embeddings"
    iterable_arguments = ()

    def request(self, resource: Any, kwargs: dict[str, Any], policy: ContentPolicy) -> tuple[str, dict[str, Any]]:
        model = kwargs.get("model")
        attributes: dict[str, Any] = {
            sc.GEN_AI_OPERATION_NAME: "embeddings",
            sc.GEN_AI_PROVIDER_NAME: provider_of(resource),
        }
        if isinstance(model, str):
            attributes[sc.GEN_AI_REQUEST_MODEL] = model
        attributes.update(endpoint_attributes(resource))
        params = invocation_parameters(kwargs, _OWN_FIELDS)
        if params:
            attributes[sc.SPANLAB_REQUEST_INVOCATION_PARAMETERS] = to_json(params)
        encoding = params.get("encoding_format")
        if isinstance(encoding, str):
            attributes[sc.GEN_AI_REQUEST_ENCODING_FORMATS] = [encoding]
        dimensions = params.get("dimensions")
        if isinstance(dimensions, int) and not isinstance(dimensions, bool):
            attributes[sc.GEN_AI_EMBEDDINGS_DIMENSION_COUNT] = dimensions
        attributes.update(context_attributes(None, policy))
        return f"embeddings {model}" if isinstance(model, str) else "embeddings", attributes

    def response(self, call: LLMCall, result: Any) -> None:
        """Record a ``CreateEmbeddingResponse``: response model, usage, and the vectors' size if not requested."""
        data = getattr(result, "data", None)
        if not isinstance(data, list):
            return
        attributes = usage_attributes(getattr(result, "usage", None))
        model = getattr(result, "model", None)
        if isinstance(model, str):
            attributes[sc.GEN_AI_RESPONSE_MODEL] = model
        vector = getattr(data[0], "embedding", None) if data else None
        if isinstance(vector, list) and vector:
            attributes.setdefault(sc.GEN_AI_EMBEDDINGS_DIMENSION_COUNT, len(vector))
        call.set_attributes(attributes)

    def stream_recorder(self) -> None:
        return None
