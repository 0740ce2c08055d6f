"""Request-side span attributes shared by every operation: parameters, endpoint, prompt and request context.

Parameters are recorded twice, on purpose: the GenAI ``gen_ai.request.*`` scalars that any OTel
backend understands, and ``spanlab.request.invocation_parameters`` — every parameter exactly as the
application passed it (OpenAI names, ``extra_body`` keys merged in) — which is what a replay sends.
Transport options (``extra_headers``, ``extra_query``, ``timeout``) are never recorded: headers and
query strings are where credentials travel.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from instrumentation import semconv as sc
from instrumentation.context import current_attributes, prompt_for
from instrumentation.openai.call import guard
from instrumentation.openai.messages import as_dict
from instrumentation.redaction import ContentPolicy

try:  # orjson is several times faster; the standard library does the same job without it
    import orjson

    def to_json(value: Any) -> str:
        """Compact JSON text; pydantic objects as the ``openai`` client sends them, other oddities as text."""
        return orjson.dumps(value, default=_jsonable).decode()

except ImportError:  # pragma: no cover - orjson is a dependency of the spanlab distribution

    def to_json(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_jsonable)


__all__ = [
    "TRANSPORT_OPTIONS",
    "context_attributes",
    "endpoint_attributes",
    "given",
    "invocation_parameters",
    "materialize",
    "request_scalars",
    "set_sentinels",
    "to_json",
]

TRANSPORT_OPTIONS = frozenset({"extra_headers", "extra_query", "extra_body", "timeout"})
_sentinels: tuple[type, ...] = ()


def _jsonable(value: Any) -> Any:
    converted = as_dict(value)
    if converted is not value:
        return converted
    if isinstance(value, type) and hasattr(value, "model_json_schema"):
        return value.model_json_schema()  # a pydantic class passed as a parameter
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def set_sentinels(types: tuple[type, ...]) -> None:
    """The ``openai`` package's "not given" marker types (``Omit``, ``NotGiven``), set by the instrumentor."""
    global _sentinels
    _sentinels = types


def given(value: Any) -> bool:
    """Whether a keyword argument carries a value (None counts: it is sent as JSON null)."""
    return not isinstance(value, _sentinels)


def invocation_parameters(kwargs: Mapping[str, Any], own_fields: frozenset[str]) -> dict[str, Any]:
    """Every given request parameter except ``own_fields`` and transport options, ``extra_body`` merged in."""
    params = {
        key: value
        for key, value in kwargs.items()
        if key not in own_fields and key not in TRANSPORT_OPTIONS and given(value)
    }
    extra = kwargs.get("extra_body")
    if isinstance(extra, Mapping):
        params.update((key, value) for key, value in extra.items() if key not in own_fields)
    return params


# (keyword argument, attribute, type) of the GenAI request scalars; the first given keyword wins.
_SCALARS: tuple[tuple[str, str, type], ...] = (
    ("temperature", sc.GEN_AI_REQUEST_TEMPERATURE, float),
    ("top_p", sc.GEN_AI_REQUEST_TOP_P, float),
    ("max_tokens", sc.GEN_AI_REQUEST_MAX_TOKENS, int),
    ("max_completion_tokens", sc.GEN_AI_REQUEST_MAX_TOKENS, int),
    ("max_output_tokens", sc.GEN_AI_REQUEST_MAX_TOKENS, int),
    ("seed", sc.GEN_AI_REQUEST_SEED, int),
    ("frequency_penalty", sc.GEN_AI_REQUEST_FREQUENCY_PENALTY, float),
    ("presence_penalty", sc.GEN_AI_REQUEST_PRESENCE_PENALTY, float),
    ("n", sc.GEN_AI_REQUEST_CHOICE_COUNT, int),
    ("reasoning_effort", sc.GEN_AI_REQUEST_REASONING_LEVEL, str),
    ("service_tier", sc.OPENAI_REQUEST_SERVICE_TIER, str),
    ("stream", sc.GEN_AI_REQUEST_STREAM, bool),
)


_SCALAR_KEYS = frozenset(key for key, _, _ in _SCALARS)
_SCALAR_RANK = {key: rank for rank, (key, _, _) in enumerate(_SCALARS)}


