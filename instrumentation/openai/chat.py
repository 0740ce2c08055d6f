"""``chat.completions.create`` / ``.parse`` (and ``.stream``, which calls ``create``): request and reply attributes.

A reply records one output message per choice (``n > 1`` gives several, in choice order), its tool
calls, finish reasons, usage, response id and model. A stream is reassembled chunk by chunk by
:class:`ChatStreamRecorder`: text deltas joined, tool-call deltas merged by index (their argument
fragments may interleave with content and with other calls), the usage chunk of
``stream_options={"include_usage": True}`` kept.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from instrumentation import semconv as sc
from instrumentation.openai.call import LLMCall, guard
from instrumentation.openai.messages import as_dict, input_messages, output_message, split_system
from instrumentation.openai.request import (
    context_attributes,
    endpoint_attributes,
    given,
    invocation_parameters,
    materialize,
    request_scalars,
    to_json,
)
from instrumentation.redaction import ContentPolicy

__all__ = ["ChatOperation", "ChatStreamRecorder", "provider_of", "response_format_param", "usage_attributes"]

_OWN_FIELDS = frozenset({"model", "messages", "tools", "response_format"})
_OUTPUT_TYPES = {"json_schema": "json", "json_object": "json", "text": "text"}


@cache
def _type_to_response_format() -> Any:
    from openai.lib._parsing import type_to_response_format_param

    return type_to_response_format_param


def response_format_param(response_format: Any) -> Any:
    """The ``response_format`` the client sends: a pydantic class becomes its strict JSON-schema format."""
    if isinstance(response_format, type):
        return _type_to_response_format()(response_format)
    return as_dict(response_format)


def provider_of(resource: Any) -> str:
    """``gen_ai.provider.name``: ``azure.ai.openai`` for the Azure clients, ``openai`` for any other base URL."""
    return "azure.ai.openai" if "Azure" in type(getattr(resource, "_client", None)).__name__ else "openai"


def usage_attributes(usage: Any) -> dict[str, Any]:
    """Token counts of a chat, Responses or embeddings usage object (no total: it is their sum, and the
    collector adds it). Names are checked on the type: a missing attribute on a pydantic object is slow."""
    if usage is None:
        return {}
    chat = _chat_usage(usage.__class__)
    input_tokens = usage.prompt_tokens if chat else getattr(usage, "input_tokens", None)
    output_tokens = getattr(usage, "completion_tokens" if chat else "output_tokens", None)
    attributes: dict[str, Any] = {}
    if isinstance(input_tokens, int):
        attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] = input_tokens
    if isinstance(output_tokens, int):
        attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS] = output_tokens
    details = getattr(usage, "prompt_tokens_details" if chat else "input_tokens_details", None)
    cached = getattr(details, "cached_tokens", None)
    if isinstance(cached, int) and cached:
        attributes[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = cached
    return attributes


@cache
def _chat_usage(kind: type) -> bool:
    """Whether a usage type is the chat one (``prompt_tokens``); asked once per type, pydantic's
    ``model_fields`` being slow to read."""
    return "prompt_tokens" in (kind.model_fields if hasattr(kind, "model_fields") else {})


def _response_attributes(response_id: Any, model: Any, fingerprint: Any, tier: Any) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    for attribute, value in (
        (sc.GEN_AI_RESPONSE_ID, response_id),
        (sc.GEN_AI_RESPONSE_MODEL, model),
        (sc.OPENAI_RESPONSE_SYSTEM_FINGERPRINT, fingerprint),
        (sc.OPENAI_RESPONSE_SERVICE_TIER, tier),
    ):
        if isinstance(value, str) and value:
            attributes[attribute] = value
    return attributes


def _index(choice: Any) -> Any:
    return choice.index


def _call_fields(call: Any) -> tuple[Any, Any, Any]:
    function = getattr(call, "function", None)
    if function is not None:
        return call.id, function.name, function.arguments
    custom = getattr(call, "custom", None)  # a custom (free-form) tool call
    return getattr(call, "id", None), getattr(custom, "name", None), getattr(custom, "input", None)


class ChatOperation:
    """How a chat completion call is recorded."""

    operation = "chat"
    iterable_arguments = ("messages", "tools", "stop")

    def request(self, resource: Any, kwargs: dict[str, Any], policy: ContentPolicy) -> tuple[str, dict[str, Any]]:
        """(span name, request attributes); may replace one-shot iterables in ``kwargs`` with lists."""
        materialize(kwargs, self.iterable_arguments)
        model = kwargs.get("model")
        attributes: dict[str, Any] = {sc.GEN_AI_OPERATION_NAME: "chat", sc.GEN_AI_PROVIDER_NAME: provider_of(resource)}
        if isinstance(model, str):
            attributes[sc.GEN_AI_REQUEST_MODEL] = model
        attributes.update(endpoint_attributes(resource))
        params = invocation_parameters(kwargs, _OWN_FIELDS)
        attributes.update(request_scalars(params))
        if params:
            attributes[sc.SPANLAB_REQUEST_INVOCATION_PARAMETERS] = to_json(params)
        tools = kwargs.get("tools")
        if tools and given(tools):
            attributes[sc.GEN_AI_TOOL_DEFINITIONS] = to_json(list(tools))
        response_format = kwargs.get("response_format")
        if response_format is not None and given(response_format):
            sent = response_format_param(response_format)
            attributes[sc.SPANLAB_REQUEST_RESPONSE_FORMAT] = to_json(sent)
            output_type = _OUTPUT_TYPES.get(str(sent.get("type"))) if isinstance(sent, dict) else None
            if output_type is not None:
                attributes[sc.GEN_AI_OUTPUT_TYPE] = output_type
        messages = kwargs.get("messages")
        if policy.capture and isinstance(messages, list | tuple):
            attributes.update(guard(_input_attributes, list(messages), policy) or {})  # a failing redactor: no content
        attributes.update(context_attributes(messages, policy))
        return f"chat {model}" if isinstance(model, str) else "chat", attributes

    def response(self, call: LLMCall, result: Any) -> None:
        """Record a ``ChatCompletion`` (anything else, such as a raw HTTP response, records nothing)."""
        choices = getattr(result, "choices", None)
        if not isinstance(choices, list):
            return
        attributes = _response_attributes(
            result.id, result.model, getattr(result, "system_fingerprint", None), getattr(result, "service_tier", None)
        )
        attributes.update(usage_attributes(result.usage))
        ordered = sorted(choices, key=_index) if len(choices) > 1 else choices
        attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] = [choice.finish_reason or "" for choice in ordered]
        if call.policy.capture:
            attributes.update(guard(_outputs, ordered, call.policy.redact) or {})
        call.set_attributes(attributes)

    def stream_recorder(self) -> ChatStreamRecorder:
        return ChatStreamRecorder()


def _outputs(choices: list[Any], redact: Any) -> dict[str, Any]:
    outputs = [
        output_message(
            choice.message.role,
            choice.message.content,
            [_call_fields(tool_call) for tool_call in choice.message.tool_calls or ()],
            choice.finish_reason,
            redact,
        )
        for choice in choices
    ]
    return {sc.GEN_AI_OUTPUT_MESSAGES: to_json(outputs)}


def _input_attributes(messages: list[Any], policy: ContentPolicy) -> dict[str, Any]:
    system, rest = split_system(messages)
    attributes = {sc.GEN_AI_INPUT_MESSAGES: to_json(input_messages(rest, policy.redact))}
    if system is not None:
        attributes[sc.GEN_AI_SYSTEM_INSTRUCTIONS] = to_json([{"type": "text", "content": policy.redact(system)}])
    return attributes


class _Choice:
    __slots__ = ("calls", "finish_reason", "role", "texts")

    def __init__(self) -> None:
        self.role: str | None = None
        self.texts: list[str] = []
        self.calls: dict[int, list[Any]] = {}  # tool-call index → [id, name, argument fragments]
        self.finish_reason: str | None = None

    def add_calls(self, deltas: list[Any]) -> None:
        for delta in deltas:
            entry = self.calls.get(delta.index)
            if entry is None:
                entry = self.calls[delta.index] = [None, None, []]
            if delta.id:
                entry[0] = delta.id
            function = delta.function
            if function is not None:
                if function.name and not entry[1]:
                    entry[1] = function.name
                if function.arguments:
                    entry[2].append(function.arguments)

    def message(self, redact: Any) -> dict[str, Any]:
        text = "".join(self.texts) if self.texts else None
        calls = [(entry[0], entry[1], "".join(entry[2])) for _, entry in sorted(self.calls.items())]
        return output_message(self.role, text, calls, self.finish_reason, redact)


class ChatStreamRecorder:
    """Reassembles a streamed chat completion from its chunks.

    :meth:`add` runs once per chunk on the application's thread, so it does as little as it can: text
    fragments are only appended (joined at the end), and what every chunk repeats (id, model, system
    fingerprint, service tier) is read from the first and last chunk at :meth:`finish`.
    """

    __slots__ = ("choices", "first", "last", "usage")

    def __init__(self) -> None:
        self.choices: dict[int, _Choice] = {}
        self.first: Any = None
        self.last: Any = None
        self.usage: Any = None

    def add(self, chunk: Any) -> None:
        if self.first is None:
            self.first = chunk
        self.last = chunk
        choices = chunk.choices
        done = not choices  # the usage chunk of include_usage has no choices
        for choice in choices:
            state = self.choices.get(choice.index)
            if state is None:
                state = self.choices[choice.index] = _Choice()
                state.role = getattr(choice.delta, "role", None)
            delta = choice.delta
            if delta is not None:
                content = delta.content
                if content:
                    state.texts.append(content)
                if delta.tool_calls:
                    state.add_calls(delta.tool_calls)
            if choice.finish_reason:
                state.finish_reason = choice.finish_reason
                done = True
        if done and chunk.usage is not None:  # some servers put usage on the last content chunk instead
            self.usage = chunk.usage

    def finish(self, call: LLMCall) -> None:
        first, last = self.first, self.last
        if first is None:
            return
        attributes = _response_attributes(
            first.id, first.model, getattr(last, "system_fingerprint", None), getattr(last, "service_tier", None)
        )
        attributes.update(usage_attributes(self.usage))
        ordered = [state for _, state in sorted(self.choices.items())]
        if ordered:
            attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] = [state.finish_reason or "" for state in ordered]
            if call.policy.capture:
                attributes.update(guard(_stream_outputs, ordered, call.policy.redact) or {})
        call.set_attributes(attributes)


def _stream_outputs(choices: list[_Choice], redact: Any) -> dict[str, Any]:
    return {sc.GEN_AI_OUTPUT_MESSAGES: to_json([state.message(redact) for state in choices])}
