"""``responses.create`` / ``.parse`` (and ``.stream``, which calls ``create``): the Responses API as a chat span.

The span is a GenAI ``chat`` span like any other, written so the collector's canonical fields describe
the same exchange as a chat request would — what a replay through the chat API sends:

- ``instructions`` → ``gen_ai.system_instructions``; ``input`` items → input messages (``function_call``
  items join the assistant turn before them as tool calls, ``function_call_output`` items become tool
  results; reasoning and other server-side items are left out);
- ``text.format`` (or ``parse``'s ``text_format`` model) → ``spanlab.request.response_format`` in the
  chat shape ``{"type": "json_schema", "json_schema": {...}}``; the rest of ``text`` stays a parameter;
- the reply's output items → one assistant message (text joined, function calls as tool calls), its
  finish reason ``tool_call`` / ``stop`` / ``length`` / ``content_filter`` from the status.

A stream is recorded from its final ``response.completed`` (or ``.incomplete`` / ``.failed``) event;
a stream closed before it records the text deltas and function calls seen so far.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from opentelemetry.trace import Status, StatusCode

from instrumentation import semconv as sc
from instrumentation.openai.call import LLMCall, guard
from instrumentation.openai.chat import provider_of, usage_attributes
from instrumentation.openai.messages import Redact, as_dict, content_parts, output_message, text_of
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

__all__ = ["ResponsesOperation", "ResponsesStreamRecorder", "input_items_messages"]

_OWN_FIELDS = frozenset({"model", "input", "instructions", "tools", "text", "text_format"})
_INCOMPLETE_REASONS = {"max_output_tokens": "length", "content_filter": "content_filter"}


@cache
def _type_to_text_format() -> Any:
    from openai.lib._parsing._responses import type_to_text_format_param

    return type_to_text_format_param


def _chat_response_format(text_format: Any) -> dict[str, Any] | None:
    """A Responses ``text.format`` in the chat API's ``response_format`` shape."""
    if not isinstance(text_format, dict):
        return None
    kind = text_format.get("type")
    if kind != "json_schema":
        return {"type": kind} if isinstance(kind, str) else None
    schema = {key: value for key, value in text_format.items() if key != "type"}
    return {"type": "json_schema", "json_schema": schema}


def input_items_messages(items: Any, redact: Redact) -> list[dict[str, Any]]:
    """GenAI input messages of a Responses ``input`` (a string or a list of items)."""
    if isinstance(items, str):
        return [{"role": "user", "parts": [{"type": "text", "content": redact(items)}]}]
    messages: list[dict[str, Any]] = []
    for raw in items if isinstance(items, list | tuple) else ():
        item = as_dict(raw)
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind == "function_call":
            arguments = item.get("arguments")
            part = {"type": "tool_call", "id": item.get("call_id"), "name": item.get("name"), "arguments": arguments}
            if isinstance(arguments, str) and arguments:
                part["arguments"] = redact(arguments)
            if messages and messages[-1]["role"] == "assistant":
                messages[-1]["parts"].append(part)
            else:
                messages.append({"role": "assistant", "parts": [part]})
        elif kind == "function_call_output":
            output = item.get("output")
            text = output if isinstance(output, str) else text_of(output)
            response = redact(text) if text else text
            part = {"type": "tool_call_response", "id": item.get("call_id"), "response": response}
            messages.append({"role": "tool", "parts": [part]})
        elif item.get("role") is not None and kind in (None, "message"):
            messages.append({"role": item["role"], "parts": content_parts(item.get("content"), redact)})
    return messages


def _output(response: Any, redact: Redact) -> tuple[dict[str, Any], str | None]:
    """(the assistant message, its finish reason) of a ``Response``."""
    texts: list[str] = []
    calls: list[tuple[Any, Any, Any]] = []
    for item in response.output or ():
        if item.type == "message":
            texts.extend(part.text for part in item.content if getattr(part, "type", None) == "output_text")
        elif item.type == "function_call":
            calls.append((item.call_id, item.name, item.arguments))
    return output_message("assistant", "".join(texts) if texts else None, calls, None, redact), _finish(
        response, bool(calls)
    )


def _finish(response: Any, has_calls: bool) -> str | None:
    status = getattr(response, "status", None)
    if status == "incomplete":
        reason = getattr(getattr(response, "incomplete_details", None), "reason", None)
        return _INCOMPLETE_REASONS.get(reason, "length") if isinstance(reason, str) else "length"
    if has_calls:
        return "tool_calls"
    return "stop" if status == "completed" else status


def _record_response(call: LLMCall, response: Any) -> None:
    attributes: dict[str, Any] = {}
    for attribute, value in (
        (sc.GEN_AI_RESPONSE_ID, getattr(response, "id", None)),
        (sc.GEN_AI_RESPONSE_MODEL, getattr(response, "model", None)),
        (sc.OPENAI_RESPONSE_SERVICE_TIER, getattr(response, "service_tier", None)),
    ):
        if isinstance(value, str) and value:
            attributes[attribute] = value
    attributes.update(usage_attributes(getattr(response, "usage", None)))
    has_calls = any(getattr(item, "type", None) == "function_call" for item in response.output or ())
    finish = _finish(response, has_calls)
    if finish is not None:
        attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] = [finish]
    if call.policy.capture:
        attributes.update(guard(_output_attributes, response, call.policy.redact) or {})
    call.set_attributes(attributes)
    error = getattr(response, "error", None)
    if getattr(response, "status", None) == "failed":
        call.span.set_status(Status(StatusCode.ERROR, str(getattr(error, "message", None) or "response failed")))


