"""``chat.completions.create`` / ``.parse`` (and ``.stream``, which calls ``create``): request and reply attributes.

A reply records one output message per choice (``n > 1`` gives several, in choice order), its tool
calls, finish reasons, usage, response id and model: :class:`ChatReply` copies them from the
``ChatCompletion`` when the call returns, the background thread makes the attributes. A stream is
reassembled from its chunks' JSON by :class:`ChatStreamRecorder`, off the application's thread: text deltas
joined, tool-call deltas merged by index (their argument fragments may interleave with content and with
other calls), the usage chunk of ``stream_options={"include_usage": True}`` kept.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from operator import itemgetter
from typing import Any

from instrumentation import semconv as sc
from instrumentation.openai.call import guard
from instrumentation.openai.messages import Redact, input_messages, output_message, split_system
from instrumentation.openai.request import (
    RequestSnapshot,
    begin,
    context_attributes,
    invocation_parameters,
    materialize,
    request_scalars,
    to_json,
)
from instrumentation.redaction import ContentPolicy

__all__ = ["ChatOperation", "ChatReply", "ChatStreamRecorder", "usage_attributes"]

_ITERABLE_ARGUMENTS = ("messages", "tools", "stop")
_LEFT_OUT = frozenset({"extra_headers", "extra_query", "timeout"})  # transport options: never recorded
_LEFT_OUT_WITHOUT_CONTENT = _LEFT_OUT | {"messages"}
_OWN_FIELDS = frozenset({"model", "messages", "tools", "response_format"})
_OUTPUT_TYPES = {"json_schema": "json", "json_object": "json", "text": "text"}


@cache
def _type_to_response_format() -> Any:
    from openai.lib._parsing import type_to_response_format_param

    return type_to_response_format_param


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


def _call_fields(call: Any) -> tuple[Any, Any, Any]:
    function = getattr(call, "function", None)
    if function is not None:
        return call.id, function.name, function.arguments
    custom = getattr(call, "custom", None)  # a custom (free-form) tool call
    return getattr(call, "id", None), getattr(custom, "name", None), getattr(custom, "input", None)


class ChatOperation:
    """How a chat completion call is recorded."""

    def start(
        self, resource: Any, kwargs: dict[str, Any], policy: ContentPolicy
    ) -> tuple[str, dict[str, Any], RequestSnapshot]:
        """(span name, attributes at start, request snapshot); may replace one-shot iterables in ``kwargs``."""
        materialize(kwargs, _ITERABLE_ARGUMENTS)
        left_out = _LEFT_OUT if policy.capture else _LEFT_OUT_WITHOUT_CONTENT
        schema = kwargs.get("response_format")
        if isinstance(schema, type):  # parse(response_format=Model)
            left_out = left_out | {"response_format"}
        else:
            schema = None
        return begin(
            "chat",
            resource,
            kwargs,
            left_out=left_out,
            prompt_source=kwargs.get("messages"),
            capture=policy.capture,
            schema=schema,
        )

    def request_attributes(self, request: RequestSnapshot, policy: ContentPolicy) -> dict[str, Any]:
        content = request.content()
        arguments = content["arguments"]
        params = invocation_parameters(arguments, _OWN_FIELDS)
        attributes = request_scalars(params)
        if params:
            attributes[sc.SPANLAB_REQUEST_INVOCATION_PARAMETERS] = to_json(params)
        tools = arguments.get("tools")
        if tools:
            attributes[sc.GEN_AI_TOOL_DEFINITIONS] = to_json(tools)
        sent = _type_to_response_format()(request.schema) if request.schema else arguments.get("response_format")
        if sent is not None:
            attributes[sc.SPANLAB_REQUEST_RESPONSE_FORMAT] = to_json(sent)
            output_type = _OUTPUT_TYPES.get(str(sent.get("type"))) if isinstance(sent, dict) else None
            if output_type is not None:
                attributes[sc.GEN_AI_OUTPUT_TYPE] = output_type
        messages = arguments.get("messages")
        if policy.capture and isinstance(messages, list):
            attributes.update(guard(_input_attributes, messages, policy) or {})  # a failing redactor: no content
        attributes.update(context_attributes(request, content, policy))
        return attributes

    def reply(self, result: Any) -> ChatReply | None:
        """The reply of a ``ChatCompletion`` (anything else, such as a raw HTTP response, records nothing)."""
        return ChatReply(result) if isinstance(getattr(result, "choices", None), list) else None

    def stream_recorder(self) -> ChatStreamRecorder:
        return ChatStreamRecorder()


def _input_attributes(messages: list[Any], policy: ContentPolicy) -> dict[str, Any]:
    system, rest = split_system(messages)
    attributes = {sc.GEN_AI_INPUT_MESSAGES: to_json(input_messages(rest, policy.redact))}
    if system is not None:
        attributes[sc.GEN_AI_SYSTEM_INSTRUCTIONS] = to_json([{"type": "text", "content": policy.redact(system)}])
    return attributes


def _outputs(choices: Iterable[tuple[Any, Any, Any, Any]], redact: Redact) -> dict[str, Any]:
    """``gen_ai.output.messages`` of (role, text, tool calls, finish reason) choices."""
    messages = [output_message(role, text, calls, finish, redact) for role, text, calls, finish in choices]
    return {sc.GEN_AI_OUTPUT_MESSAGES: to_json(messages)}


class ChatReply:
    """A ``ChatCompletion`` as recorded: its choices (index, role, text, tool calls, finish reason), usage, id,
    model, system fingerprint and service tier, copied when the call returns."""

    __slots__ = ("choices", "fingerprint", "model", "response_id", "tier", "usage")
    error: str | None = None

    def __init__(self, completion: Any) -> None:
        self.response_id = completion.id
        self.model = completion.model
        self.fingerprint = getattr(completion, "system_fingerprint", None)
        self.tier = getattr(completion, "service_tier", None)
        self.usage = usage_attributes(completion.usage)  # ints: nothing left to copy
        choices = []
        for choice in completion.choices:
            message = choice.message
            calls = message.tool_calls
            fields = [_call_fields(call) for call in calls] if calls else []
            choices.append((choice.index, message.role, message.content, fields, choice.finish_reason))
        self.choices = choices

    def attributes(self, policy: ContentPolicy) -> dict[str, Any]:
        attributes = _response_attributes(self.response_id, self.model, self.fingerprint, self.tier)
        attributes.update(self.usage)
        ordered = sorted(self.choices, key=itemgetter(0)) if len(self.choices) > 1 else self.choices
        attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] = [choice[4] or "" for choice in ordered]
        if policy.capture:
            attributes.update(guard(_outputs, [choice[1:] for choice in ordered], policy.redact) or {})
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
            if not isinstance(delta, dict):
                continue
            entry = self.calls.get(delta.get("index", 0))
            if entry is None:
                entry = self.calls[delta.get("index", 0)] = [None, None, []]
            if delta.get("id"):
                entry[0] = delta["id"]
            function = delta.get("function") or delta.get("custom")  # a custom tool's call: name and input
            if isinstance(function, dict):
                if function.get("name") and not entry[1]:
                    entry[1] = function["name"]
                arguments = function.get("arguments", function.get("input"))
                if isinstance(arguments, str) and arguments:
                    entry[2].append(arguments)

    def fields(self) -> tuple[Any, Any, Any, Any]:
        """(role, text, tool calls, finish reason), as :func:`_outputs` takes them."""
        text = "".join(self.texts) if self.texts else None
        calls = [(entry[0], entry[1], "".join(entry[2])) for _, entry in sorted(self.calls.items())]
        return self.role, text, calls, self.finish_reason


def _usage_attributes(usage: dict[str, Any]) -> dict[str, Any]:
    """Token counts of a chat usage object in its JSON form (see :func:`usage_attributes`)."""
    attributes: dict[str, Any] = {}
    for key, attribute in (
        ("prompt_tokens", sc.GEN_AI_USAGE_INPUT_TOKENS),
        ("completion_tokens", sc.GEN_AI_USAGE_OUTPUT_TOKENS),
    ):
        value = usage.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            attributes[attribute] = value
    details = usage.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    if isinstance(cached, int) and cached:
        attributes[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = cached
    return attributes


class ChatStreamRecorder:
    """Reassembles a streamed chat completion from its chunks' JSON; it is then the call's reply.

    It reads the chunks as the server sent them (:meth:`add_data`, from the stream's bytes: see
    :mod:`.streams`), after the stream ended and off the application's thread when spans are exported in
    batches. Text deltas are joined, tool-call deltas merged by index (their argument fragments may
    interleave with content and with other calls), the usage chunk of ``stream_options={"include_usage":
    True}`` kept; what every chunk repeats (id, model, system fingerprint, service tier) is read from the
    first and last chunk. Chunks given as ``openai`` objects (:meth:`add`, when a stream cannot be recorded
    from its bytes) are read through their JSON form.
    """

    __slots__ = ("choices", "first", "last", "response", "usage")
    error: str | None = None

    def __init__(self) -> None:
        self.choices: dict[int, _Choice] = {}
        self.first: dict[str, Any] | None = None
        self.last: dict[str, Any] | None = None
        self.usage: dict[str, Any] | None = None
        self.response: tuple[Any, Any, Any, Any, dict[str, Any]] | None = None  # see reply()

    def add(self, chunks: list[Any]) -> None:
        self.add_data([chunk.to_dict() for chunk in chunks])

    def add_data(self, chunks: list[Any]) -> None:
        states = self.choices
        for chunk in chunks:
            if not isinstance(chunk, dict) or chunk.get("error"):  # the client raises an error event, never yields it
                continue
            if self.first is None:
                self.first = chunk
            self.last = chunk
            choices = chunk.get("choices") or ()
            done = not choices  # the usage chunk of include_usage has no choices
            for choice in choices:
                if not isinstance(choice, dict):
                    continue
                index = choice.get("index", 0)
                state = states.get(index)
                delta = choice.get("delta")
                if not isinstance(delta, dict):
                    delta = {}
                if state is None:
                    state = states[index] = _Choice()
                    state.role = delta.get("role")
                content = delta.get("content")
                if isinstance(content, str) and content:
                    state.texts.append(content)
                calls = delta.get("tool_calls")
                if calls:
                    state.add_calls(calls)
                finish_reason = choice.get("finish_reason")
                if finish_reason:
                    state.finish_reason = finish_reason
                    done = True
            usage = chunk.get("usage")
            if done and isinstance(usage, dict):  # some servers put usage on the last content chunk instead
                self.usage = usage

    def reply(self) -> ChatStreamRecorder | None:
        """The stream's reply, once it ended (None when no chunk arrived); the chunks are let go."""
        first, last = self.first, self.last
        if first is None or last is None:
            return None
        self.response = (
            first.get("id"),
            first.get("model"),
            last.get("system_fingerprint"),
            last.get("service_tier"),
            _usage_attributes(self.usage) if self.usage is not None else {},
        )
        self.first = self.last = self.usage = None
        return self

    def attributes(self, policy: ContentPolicy) -> dict[str, Any]:
        if self.response is None:
            return {}
        response_id, model, fingerprint, tier, usage = self.response
        attributes = _response_attributes(response_id, model, fingerprint, tier)
        attributes.update(usage)
        ordered = [state for _, state in sorted(self.choices.items())]
        if ordered:
            attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] = [state.finish_reason or "" for state in ordered]
            if policy.capture:
                attributes.update(guard(_outputs, [state.fields() for state in ordered], policy.redact) or {})
        return attributes
