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
a stream closed before it records the text deltas and function calls that had arrived. What a reply records
is copied into a :class:`ResponsesReply` when the call (or the stream) ends.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from instrumentation import semconv as sc
from instrumentation.openai.call import guard
from instrumentation.openai.chat import usage_attributes
from instrumentation.openai.messages import Redact, as_dict, content_parts, output_message, text_of
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

__all__ = ["ResponsesOperation", "ResponsesReply", "ResponsesStreamRecorder", "input_items_messages"]

_ITERABLE_ARGUMENTS = ("input", "tools")
# Transport options are never recorded; text_format is a pydantic class, kept in the snapshot as it is.
_LEFT_OUT = frozenset({"extra_headers", "extra_query", "timeout", "text_format"})
_LEFT_OUT_WITHOUT_CONTENT = _LEFT_OUT | {"input", "instructions"}
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


def _finish(response: Any, has_calls: bool) -> str | None:
    status = getattr(response, "status", None)
    if status == "incomplete":
        reason = getattr(getattr(response, "incomplete_details", None), "reason", None)
        return _INCOMPLETE_REASONS.get(reason, "length") if isinstance(reason, str) else "length"
    if has_calls:
        return "tool_calls"
    return "stop" if status == "completed" else status


class ResponsesOperation:
    """How a Responses API call is recorded."""

    def start(
        self, resource: Any, kwargs: dict[str, Any], policy: ContentPolicy
    ) -> tuple[str, dict[str, Any], RequestSnapshot]:
        """(span name, attributes at start, request snapshot); may replace one-shot iterables in ``kwargs``."""
        materialize(kwargs, _ITERABLE_ARGUMENTS)
        parsed_type = kwargs.get("text_format")
        return begin(
            "chat",
            resource,
            kwargs,
            left_out=_LEFT_OUT if policy.capture else _LEFT_OUT_WITHOUT_CONTENT,
            prompt_source=kwargs.get("input"),
            capture=policy.capture,
            schema=parsed_type if isinstance(parsed_type, type) else None,
        )

    def request_attributes(self, request: RequestSnapshot, policy: ContentPolicy) -> dict[str, Any]:
        content = request.content()
        arguments = content["arguments"]
        params = invocation_parameters(arguments, _OWN_FIELDS)
        text = arguments.get("text")
        text_format: Any = None
        if isinstance(text, dict):
            text_format = text.get("format")
            rest = {key: value for key, value in text.items() if key != "format"}
            if rest:
                params["text"] = rest
        if request.schema is not None:
            text_format = _type_to_text_format()(request.schema)
        attributes = request_scalars(params)
        if params:
            attributes[sc.SPANLAB_REQUEST_INVOCATION_PARAMETERS] = to_json(params)
        response_format = _chat_response_format(text_format)
        if response_format is not None:
            attributes[sc.SPANLAB_REQUEST_RESPONSE_FORMAT] = to_json(response_format)
            attributes[sc.GEN_AI_OUTPUT_TYPE] = "text" if response_format["type"] == "text" else "json"
        tools = arguments.get("tools")
        if tools:
            attributes[sc.GEN_AI_TOOL_DEFINITIONS] = to_json(tools)
        if policy.capture:
            instructions = arguments.get("instructions")
            attributes.update(guard(_input_attributes, arguments.get("input"), instructions, policy) or {})
        attributes.update(context_attributes(request, content, policy))
        return attributes

    def reply(self, result: Any) -> ResponsesReply | None:
        """The reply of a ``Response`` (anything else, such as a raw HTTP response, records nothing)."""
        return ResponsesReply.of(result) if getattr(result, "object", None) == "response" else None

    def stream_recorder(self) -> ResponsesStreamRecorder:
        return ResponsesStreamRecorder()


def _input_attributes(items: Any, instructions: Any, policy: ContentPolicy) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    if isinstance(instructions, str) and instructions:
        system = [{"type": "text", "content": policy.redact(instructions)}]
        attributes[sc.GEN_AI_SYSTEM_INSTRUCTIONS] = to_json(system)
    if items is not None:
        attributes[sc.GEN_AI_INPUT_MESSAGES] = to_json(input_items_messages(items, policy.redact))
    return attributes