def _output_attributes(response: Any, redact: Redact) -> dict[str, Any]:
    message, finish = _output(response, redact)
    if finish is not None:
        message["finish_reason"] = "tool_call" if finish == "tool_calls" else finish
    return {sc.GEN_AI_OUTPUT_MESSAGES: to_json([message])}


class ResponsesOperation:
    """How a Responses API call is recorded."""

    operation = "chat"
    iterable_arguments = ("input", "tools")

    def request(self, resource: Any, kwargs: dict[str, Any], policy: ContentPolicy) -> tuple[str, dict[str, Any]]:
        materialize(kwargs, self.iterable_arguments)
        model = kwargs.get("model")
        attributes: dict[str, Any] = {sc.GEN_AI_OPERATION_NAME: "chat", sc.GEN_AI_PROVIDER_NAME: provider_of(resource)}
        if isinstance(model, str):
            attributes[sc.GEN_AI_REQUEST_MODEL] = model
        attributes.update(endpoint_attributes(resource))
        params = invocation_parameters(kwargs, _OWN_FIELDS)
        text = as_dict(kwargs.get("text"))
        text_format: Any = None
        if isinstance(text, dict) and given(text):
            text_format = as_dict(text.get("format"))
            rest = {key: value for key, value in text.items() if key != "format"}
            if rest:
                params["text"] = rest
        parsed_type = kwargs.get("text_format")
        if isinstance(parsed_type, type):
            text_format = _type_to_text_format()(parsed_type)
        attributes.update(request_scalars(params))
        if params:
            attributes[sc.SPANLAB_REQUEST_INVOCATION_PARAMETERS] = to_json(params)
        response_format = _chat_response_format(text_format)
        if response_format is not None:
            attributes[sc.SPANLAB_REQUEST_RESPONSE_FORMAT] = to_json(response_format)
            attributes[sc.GEN_AI_OUTPUT_TYPE] = "text" if response_format["type"] == "text" else "json"
        tools = kwargs.get("tools")
        if tools and given(tools):
            attributes[sc.GEN_AI_TOOL_DEFINITIONS] = to_json(list(tools))
        items = kwargs.get("input")
        if policy.capture:
            attributes.update(guard(_input_attributes, items, kwargs.get("instructions"), policy) or {})
        attributes.update(context_attributes(items, policy))
        return f"chat {model}" if isinstance(model, str) else "chat", attributes

    def response(self, call: LLMCall, result: Any) -> None:
        """Record a ``Response`` (anything else, such as a raw HTTP response, records nothing)."""
        if getattr(result, "object", None) == "response":
            _record_response(call, result)

    def stream_recorder(self) -> ResponsesStreamRecorder:
        return ResponsesStreamRecorder()


def _input_attributes(items: Any, instructions: Any, policy: ContentPolicy) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    if isinstance(instructions, str) and instructions:
        system = [{"type": "text", "content": policy.redact(instructions)}]
        attributes[sc.GEN_AI_SYSTEM_INSTRUCTIONS] = to_json(system)
    if items is not None and given(items):
        attributes[sc.GEN_AI_INPUT_MESSAGES] = to_json(input_items_messages(items, policy.redact))
    return attributes


class ResponsesStreamRecorder:
    """Records a streamed Responses call from its events."""

    __slots__ = ("calls", "error", "response", "started", "texts")

    def __init__(self) -> None:
        self.response: Any = None  # the final response, from response.completed / .incomplete / .failed
        self.started: Any = None  # the response of response.created: id and model if the stream stops early
        self.texts: list[str] = []
        self.calls: list[tuple[Any, Any, Any]] = []
        self.error: str | None = None

    def add(self, event: Any) -> None:
        kind = getattr(event, "type", None)
        if kind == "response.output_text.delta":
            self.texts.append(event.delta)
        elif kind in ("response.completed", "response.incomplete", "response.failed"):
            self.response = event.response
        elif kind == "response.created":
            self.started = event.response
        elif kind == "response.output_item.done" and getattr(event.item, "type", None) == "function_call":
            self.calls.append((event.item.call_id, event.item.name, event.item.arguments))
        elif kind == "error":
            self.error = str(getattr(event, "message", None) or "stream error")

    def finish(self, call: LLMCall) -> None:
        if self.response is not None:
            _record_response(call, self.response)
        else:
            self._record_partial(call)
        if self.error is not None:
            call.span.set_status(Status(StatusCode.ERROR, self.error))

    def _record_partial(self, call: LLMCall) -> None:
        attributes: dict[str, Any] = {}
        if self.started is not None:
            for attribute, value in (
                (sc.GEN_AI_RESPONSE_ID, self.started.id),
                (sc.GEN_AI_RESPONSE_MODEL, self.started.model),
            ):
                if isinstance(value, str):
                    attributes[attribute] = value
        if call.policy.capture and (self.texts or self.calls):
            attributes.update(guard(self._partial_output, call.policy.redact) or {})
        call.set_attributes(attributes)

    def _partial_output(self, redact: Redact) -> dict[str, Any]:
        text = "".join(self.texts) if self.texts else None
        return {sc.GEN_AI_OUTPUT_MESSAGES: to_json([output_message("assistant", text, self.calls, None, redact)])}
