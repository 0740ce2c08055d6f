"""OpenLLMetry (Traceloop) attributes → canonical fields.

OpenLLMetry shares the basic ``gen_ai.*`` keys with the OTel conventions (model, usage,
``gen_ai.request.*``), so the GenAI reader runs first; this module then adds what is its own:

- flattened messages ``gen_ai.prompt.{i}.role|content|tool_call_id|tool_calls.{j}.id|name|arguments``
  and ``gen_ai.completion.{i}.role|content|finish_reason|refusal|tool_calls.{j}.*`` (a list content
  is a JSON string of OpenAI parts; the legacy completions API uses ``gen_ai.prompt.0.user``);
- ``llm.request.type`` and ``traceloop.span.kind`` for the kind;
- ``llm.*`` request extras, ``llm.request.functions.{i}.*`` tools, ``llm.usage.total_tokens``;
- ``traceloop.entity.input|output`` (decorated workflows/tasks/tools) as display text,
  ``traceloop.association.properties.*`` as metadata (``session_id``/``user_id`` among them),
  and the prompt registry's ``traceloop.prompt.*``.

Request headers (``llm.headers``, a Python ``repr`` of a dict) become
``invocation_parameters["extra_headers"]`` with anything credential-like removed.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from collector.normalize.attrs import (
    KeyGrid,
    as_float,
    as_int,
    as_str,
    first,
    parse_json,
    prefixed,
    probe,
    str_list,
)
from collector.normalize.canonical import CanonicalFields, run_steps
from collector.normalize.genai import fill_genai, fill_prompt_variables
from collector.normalize.messages import (
    OPENAI_PART_TYPES,
    finish_reason,
    message,
    openai_content,
    openai_tool,
    tool_call,
)
from instrumentation import semconv as sc

_CALL_KEYS = {"tool_calls": ("id", "name", "arguments")}
# The last two keys only tell whether the message has tool calls.
_PROMPTS = KeyGrid(
    sc.OPENLLMETRY_PROMPT_PREFIX,
    ("role", "content", "tool_call_id", "user", "tool_calls.0.id", "tool_calls.0.name"),
    _CALL_KEYS,
)
_COMPLETIONS = KeyGrid(
    sc.OPENLLMETRY_COMPLETION_PREFIX,
    ("role", "content", "finish_reason", "refusal", "tool_calls.0.id", "tool_calls.0.name"),
    _CALL_KEYS,
)
_FUNCTION_KEYS = ("name", "description", "parameters")
_FUNCTIONS = KeyGrid(sc.OPENLLMETRY_REQUEST_FUNCTIONS + ".", _FUNCTION_KEYS)
_FLAT_TOOL_DEFINITIONS = KeyGrid(sc.GEN_AI_TOOL_DEFINITIONS + ".", _FUNCTION_KEYS)  # before the JSON array
_REQUEST_TYPE_KINDS = {"chat": "LLM", "completion": "LLM", "embedding": "EMBEDDING", "rerank": "RERANKER"}
_SPAN_KIND_KINDS = {"workflow": "CHAIN", "task": "CHAIN", "tool": "TOOL", "agent": "AGENT"}
_EXTRA_PARAMETERS: tuple[tuple[str, str, Callable[[Any], Any]], ...] = (
    (sc.OPENLLMETRY_FREQUENCY_PENALTY, "frequency_penalty", as_float),
    (sc.OPENLLMETRY_PRESENCE_PENALTY, "presence_penalty", as_float),
    (sc.OPENLLMETRY_TOP_K, "top_k", as_int),
    (sc.OPENLLMETRY_CHAT_STOP_SEQUENCES, "stop", str_list),
    (sc.OPENLLMETRY_IS_STREAMING, "stream", lambda v: v if isinstance(v, bool) else None),
    (sc.OPENLLMETRY_USER, "user", as_str),
    (sc.OPENLLMETRY_REQUEST_REPETITION_PENALTY, "repetition_penalty", as_float),
)
# Prefixed families read in one pass: association properties, prompt-registry variables, and
# the GenAI prompt variables (scanned here instead of in the shared GenAI reader).
_SCANNED_PREFIXES = (
    sc.TRACELOOP_ASSOCIATION_PROPERTIES_PREFIX,
    sc.TRACELOOP_PROMPT_TEMPLATE_VARIABLES_PREFIX,
    sc.GEN_AI_PROMPT_VARIABLE_PREFIX,
)
_SECRET_HEADER_WORDS = ("auth", "key", "token", "secret", "cookie", "password")
_MAX_HEADERS_REPR = 8192  # a header repr larger than this is not worth parsing


def normalize_openllmetry(attributes: Mapping[str, Any], events: Sequence[Mapping[str, Any]]) -> CanonicalFields:
    """Canonical fields of an OpenLLMetry span (``source_convention="openllmetry"``)."""
    fields = CanonicalFields(source_convention="openllmetry")
    fill_genai(fields, attributes, events, prompt_variables=False)
    run_steps(_STEPS, fields, attributes)
    # Without prompts on the span, an LLM call's content went to log events (event mode).
    fields.legacy_events = fields.kind == "LLM" and not (fields.input_messages or fields.output_messages)
    return fields


def _fill_kind(fields: CanonicalFields, attributes: Mapping[str, Any]) -> None:
    request_type = as_str(attributes.get(sc.OPENLLMETRY_REQUEST_TYPE))
    span_kind = as_str(attributes.get(sc.TRACELOOP_SPAN_KIND))
    kind = _REQUEST_TYPE_KINDS.get(request_type or "") or _SPAN_KIND_KINDS.get(span_kind or "")
    if kind is not None:
        fields.kind = kind


def _fill_legacy_basics(fields: CanonicalFields, attributes: Mapping[str, Any]) -> None:
    if fields.model is None:
        keys = (sc.OPENLLMETRY_LEGACY_REQUEST_MODEL, sc.OPENLLMETRY_LEGACY_RESPONSE_MODEL)
        fields.model = as_str(first(attributes, keys))
    if fields.input_tokens is None:
        fields.input_tokens = as_int(attributes.get(sc.OPENLLMETRY_LEGACY_PROMPT_TOKENS))
    if fields.output_tokens is None:
        fields.output_tokens = as_int(attributes.get(sc.OPENLLMETRY_LEGACY_COMPLETION_TOKENS))
    if fields.total_tokens is None:
        fields.total_tokens = as_int(attributes.get(sc.OPENLLMETRY_USAGE_TOTAL_TOKENS))


def _fill_parameters(fields: CanonicalFields, attributes: Mapping[str, Any]) -> None:
    params = dict(fields.invocation_parameters or {})
    for key, name, convert in _EXTRA_PARAMETERS:
        value = attributes.get(key)
        if value is not None and name not in params:
            converted = convert(value)
            if converted is not None:
                params[name] = converted
    headers = _headers(attributes.get(sc.OPENLLMETRY_HEADERS))
    if headers:
        params["extra_headers"] = headers
    fields.invocation_parameters = params or None
    schema = parse_json(attributes.get(sc.OPENLLMETRY_REQUEST_STRUCTURED_OUTPUT_SCHEMA))
    if isinstance(schema, dict):
        # OpenLLMetry keeps only the schema; its title (pydantic sets one) stands in for the name.
        name = as_str(schema.get("title")) or "response"
        fields.response_format = {"type": "json_schema", "json_schema": {"name": name, "schema": schema}}


def _headers(raw: Any) -> dict[str, str] | None:
    """Parse the ``str(dict)`` OpenLLMetry records, dropping credential-like headers."""
    if isinstance(raw, str):
        if raw in ("None", "") or len(raw) > _MAX_HEADERS_REPR:
            return None
        try:
            raw = ast.literal_eval(raw)  # literals only: safe on untrusted text
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            return None
    if not isinstance(raw, dict):
        return None
    headers = {
        str(name): str(value)
        for name, value in raw.items()
        if not any(word in str(name).lower() for word in _SECRET_HEADER_WORDS)
    }
    return headers or None


def _fill_tools(fields: CanonicalFields, attributes: Mapping[str, Any]) -> None:
    entries = probe(attributes, _FUNCTIONS) or probe(attributes, _FLAT_TOOL_DEFINITIONS)
    converted = (openai_tool(dict(zip(_FUNCTION_KEYS, values, strict=True))) for values in entries)
    tools = [tool for tool in converted if tool is not None]
    if tools:
        fields.tools = tools


def _fill_messages(fields: CanonicalFields, attributes: Mapping[str, Any]) -> None:
    prompts = probe(attributes, _PROMPTS)
    if fields.kind == "EMBEDDING":  # the embedded texts, one "prompt" each
        texts = [text for text in (as_str(values[1]) for values in prompts) if text]
        fields.input_value = "\n".join(texts) or fields.input_value
        return
    if prompts:
        fields.input_messages = [_prompt_message(attributes, i, values) for i, values in enumerate(prompts)]
    completions = probe(attributes, _COMPLETIONS)
    if completions:
        fields.output_messages = [_completion_message(attributes, i, values) for i, values in enumerate(completions)]


def _prompt_message(attributes: Mapping[str, Any], index: int, values: list[Any]) -> dict[str, Any]:
    role, content, tool_call_id, legacy_prompt = values[:4]
    if legacy_prompt is not None and content is None:  # legacy completions API: the prompt text
        return message("user", as_str(legacy_prompt))
    return message(
        as_str(role) or "user",
        _content(content),
        tool_calls=_tool_calls(attributes, _PROMPTS, index, values),
        tool_call_id=as_str(tool_call_id),
    )


def _completion_message(attributes: Mapping[str, Any], index: int, values: list[Any]) -> dict[str, Any]:
    role, content, reason, refusal = values[:4]
    content = _content(content)
    return message(
        as_str(role) or "assistant",
        content if content is not None else as_str(refusal),
        tool_calls=_tool_calls(attributes, _COMPLETIONS, index, values),
        finish_reason=finish_reason(reason),
    )


def _tool_calls(
    attributes: Mapping[str, Any], grid: KeyGrid, index: int, values: list[Any]
) -> list[dict[str, Any]] | None:
    if values[4] is None and values[5] is None:
        return None
    return [tool_call(*call) for call in probe(attributes, grid.child(index, "tool_calls"))] or None


def _content(raw: Any) -> Any:
    """A list content arrives as the JSON text of OpenAI parts; any other text is kept as is."""
    if isinstance(raw, str):
        if raw.startswith('[{"type"'):
            parsed = parse_json(raw)
            if isinstance(parsed, list) and all(
                isinstance(part, dict) and part.get("type") in OPENAI_PART_TYPES for part in parsed
            ):
                return openai_content(parsed)
        return raw
    return openai_content(raw)


def _fill_traceloop(fields: CanonicalFields, attributes: Mapping[str, Any]) -> None:
    properties, registry_variables, genai_variables = prefixed(attributes, _SCANNED_PREFIXES)
    if properties:
        fields.metadata = properties
        fields.session_id = as_str(properties.get("session_id")) or fields.session_id
        fields.user_id = as_str(properties.get("user_id")) or fields.user_id
    fields.input_value = fields.input_value or as_str(attributes.get(sc.TRACELOOP_ENTITY_INPUT))
    fields.output_value = fields.output_value or as_str(attributes.get(sc.TRACELOOP_ENTITY_OUTPUT))
    fields.prompt_name = as_str(attributes.get(sc.TRACELOOP_PROMPT_KEY)) or fields.prompt_name
    fields.prompt_version = as_str(attributes.get(sc.TRACELOOP_PROMPT_VERSION)) or fields.prompt_version
    fields.prompt_template = as_str(attributes.get(sc.TRACELOOP_PROMPT_TEMPLATE)) or fields.prompt_template
    fill_prompt_variables(fields, genai_variables)
    if registry_variables:
        fields.prompt_variables = registry_variables


_STEPS = (
    _fill_kind,
    _fill_legacy_basics,
    _fill_parameters,
    _fill_tools,
    _fill_messages,
    _fill_traceloop,
)