class ResponsesReply:
    """A Responses reply as recorded, copied on the application's thread: ids, usage, finish reason, the
    output text and function calls, and the failure the response or its stream reported.

    ``complete`` is False for a stream that stopped before its final response: the reply then has what
    arrived (the text deltas, finished function calls) and no finish reason.
    """

    __slots__ = ("calls", "complete", "error", "finish", "model", "response_id", "texts", "tier", "usage")

    def __init__(
        self,
        *,
        response_id: Any,
        model: Any,
        texts: list[str],
        calls: list[tuple[Any, Any, Any]],
        tier: Any = None,
        usage: dict[str, Any] | None = None,
        finish: str | None = None,
        error: str | None = None,
        complete: bool = True,
    ) -> None:
        self.response_id = response_id
        self.model = model
        self.tier = tier
        self.usage = usage or {}
        self.finish = finish
        self.texts = texts
        self.calls = calls
        self.error = error
        self.complete = complete

    @classmethod
    def of(cls, response: Any) -> ResponsesReply:
        """The reply of a ``Response`` object."""
        texts: list[str] = []
        calls: list[tuple[Any, Any, Any]] = []
        for item in response.output or ():
            kind = getattr(item, "type", None)
            if kind == "message":
                texts.extend(part.text for part in item.content if getattr(part, "type", None) == "output_text")
            elif kind == "function_call":
                calls.append((item.call_id, item.name, item.arguments))
        error = None
        if getattr(response, "status", None) == "failed":
            error = str(getattr(getattr(response, "error", None), "message", None) or "response failed")
        return cls(
            response_id=getattr(response, "id", None),
            model=getattr(response, "model", None),
            tier=getattr(response, "service_tier", None),
            usage=usage_attributes(getattr(response, "usage", None)),
            finish=_finish(response, bool(calls)),
            texts=texts,
            calls=calls,
            error=error,
        )

    def attributes(self, policy: ContentPolicy) -> dict[str, Any]:
        attributes: dict[str, Any] = {}
        for attribute, value in (
            (sc.GEN_AI_RESPONSE_ID, self.response_id),
            (sc.GEN_AI_RESPONSE_MODEL, self.model),
            (sc.OPENAI_RESPONSE_SERVICE_TIER, self.tier),
        ):
            if isinstance(value, str) and value:
                attributes[attribute] = value
        attributes.update(self.usage)
        if self.finish is not None:
            attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] = [self.finish]
        if policy.capture and (self.complete or self.texts or self.calls):
            attributes.update(guard(self._output, policy.redact) or {})
        return attributes

    def _output(self, redact: Redact) -> dict[str, Any]:
        text = "".join(self.texts) if self.texts else None
        message = output_message("assistant", text, self.calls, None, redact)
        if self.finish is not None:
            message["finish_reason"] = "tool_call" if self.finish == "tool_calls" else self.finish
        return {sc.GEN_AI_OUTPUT_MESSAGES: to_json([message])}


@cache
def _response_type() -> Any:
    from openai.types.responses import Response

    return Response


class ResponsesStreamRecorder:
    """Records a streamed Responses call from its events' JSON (:meth:`add_data`, from the stream's bytes: see
    :mod:`.streams`), after the stream ended and off the application's thread when spans are exported in
    batches; events given as ``openai`` objects (:meth:`add`) are read through their JSON form."""

    __slots__ = ("calls", "error", "response", "started", "texts")

    def __init__(self) -> None:
        self.response: Any = None  # the final response, from response.completed / .incomplete / .failed
        self.started: Any = None  # the response of response.created: id and model if the stream stops early
        self.texts: list[str] = []
        self.calls: list[tuple[Any, Any, Any]] = []
        self.error: str | None = None

    def add(self, events: list[Any]) -> None:
        self.add_data([event.to_dict() for event in events])

    def add_data(self, events: list[Any]) -> None:
        for event in events:
            if not isinstance(event, dict):
                continue
            kind = event.get("type")
            if kind == "response.output_text.delta":
                delta = event.get("delta")
                if isinstance(delta, str):
                    self.texts.append(delta)
            elif kind in ("response.completed", "response.incomplete", "response.failed"):
                response = event.get("response")
                if isinstance(response, dict):
                    self.response = _response_type().construct(**response)  # as the openai client makes it
            elif kind == "response.created":
                self.started = event.get("response")
            elif kind == "response.output_item.done":
                item = event.get("item")
                if isinstance(item, dict) and item.get("type") == "function_call":
                    self.calls.append((item.get("call_id"), item.get("name"), item.get("arguments")))
            elif kind == "error":
                self.error = str(event.get("message") or "stream error")

    def reply(self) -> ResponsesReply:
        """The stream's reply, once it ended: the final response's, or what arrived before the stream stopped."""
        if self.response is not None:
            reply = ResponsesReply.of(self.response)
        else:
            started = self.started if isinstance(self.started, dict) else {}
            reply = ResponsesReply(
                response_id=started.get("id"),
                model=started.get("model"),
                texts=self.texts,
                calls=self.calls,
                complete=False,
            )
        if self.error is not None:  # an error event wins over the response's own status
            reply.error = self.error
        return reply
