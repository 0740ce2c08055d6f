"""OpenInference (Arize Phoenix) attributes → canonical fields.

OpenInference flattens everything: ``llm.input_messages.{i}.message.role``,
``...message.contents.{k}.message_content.image.image.url``,
``...message.tool_calls.{j}.tool_call.function.arguments``, ``llm.tools.{i}.tool.json_schema``.
Indexed entries are read by probing precomputed keys (:class:`.attrs.KeyGrid`): each message
costs a handful of dict lookups, whatever else the span carries.

``llm.invocation_parameters`` is the request minus messages, as JSON: ``model`` goes to the
model field, ``tools``/``functions`` to tools and ``response_format`` to its own field, the rest
stays. For LLM spans ``llm.model_name`` is the model that answered, so the requested model
(``llm.request.model_name`` or the parameters' ``model``) is preferred, as for the other
conventions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from collector.normalize.attrs import (
    SEQUENCE,
    KeyGrid,
    as_float,
    as_int,
    as_str,
    dumps,
    first,
    json_object,
    probe,
    str_list,
)
from collector.normalize.canonical import KINDS, CanonicalFields, run_steps
from collector.normalize.messages import (
    collapse,
    finish_reason,
    image_part,
    message,
    openai_tool,
    openai_tools,
    text_part,
    tool_call,
)
from instrumentation import semconv as sc

_CONTENTS = sc.OI_MESSAGE_CONTENTS
_TOOL_CALLS = sc.OI_MESSAGE_TOOL_CALLS
# One message's own keys; the last four only tell whether it has content parts / tool calls.
_MESSAGE_KEYS = (
    sc.OI_MESSAGE_ROLE,
    sc.OI_MESSAGE_CONTENT,
    sc.OI_MESSAGE_TOOL_CALL_ID,
    sc.OI_MESSAGE_NAME,
    sc.OI_MESSAGE_FUNCTION_CALL_NAME,
    sc.OI_MESSAGE_FUNCTION_CALL_ARGUMENTS,
    f"{_CONTENTS}.0.{sc.OI_CONTENT_TYPE}",
    f"{_CONTENTS}.0.{sc.OI_CONTENT_TEXT}",
    f"{_TOOL_CALLS}.0.{sc.OI_TOOL_CALL_ID}",
    f"{_TOOL_CALLS}.0.{sc.OI_TOOL_CALL_FUNCTION_NAME}",
)
_MESSAGE_CHILDREN = {
    _CONTENTS: (sc.OI_CONTENT_TYPE, sc.OI_CONTENT_TEXT, sc.OI_CONTENT_IMAGE_URL),
    _TOOL_CALLS: (sc.OI_TOOL_CALL_ID, sc.OI_TOOL_CALL_FUNCTION_NAME, sc.OI_TOOL_CALL_FUNCTION_ARGUMENTS),
}
_INPUTS = KeyGrid(sc.OI_LLM_INPUT_MESSAGES + ".", _MESSAGE_KEYS, _MESSAGE_CHILDREN)
_OUTPUTS = KeyGrid(sc.OI_LLM_OUTPUT_MESSAGES + ".", _MESSAGE_KEYS, _MESSAGE_CHILDREN)
_TOOLS = KeyGrid(
    sc.OI_LLM_TOOLS + ".",
    (sc.OI_TOOL_JSON_SCHEMA, sc.OI_TOOL_NAME, sc.OI_TOOL_DESCRIPTION, sc.OI_TOOL_PARAMETERS),
)
_PROMPTS = KeyGrid(sc.OI_LLM_PROMPTS + ".", (sc.OI_PROMPT_TEXT,))
_CHOICES = KeyGrid(sc.OI_LLM_CHOICES + ".", (sc.OI_COMPLETION_TEXT,))
_EMBEDDINGS = KeyGrid(sc.OI_EMBEDDING_EMBEDDINGS + ".", (sc.OI_EMBEDDING_TEXT, "embedding.vector"))
_DOCUMENTS = KeyGrid(sc.OI_RETRIEVAL_DOCUMENTS + ".", (sc.OI_DOCUMENT_CONTENT, "document.id"))
# OpenInference kinds outside spanlab's set, mapped to the nearest one.
_KIND_ALIASES = {"DECISION": "LLM", "PROMPT": "CHAIN"}
# Request keys that have their own canonical field (or are the messages themselves).
_NOT_PARAMETERS = ("model", "messages", "input", "prompt", "tools", "functions", "response_format")


def normalize_openinference(attributes: Mapping[str, Any]) -> CanonicalFields:
    """Canonical fields of an OpenInference span (``source_convention="openinference"``)."""
    fields = CanonicalFields(source_convention="openinference")
    run_steps(_STEPS, fields, attributes)
    return fields


def _fill_kind(fields: CanonicalFields, attributes: Mapping[str, Any]) -> None:
    kind = (as_str(attributes.get(sc.OI_SPAN_KIND)) or "").upper()
    kind = _KIND_ALIASES.get(kind, kind)
    fields.kind = kind if kind in KINDS else "UNKNOWN"
    fields.model = as_str(attributes.get(sc.OI_LLM_REQUEST_MODEL_NAME))


def _fill_invocation_parameters(fields: CanonicalFields, attributes: Mapping[str, Any]) -> None:
    raw = first(attributes, (sc.OI_LLM_INVOCATION_PARAMETERS, sc.OI_EMBEDDING_INVOCATION_PARAMETERS))
    request = json_object(raw)
    if request is None:
        return
    if fields.model is None:
        fields.model = as_str(request.get("model"))
    tools = request.get("tools") or request.get("functions")
    if isinstance(tools, SEQUENCE):
        fields.tools = openai_tools(tools)
    if request.get("response_format") is not None:
        fields.response_format = request["response_format"]
    params = {key: value for key, value in request.items() if key not in _NOT_PARAMETERS}
    fields.invocation_parameters = params or None


def _fill_tools(fields: CanonicalFields, attributes: Mapping[str, Any]) -> None:
    tools = []
    for schema, name, description, parameters in probe(attributes, _TOOLS):
        if schema is None:  # older releases flattened the definition itself
            schema = {"name": name, "description": description, "parameters": parameters}
        tool = openai_tool(schema)
        if tool is not None:
            tools.append(tool)
    if tools:
        fields.tools = tools


def _fill_messages(fields: CanonicalFields, attributes: Mapping[str, Any]) -> None:
    inputs = _messages(attributes, _INPUTS, "user")
    outputs = _messages(attributes, _OUTPUTS, "assistant")
    if not inputs:  # the legacy completions API: prompts and choices are plain text
        inputs = [message("user", as_str(text)) for (text,) in probe(attributes, _PROMPTS)]
        inputs = inputs or [message("user", p) for p in str_list(attributes.get(sc.OI_LLM_PROMPTS)) or ()]
    if not outputs:
        outputs = [message("assistant", as_str(text)) for (text,) in probe(attributes, _CHOICES)]
    reason = finish_reason(attributes.get(sc.OI_LLM_FINISH_REASON))
    if outputs and reason is not None and "finish_reason" not in outputs[0]:
        outputs[0]["finish_reason"] = reason  # OpenInference records it for the first choice only
    fields.input_messages = inputs or None
    fields.output_messages = outputs or None


def _messages(attributes: Mapping[str, Any], grid: KeyGrid, default_role: str) -> list[dict[str, Any]]:
    messages = []
    for index, values in enumerate(probe(attributes, grid)):
        role, content, call_id, name, function_name, function_args, part_type, part_text = values[:8]
        if content is None and (part_type is not None or part_text is not None):
            content = collapse([p for p in map(_content_part, probe(attributes, grid.child(index, _CONTENTS))) if p])
        elif content is not None and not isinstance(content, str):
            content = as_str(content)
        calls = None
        if values[8] is not None or values[9] is not None:
            calls = [tool_call(*call) for call in probe(attributes, grid.child(index, _TOOL_CALLS))]
        elif function_name is not None:  # the pre-tools function-calling API: one call, no id
            calls = [tool_call(None, function_name, function_args)]
        role = role if isinstance(role, str) and role else default_role
        messages.append(message(role, content, tool_calls=calls, tool_call_id=as_str(call_id), name=as_str(name)))
    return messages


def _content_part(values: list[Any]) -> dict[str, Any] | None:
    kind, text, image_url = values
    if kind == "image":
        url = as_str(image_url)
        return image_part(url) if url is not None else None
    text = as_str(text)
    return text_part(text) if text is not None else None


def _fill_usage_and_cost(fields: CanonicalFields, attributes: Mapping[str, Any]) -> None:
    fields.input_tokens = as_int(attributes.get(sc.OI_LLM_TOKEN_COUNT_PROMPT))
    fields.output_tokens = as_int(attributes.get(sc.OI_LLM_TOKEN_COUNT_COMPLETION))
    fields.total_tokens = as_int(attributes.get(sc.OI_LLM_TOKEN_COUNT_TOTAL))
    cost = as_float(attributes.get(sc.OI_LLM_COST_TOTAL))
    if cost is None:
        prompt_cost = as_float(attributes.get(sc.OI_LLM_COST_PROMPT))
        completion_cost = as_float(attributes.get(sc.OI_LLM_COST_COMPLETION))
        if prompt_cost is not None or completion_cost is not None:
            cost = (prompt_cost or 0.0) + (completion_cost or 0.0)
    fields.cost = cost


def _fill_prompt_template(fields: CanonicalFields, attributes: Mapping[str, Any]) -> None:
    template = attributes.get(sc.OI_LLM_PROMPT_TEMPLATE)
    if template is not None:
        fields.prompt_template = template if isinstance(template, str) else dumps(template)
    fields.prompt_variables = json_object(attributes.get(sc.OI_LLM_PROMPT_TEMPLATE_VARIABLES))
    fields.prompt_version = as_str(attributes.get(sc.OI_LLM_PROMPT_TEMPLATE_VERSION))


def fill_metadata(fields: CanonicalFields, attributes: Mapping[str, Any]) -> None:
    """``metadata`` (JSON object) plus ``tag.tags`` under "tags"; also used for plain spans."""
    metadata = json_object(attributes.get(sc.OI_METADATA))
    tags = str_list(attributes.get(sc.OI_TAG_TAGS))
    if tags:
        metadata = {**(metadata or {}), "tags": tags}
    fields.metadata = metadata


def _fill_values(fields: CanonicalFields, attributes: Mapping[str, Any]) -> None:
    fields.input_value = as_str(attributes.get(sc.OI_INPUT_VALUE))
    fields.output_value = as_str(attributes.get(sc.OI_OUTPUT_VALUE))
    if fields.kind == "EMBEDDING":
        texts = [text for text in (as_str(values[0]) for values in probe(attributes, _EMBEDDINGS)) if text]
        fields.input_value = "\n".join(texts) or fields.input_value
    elif fields.kind == "RETRIEVER" and fields.output_value is None:
        documents = [doc for doc in (as_str(values[0]) for values in probe(attributes, _DOCUMENTS)) if doc]
        fields.output_value = "\n\n".join(documents) or None
    if fields.model is None:
        fields.model = as_str(first(attributes, (sc.OI_LLM_MODEL_NAME, sc.OI_EMBEDDING_MODEL_NAME)))


_STEPS = (
    _fill_kind,
    _fill_invocation_parameters,
    _fill_tools,
    _fill_messages,
    _fill_usage_and_cost,
    _fill_prompt_template,
    fill_metadata,
    _fill_values,
)
