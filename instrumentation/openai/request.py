"""Request-side span attributes shared by every operation: the snapshot taken when a call starts, and what
is made of it later.

When a call starts, on the application's thread, :func:`begin` fixes what the span will say about the
request: the keyword arguments to record, serialized to JSON at once (a message list the application
appends to after the call, or a dict it reuses, cannot change what is recorded), the caller's prompt and
request context (context variables, which only the caller's thread sees), the client's base URL, and a
pydantic class given as a structured-output schema (kept as is: classes do not change, and turning one
into its JSON schema is slow). The attributes are made from the snapshot later, on the background thread
when spans are exported in batches (:mod:`.tracing`). :func:`begin` also makes the attributes a sampler
may look at.

Parameters are recorded twice, on purpose: the GenAI ``gen_ai.request.*`` scalars that any OTel
backend understands, and ``spanlab.request.invocation_parameters`` — every parameter exactly as the
application passed it (OpenAI names, ``extra_body`` keys merged in) — which is what a replay sends.
Transport options (``extra_headers``, ``extra_query``, ``timeout``) are never recorded: headers and
query strings are where credentials travel.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache, partial
from typing import Any
from urllib.parse import urlsplit

from instrumentation import semconv as sc
from instrumentation.context import PromptInfo, RequestAttributes, current_attributes, prompt_for
from instrumentation.openai.call import guard
from instrumentation.openai.messages import as_dict
from instrumentation.redaction import ContentPolicy

__all__ = [
    "TRANSPORT_OPTIONS",
    "RequestSnapshot",
    "begin",
    "context_attributes",
    "endpoint_attributes",
    "from_json",
    "given",
    "invocation_parameters",
    "materialize",
    "provider_of",
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


try:  # orjson is several times faster; the standard library does the same job without it
    import orjson

    _OPTIONS = orjson.OPT_NON_STR_KEYS  # {50256: -100} is sent as {"50256": -100}; record it the same way

    def to_json(value: Any) -> str:
        """Compact JSON text; pydantic objects as the ``openai`` client sends them, other oddities as text."""
        return orjson.dumps(value, default=_jsonable, option=_OPTIONS).decode()

    # JSON bytes of a request snapshot. Keys that are not strings are rare and make orjson slower: they get
    # the second one, after a TypeError.
    _dump: Callable[[Any], bytes] = partial(orjson.dumps, default=_jsonable)
    _dump_any_keys: Callable[[Any], bytes] = partial(orjson.dumps, default=_jsonable, option=_OPTIONS)

    def from_json(document: bytes) -> Any:
        """The value of JSON text."""
        return orjson.loads(document)

except ImportError:  # pragma: no cover - orjson is a dependency of the spanlab distribution

    def to_json(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_jsonable)

    def _dump(value: Any) -> bytes:
        return to_json(value).encode()

    _dump_any_keys = _dump

    def from_json(document: bytes) -> Any:
        return json.loads(document)


def set_sentinels(types: tuple[type, ...]) -> None:
    """The ``openai`` package's "not given" marker types (``Omit``, ``NotGiven``), set by the instrumentor."""
    global _sentinels
    _sentinels = types


def given(value: Any) -> bool:
    """Whether a keyword argument carries a value (None counts: it is sent as JSON null)."""
    return not isinstance(value, _sentinels)


# -- at the start of a call, on the application's thread ------------------------------------------------------


class RequestSnapshot:
    """What a call's request attributes are made from, fixed when the call starts (see the module docstring)."""

    __slots__ = ("base_url", "context", "document", "prompt", "schema")

    def __init__(
        self,
        document: bytes,
        prompt: PromptInfo | None,
        context: RequestAttributes,
        base_url: str | None,
        schema: type | None,
    ) -> None:
        self.document = document
        self.prompt = prompt
        self.context = context
        self.base_url = base_url
        self.schema = schema

    def content(self) -> dict[str, Any]:
        """The JSON document: ``arguments`` (the recorded keyword arguments) and, when there are any, the
        prompt's ``template`` and ``variables`` and the request context's ``metadata``."""
        content: dict[str, Any] = from_json(self.document)
        return content


def begin(
    operation: str,
    resource: Any,
    kwargs: Mapping[str, Any],
    *,
    left_out: frozenset[str],
    prompt_source: Any,
    capture: bool,
    schema: type | None = None,
) -> tuple[str, dict[str, Any], RequestSnapshot]:
    """(span name, attributes at start, request snapshot) of a call — all an operation's ``start`` does.

    The snapshot holds every given keyword argument but ``left_out``, as JSON, and the caller's context;
    ``prompt_source`` is the argument that may be a :class:`~instrumentation.context.PromptMessages`,
    ``schema`` a pydantic class given as the response format (left out of the JSON). The attributes at
    start are the ones a sampler may look at (the GenAI conventions list them): operation, provider,
    requested model, server address and port.
    """
    model = kwargs.get("model")
    entry = _client_entry(resource)
    attributes = {sc.GEN_AI_OPERATION_NAME: operation, **entry[1]}
    if isinstance(model, str):
        attributes[sc.GEN_AI_REQUEST_MODEL] = model
        name = f"{operation} {model}"
    else:
        name = operation
    sentinels = _sentinels
    arguments = {
        key: value for key, value in kwargs.items() if key not in left_out and not isinstance(value, sentinels)
    }
    document: dict[str, Any] = {"arguments": arguments}
    prompt, context = prompt_for(prompt_source), current_attributes()
    if prompt is not None:
        if prompt.template is not None:
            document["template"] = prompt.template
        if prompt.variables is not None and capture:
            document["variables"] = prompt.variables
    if context.metadata:
        document["metadata"] = context.metadata
    try:
        recorded = _dump(document)
    except TypeError:
        recorded = _dump_any_keys(document)
    return name, attributes, RequestSnapshot(recorded, prompt, context, entry[2], schema)


