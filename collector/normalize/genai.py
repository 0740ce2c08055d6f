"""OpenTelemetry GenAI semantic conventions → canonical fields.

Reads the current conventions (``gen_ai.input.messages``/``gen_ai.output.messages`` in the parts
format, ``gen_ai.system_instructions``, ``gen_ai.tool.definitions``, ``gen_ai.provider.name``)
and the legacy ones still in the field (``gen_ai.system``, ``gen_ai.usage.prompt_tokens``,
``gen_ai.openai.request.*``, span events ``gen_ai.content.prompt``/``gen_ai.content.completion``,
and per-message span events shaped like the legacy log events).

An LLM span without any content is flagged ``legacy_events``: its messages are expected in log
events, which the collector joins and passes to :func:`messages_from_log_events`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from collector.normalize.attrs import (
    INVALID,
    SEQUENCE,
    as_float,
    as_int,
    as_str,
    first,
    parse_json,
    prefixed,
    str_list,
)
from collector.normalize.canonical import CanonicalFields, guarded, run_steps
from collector.normalize.logs import choice_message, message_event_role, messages_from_log_events
from collector.normalize.messages import message, openai_message, openai_messages, openai_tool
from collector.normalize.parts import genai_messages, system_message
from instrumentation import semconv as sc

OPERATION_KINDS = {
    "chat": "LLM",
    "text_completion": "LLM",
    "generate_content": "LLM",
    "embeddings": "EMBEDDING",
    "execute_tool": "TOOL",
    "invoke_agent": "AGENT",
    "create_agent": "AGENT",
    "retrieval": "RETRIEVER",
    "invoke_workflow": "CHAIN",
}


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def _first_str(value: Any) -> str | None:
    values = str_list(value)
    return values[0] if values else None


# (attribute, OpenAI parameter name, converter); the first attribute present for a name wins.
REQUEST_PARAMETERS: tuple[tuple[str, str, Callable[[Any], Any]], ...] = (
    (sc.GEN_AI_REQUEST_TEMPERATURE, "temperature", as_float),
    (sc.GEN_AI_REQUEST_TOP_P, "top_p", as_float),
    (sc.GEN_AI_REQUEST_TOP_K, "top_k", as_int),
    (sc.GEN_AI_REQUEST_MAX_TOKENS, "max_tokens", as_int),
    (sc.GEN_AI_REQUEST_SEED, "seed", as_int),
    (sc.GEN_AI_OPENAI_REQUEST_SEED, "seed", as_int),
    (sc.GEN_AI_REQUEST_FREQUENCY_PENALTY, "frequency_penalty", as_float),
    (sc.GEN_AI_REQUEST_PRESENCE_PENALTY, "presence_penalty", as_float),
    (sc.GEN_AI_REQUEST_CHOICE_COUNT, "n", as_int),
    (sc.GEN_AI_REQUEST_STOP_SEQUENCES, "stop", str_list),
    (sc.GEN_AI_REQUEST_STREAM, "stream", _as_bool),
    (sc.GEN_AI_REQUEST_REASONING_LEVEL, "reasoning_effort", as_str),
    (sc.GEN_AI_OPENAI_REQUEST_SERVICE_TIER, "service_tier", as_str),
    (sc.OPENAI_REQUEST_SERVICE_TIER, "service_tier", as_str),
    (sc.GEN_AI_REQUEST_ENCODING_FORMATS, "encoding_format", _first_str),
)
# gen_ai.output.type values that map onto an OpenAI response_format.
_OUTPUT_TYPE_FORMATS = {"json": "json_object", "text": "text"}
_CONTENT_KEYS = (
    sc.GEN_AI_INPUT_MESSAGES,
    sc.GEN_AI_OUTPUT_MESSAGES,
    sc.GEN_AI_SYSTEM_INSTRUCTIONS,
    sc.GEN_AI_INPUT_MESSAGES + ".ref",  # content uploaded by a completion hook, not in logs
)


def normalize_genai(attributes: Mapping[str, Any], events: Sequence[Mapping[str, Any]]) -> CanonicalFields:
    """Canonical fields of an OTel GenAI span (``source_convention="otel_genai"``)."""
    fields = CanonicalFields(source_convention="otel_genai")
    fill_genai(fields, attributes, events)
    guarded(_fill_legacy_events_flag, fields, attributes)
    return fields


def fill_genai(
    fields: CanonicalFields,
    attributes: Mapping[str, Any],
    events: Sequence[Mapping[str, Any]],
    *,
    prompt_variables: bool = True,
) -> None:
    """Fill ``fields`` from the ``gen_ai.*`` attributes (shared with the OpenLLMetry normalizer).

    ``prompt_variables=False`` skips the ``gen_ai.prompt.variable.*`` scan, for a caller that
    reads them in its own pass over the attributes.
    """
    run_steps(_STEPS, fields, attributes)
    if fields.input_messages is None and fields.output_messages is None and events:
        guarded(_fill_messages_from_span_events, fields, events)
    if prompt_variables:
        guarded(_scan_prompt_variables, fields, attributes)


def _fill_kind_and_model(fields: CanonicalFields, attributes: Mapping[str, Any]) -> None:
    operation = as_str(attributes.get(sc.GEN_AI_OPERATION_NAME))
    kind = OPERATION_KINDS.get(operation.lower()) if operation is not None else None
    # Request model first: it is what the caller asked for, and what a replay must send.
    fields.model = as_str(first(attributes, (sc.GEN_AI_REQUEST_MODEL, sc.GEN_AI_RESPONSE_MODEL)))
    if kind is None and fields.model is not None:
        kind = "LLM"  # a model call that predates gen_ai.operation.name
    fields.kind = kind or fields.kind


def fill_request_parameters(fields: CanonicalFields, attributes: Mapping[str, Any]) -> None:
    """Merge the ``gen_ai.request.*`` parameters (OpenAI names) into ``invocation_parameters``."""
    params: dict[str, Any] = {}
    for key, name, convert in REQUEST_PARAMETERS:
        value = attributes.get(key)
        if value is not None and name not in params:
            converted = convert(value)
            if converted is not None:
                params[name] = converted
    if params:
        fields.invocation_parameters = {**params, **(fields.invocation_parameters or {})}


def _fill_response_format_and_tools(fields: CanonicalFields, attributes: Mapping[str, Any]) -> None:
    requested = as_str(attributes.get(sc.GEN_AI_OPENAI_REQUEST_RESPONSE_FORMAT))
    output_type = as_str(attributes.get(sc.GEN_AI_OUTPUT_TYPE))
    if requested is not None:
        fields.response_format = {"type": requested}
    elif output_type is not None and output_type in _OUTPUT_TYPE_FORMATS:
        fields.response_format = {"type": _OUTPUT_TYPE_FORMATS[output_type]}
    definitions = parse_json(attributes.get(sc.GEN_AI_TOOL_DEFINITIONS))
    if isinstance(definitions, SEQUENCE):
        tools = [tool for tool in (openai_tool(item) for item in definitions) if tool is not None]
        fields.tools = tools or None


def _fill_usage(fields: CanonicalFields, attributes: Mapping[str, Any]) -> None:
    fields.input_tokens = as_int(first(attributes, (sc.GEN_AI_USAGE_INPUT_TOKENS, sc.GEN_AI_USAGE_PROMPT_TOKENS)))
    fields.output_tokens = as_int(first(attributes, (sc.GEN_AI_USAGE_OUTPUT_TOKENS, sc.GEN_AI_USAGE_COMPLETION_TOKENS)))
    fields.total_tokens = as_int(attributes.get(sc.GEN_AI_USAGE_TOTAL_TOKENS))


def _fill_messages(fields: CanonicalFields, attributes: Mapping[str, Any]) -> None:
    raw_inputs = attributes.get(sc.GEN_AI_INPUT_MESSAGES)
    raw_outputs = attributes.get(sc.GEN_AI_OUTPUT_MESSAGES)
    inputs = genai_messages(raw_inputs)
    system = system_message(attributes.get(sc.GEN_AI_SYSTEM_INSTRUCTIONS))
    if system is not None:
        inputs = [system, *(inputs or ())]
    outputs = genai_messages(raw_outputs, output=True)
    fields.input_messages = inputs
    fields.output_messages = outputs
    # Unparsable content stays searchable as text (the raw attribute is stored as well).
    if inputs is None and isinstance(raw_inputs, str):
        fields.input_value = raw_inputs
    if outputs is None and isinstance(raw_outputs, str):
        fields.output_value = raw_outputs


def _fill_messages_from_span_events(fields: CanonicalFields, events: Sequence[Mapping[str, Any]]) -> None:
    """Content carried by span events: ``gen_ai.content.*`` (semconv <= 1.27) or per-message events."""
    log_style: list[dict[str, Any]] = []
    for event in events:
        if not isinstance(event, dict) or not isinstance(event.get("attributes"), dict):
            continue  # one malformed event must not hide the others
        name = event.get("name")
        attributes = event["attributes"]
        if not isinstance(name, str):
            continue
        if name == sc.GEN_AI_CONTENT_PROMPT_EVENT:
            fields.input_messages = _prompt_messages(attributes.get(sc.GEN_AI_PROMPT))
        elif name == sc.GEN_AI_CONTENT_COMPLETION_EVENT:
            fields.output_messages = _completion_messages(attributes.get(sc.GEN_AI_COMPLETION))
        elif message_event_role(name) is not None or name == sc.GEN_AI_CHOICE_EVENT:
            body = attributes.get(sc.GEN_AI_EVENT_CONTENT, attributes)
            log_style.append({"event_name": name, "body": body, "attributes": attributes})
    if log_style and fields.input_messages is None and fields.output_messages is None:
        fields.input_messages, fields.output_messages = messages_from_log_events(log_style)


def _prompt_messages(raw: Any) -> list[dict[str, Any]] | None:
    messages = openai_messages(raw)
    if messages is None and isinstance(raw, str) and raw:
        return [message("user", raw)]  # a bare prompt string, as some SDKs record it
    return messages


def _completion_messages(raw: Any) -> list[dict[str, Any]] | None:
    parsed = parse_json(raw)
    if parsed is INVALID or not isinstance(parsed, SEQUENCE):
        return [message("assistant", raw)] if isinstance(raw, str) and raw else None
    # Items are either messages or choices ({"index", "finish_reason", "message"}).
    indexed: list[tuple[int, dict[str, Any]]] = []
    for position, item in enumerate(parsed):
        if isinstance(item, dict) and "message" in item:
            indexed.append(choice_message(item, position))
        elif (converted := openai_message(item, default_role="assistant")) is not None:
            indexed.append((position, converted))
    indexed.sort(key=lambda choice: choice[0])
    return [msg for _, msg in indexed] or None


def _fill_operation_values(fields: CanonicalFields, attributes: Mapping[str, Any]) -> None:
    """Display text for non-chat operations: tool arguments/result, retrieval query/documents."""
    if fields.kind == "TOOL":
        fields.input_value = as_str(attributes.get(sc.GEN_AI_TOOL_CALL_ARGUMENTS)) or fields.input_value
        fields.output_value = as_str(attributes.get(sc.GEN_AI_TOOL_CALL_RESULT)) or fields.output_value
    elif fields.kind == "RETRIEVER":
        fields.input_value = as_str(attributes.get(sc.GEN_AI_RETRIEVAL_QUERY_TEXT)) or fields.input_value
        fields.output_value = as_str(attributes.get(sc.GEN_AI_RETRIEVAL_DOCUMENTS)) or fields.output_value


def _fill_prompt(fields: CanonicalFields, attributes: Mapping[str, Any]) -> None:
    fields.prompt_name = as_str(attributes.get(sc.GEN_AI_PROMPT_NAME)) or fields.prompt_name
    fields.prompt_version = as_str(attributes.get(sc.GEN_AI_PROMPT_VERSION)) or fields.prompt_version


def _scan_prompt_variables(fields: CanonicalFields, attributes: Mapping[str, Any]) -> None:
    fill_prompt_variables(fields, prefixed(attributes, (sc.GEN_AI_PROMPT_VARIABLE_PREFIX,))[0])


def fill_prompt_variables(fields: CanonicalFields, variables: dict[str, Any]) -> None:
    """``gen_ai.prompt.variable.*`` values, kept as the text the SDK recorded (it JSON-encodes
    non-strings, so ``3`` and ``"3"`` look alike)."""
    if variables:
        fields.prompt_variables = variables


def _fill_legacy_events_flag(fields: CanonicalFields, attributes: Mapping[str, Any]) -> None:
    has_content = fields.input_messages is not None or fields.output_messages is not None
    if fields.kind == "LLM" and not has_content:
        fields.legacy_events = not any(key in attributes for key in _CONTENT_KEYS)


_STEPS = (
    _fill_kind_and_model,  # first: later steps read the kind
    fill_request_parameters,
    _fill_response_format_and_tools,
    _fill_usage,
    _fill_messages,
    _fill_operation_values,
    _fill_prompt,
)