def request_scalars(params: Mapping[str, Any]) -> dict[str, Any]:
    """``gen_ai.request.*`` attributes of the parameters that have one (values of another type are skipped)."""
    attributes: dict[str, Any] = {}
    # A call passes a few of them: find those at C speed, then keep the table's order (its first given keyword wins).
    for rank in sorted(_SCALAR_RANK[key] for key in _SCALAR_KEYS.intersection(params)):
        key, attribute, kind = _SCALARS[rank]
        value = params[key]
        if value is None or attribute in attributes or isinstance(value, bool) is not (kind is bool):
            continue
        if kind is float and isinstance(value, int | float):
            attributes[attribute] = float(value)
        elif isinstance(value, kind):
            attributes[attribute] = value
    stop = params.get("stop")
    if isinstance(stop, str):
        attributes[sc.GEN_AI_REQUEST_STOP_SEQUENCES] = [stop]
    elif isinstance(stop, list | tuple) and all(isinstance(item, str) for item in stop):
        attributes[sc.GEN_AI_REQUEST_STOP_SEQUENCES] = list(stop)
    return attributes


@lru_cache(maxsize=64)
def _endpoint(base_url: str) -> tuple[tuple[str, Any], ...]:
    parts = urlsplit(base_url)
    if not parts.hostname:
        return ()
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    port = parts.port
    netloc = f"{host}:{port}" if port is not None else host
    clean = f"{parts.scheme}://{netloc}{parts.path.rstrip('/')}"  # no user:password@, query or fragment
    default_port = 443 if parts.scheme == "https" else 80
    return (
        (sc.SERVER_ADDRESS, parts.hostname),
        (sc.SERVER_PORT, port if port is not None else default_port),
        (sc.SPANLAB_REQUEST_BASE_URL, clean),
    )


_by_url: dict[int, tuple[object, dict[str, Any]]] = {}  # id of a client's URL object → (the object, attributes)


def endpoint_attributes(resource: Any) -> dict[str, Any]:
    """``server.address``/``server.port`` and the credential-free base URL of a resource's client."""
    client = getattr(resource, "_client", None)
    url = getattr(client, "_base_url", None)
    known = _by_url.get(id(url)) if url is not None else None
    if known is not None and known[0] is url:  # the object is kept alive in the entry, so its id is not reused
        return known[1]
    base_url = getattr(client, "base_url", None)
    if base_url is None:
        return {}
    attributes = dict(_endpoint(str(base_url)))
    if url is not None:
        if len(_by_url) >= 64:
            _by_url.clear()
        _by_url[id(url)] = (url, attributes)
    return attributes


def context_attributes(messages: Any, policy: ContentPolicy) -> dict[str, Any]:
    """The prompt (from ``using_prompt`` or a ``PromptMessages`` argument) and the ``using_attributes`` context."""
    attributes: dict[str, Any] = {}
    prompt = prompt_for(messages)
    if prompt is not None:
        attributes[sc.SPANLAB_PROMPT_NAME] = prompt.name
        if prompt.version is not None:
            attributes[sc.SPANLAB_PROMPT_VERSION] = prompt.version
        if prompt.template is not None:
            template = prompt.template
            attributes[sc.SPANLAB_PROMPT_TEMPLATE] = template if isinstance(template, str) else to_json(template)
        if prompt.variables is not None and policy.capture:
            variables = guard(policy.value, prompt.variables)  # a failing redactor: no variables
            if variables is not None:
                attributes[sc.SPANLAB_PROMPT_VARIABLES] = to_json(variables)
    context = current_attributes()
    if context.session_id is not None:
        attributes[sc.SESSION_ID] = context.session_id
    if context.user_id is not None:
        attributes[sc.USER_ID] = context.user_id
    if context.metadata:
        attributes[sc.OI_METADATA] = to_json(context.metadata)
    if context.tags:
        attributes[sc.OI_TAG_TAGS] = list(context.tags)
    return attributes


def materialize(kwargs: dict[str, Any], keys: Iterable[str]) -> None:
    """Turn one-shot iterables (generators) among ``keys`` into lists, in place, so recording them
    does not consume what the ``openai`` client is about to send."""
    for key in keys:
        value = kwargs.get(key)
        if value is not None and not isinstance(value, list | tuple | str | dict) and given(value):
            with contextlib.suppress(TypeError):  # not iterable: the client will report it
                kwargs[key] = list(value)