_ALREADY_MATERIAL = (list, tuple, str, dict)


def materialize(kwargs: dict[str, Any], keys: Iterable[str]) -> None:
    """Turn one-shot iterables (generators) among ``keys`` into lists, in place, so recording them
    does not consume what the ``openai`` client is about to send."""
    for key in keys:
        value = kwargs.get(key)
        if value is not None and not isinstance(value, _ALREADY_MATERIAL) and given(value):
            with contextlib.suppress(TypeError):  # not iterable: the client will report it
                kwargs[key] = list(value)


def provider_of(resource: Any) -> str:
    """``gen_ai.provider.name``: ``azure.ai.openai`` for the Azure clients, ``openai`` for any other base URL."""
    return "azure.ai.openai" if "Azure" in type(getattr(resource, "_client", None)).__name__ else "openai"


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


# id of a client's URL object → (the object, provider and server attributes, credential-free base URL). The
# object is kept alive in the entry, so its id is not reused while the entry exists.
_by_url: dict[int, tuple[object, dict[str, Any], str | None]] = {}


def _describe_client(resource: Any, client: Any, url: Any) -> tuple[object, dict[str, Any], str | None]:
    """The ``_by_url`` entry of a client seen for the first time."""
    base_url = getattr(client, "base_url", None)
    at_start = {sc.GEN_AI_PROVIDER_NAME: provider_of(resource)}
    if base_url is None:
        return (None, at_start, None)
    endpoint = dict(_endpoint(str(base_url)))
    clean = endpoint.pop(sc.SPANLAB_REQUEST_BASE_URL, None)
    at_start.update(endpoint)
    entry = (url, at_start, clean)
    if url is not None:
        if len(_by_url) >= 64:
            _by_url.clear()
        _by_url[id(url)] = entry
    return entry


def _client_entry(resource: Any) -> tuple[object, dict[str, Any], str | None]:
    """The ``_by_url`` entry of a resource's client."""
    client = getattr(resource, "_client", None)
    url = getattr(client, "_base_url", None)
    entry = _by_url.get(id(url))
    if entry is None or entry[0] is not url:
        entry = _describe_client(resource, client, url)
    return entry


def endpoint_attributes(resource: Any) -> dict[str, Any]:
    """``server.address``/``server.port`` and the credential-free base URL of a resource's client."""
    base_url = getattr(getattr(resource, "_client", None), "base_url", None)
    return dict(_endpoint(str(base_url))) if base_url is not None else {}


# -- from the snapshot, on the background thread --------------------------------------------------------------


def invocation_parameters(arguments: Mapping[str, Any], own_fields: frozenset[str]) -> dict[str, Any]:
    """Every recorded argument except ``own_fields`` and transport options, ``extra_body`` merged in."""
    params = {key: value for key, value in arguments.items() if key not in own_fields and key not in TRANSPORT_OPTIONS}
    extra = arguments.get("extra_body")
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


def request_scalars(params: Mapping[str, Any]) -> dict[str, Any]:
    """``gen_ai.request.*`` attributes of the parameters that have one (values of another type are skipped)."""
    attributes: dict[str, Any] = {}
    for key, attribute, kind in _SCALARS:
        value = params.get(key)
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


def context_attributes(request: RequestSnapshot, content: Mapping[str, Any], policy: ContentPolicy) -> dict[str, Any]:
    """The base URL, the prompt (from ``using_prompt`` or a ``PromptMessages`` argument) and the
    ``using_attributes`` context of a request snapshot whose ``content()`` is ``content``."""
    attributes: dict[str, Any] = {}
    if request.base_url is not None:
        attributes[sc.SPANLAB_REQUEST_BASE_URL] = request.base_url
    prompt = request.prompt
    if prompt is not None:
        attributes[sc.SPANLAB_PROMPT_NAME] = prompt.name
        if prompt.version is not None:
            attributes[sc.SPANLAB_PROMPT_VERSION] = prompt.version
        template = content.get("template")
        if template is not None:
            attributes[sc.SPANLAB_PROMPT_TEMPLATE] = template if isinstance(template, str) else to_json(template)
        variables = content.get("variables")
        if variables is not None and policy.capture:
            redacted = guard(policy.value, variables)  # a failing redactor: no variables
            if redacted is not None:
                attributes[sc.SPANLAB_PROMPT_VARIABLES] = to_json(redacted)
    context = request.context
    if context.session_id is not None:
        attributes[sc.SESSION_ID] = context.session_id
    if context.user_id is not None:
        attributes[sc.USER_ID] = context.user_id
    metadata = content.get("metadata")
    if metadata:
        attributes[sc.OI_METADATA] = to_json(metadata)
    if context.tags:
        attributes[sc.OI_TAG_TAGS] = context.tags
    return attributes
