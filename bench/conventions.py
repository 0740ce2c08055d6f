"""Span attributes in the three conventions spanlab normalizes, plus the legacy GenAI log-event style.

* ``genai``: OTel GenAI semantic conventions, current (``gen_ai.provider.name``,
  ``gen_ai.input.messages`` as JSON in the parts format, ``gen_ai.system_instructions``,
  ``gen_ai.usage.input_tokens``).
* ``openinference``: Arize OpenInference (``openinference.span.kind``, flattened
  ``llm.input_messages.{i}...``, ``llm.token_count.*``, ``input.value``/``output.value``, ``session.id``).
* ``openllmetry``: Traceloop OpenLLMetry (``llm.request.type``, ``gen_ai.prompt.{i}.*``,
  ``gen_ai.completion.{i}.*``, ``llm.usage.total_tokens``, ``traceloop.*`` on workflow and tool spans).
* ``genai-legacy``: the older GenAI style of ``opentelemetry-instrumentation-openai-v2``: no content on the
  span, the messages travel as log events (``gen_ai.system.message``, ``gen_ai.user.message``,
  ``gen_ai.choice``).

Each builder returns ``(span name, attributes)``; the legacy LLM builder also returns its log events.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable

import orjson

from bench.calls import AgentRun, Attributes, LlmCall, LogEvent, Message, ToolCall, ToolRun

__all__ = ["CONVENTIONS", "LEGACY", "agent_span", "llm_log_events", "llm_span", "tool_span"]

GENAI, OPENINFERENCE, OPENLLMETRY, LEGACY = "genai", "openinference", "openllmetry", "genai-legacy"
CONVENTIONS = (GENAI, OPENINFERENCE, OPENLLMETRY)

Named = tuple[str, Attributes]


def _dumps(value: object) -> str:
    return orjson.dumps(value).decode()


# -- OTel GenAI, current -------------------------------------------------------------------------------------
def _parts(message: Message) -> list[dict[str, object]]:
    parts: list[dict[str, object]] = []
    if message.role == "tool":
        parts.append({"type": "tool_call_response", "id": message.tool_call_id, "response": message.content})
        return parts
    if message.content:
        parts.append({"type": "text", "content": message.content})
    for call in message.tool_calls:
        parts.append({"type": "tool_call", "id": call.id, "name": call.name, "arguments": orjson.loads(call.arguments)})
    return parts


def _genai_llm(call: LlmCall) -> Named:
    inputs = [{"role": m.role, "parts": _parts(m)} for m in call.messages]
    attrs: Attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": call.provider.genai,
        "gen_ai.request.model": call.model,
        "gen_ai.request.temperature": call.temperature,
        "gen_ai.request.max_tokens": call.max_tokens,
        "gen_ai.request.top_p": call.top_p,
        "gen_ai.conversation.id": call.session_id,
        "server.address": call.provider.host,
        "server.port": 443,
    }
    if call.system_as_message:
        inputs.insert(0, {"role": "system", "parts": [{"type": "text", "content": call.system}]})
    else:
        attrs["gen_ai.system_instructions"] = _dumps([{"type": "text", "content": call.system}])
    attrs["gen_ai.input.messages"] = _dumps(inputs)
    if call.tools:
        attrs["gen_ai.tool.definitions"] = _dumps(
            [_tool_schema(t.name, t.description, t.parameters) for t in call.tools]
        )
    attrs["gen_ai.usage.input_tokens"] = call.input_tokens
    if call.output is not None:
        output = {"role": "assistant", "parts": _parts(call.output), "finish_reason": call.finish_reason}
        attrs.update(
            {
                "gen_ai.output.messages": _dumps([output]),
                "gen_ai.response.model": call.model,
                "gen_ai.response.id": call.response_id,
                "gen_ai.response.finish_reasons": (call.finish_reason,),
                "gen_ai.usage.output_tokens": call.output_tokens,
            }
        )
    return f"chat {call.model}", attrs


def _genai_agent(run: AgentRun) -> Named:
    attrs: Attributes = {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": run.name,
        "gen_ai.provider.name": run.provider.genai,
        "gen_ai.conversation.id": run.session_id,
        "gen_ai.input.messages": _dumps([{"role": "user", "parts": [{"type": "text", "content": run.question}]}]),
    }
    if run.answer is not None:
        output = {
            "role": "assistant",
            "parts": [{"type": "text", "content": run.answer}],
            "finish_reason": "stop",
        }
        attrs["gen_ai.output.messages"] = _dumps([output])
    return f"invoke_agent {run.name}", attrs


def _genai_tool(run: ToolRun) -> Named:
    attrs: Attributes = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": run.call.name,
        "gen_ai.tool.type": "function",
        "gen_ai.tool.call.id": run.call.id,
        "gen_ai.tool.call.arguments": run.call.arguments,
    }
    if run.result is not None:
        attrs["gen_ai.tool.call.result"] = run.result
    return f"execute_tool {run.call.name}", attrs


@functools.cache
def _parameters(parameters: str) -> dict[str, object]:
    parsed: dict[str, object] = json.loads(parameters)
    return parsed


def _tool_schema(name: str, description: str, parameters: str) -> dict[str, object]:
    return {
        "type": "function",
        "name": name,
        "description": description,
        "parameters": _parameters(parameters),
    }


# -- OpenInference -------------------------------------------------------------------------------------------
def _oi_message(prefix: str, message: Message, attrs: Attributes) -> None:
    attrs[f"{prefix}.message.role"] = message.role
    if message.content is not None:
        attrs[f"{prefix}.message.content"] = message.content
    if message.tool_call_id:
        attrs[f"{prefix}.message.tool_call_id"] = message.tool_call_id
    for j, call in enumerate(message.tool_calls):
        attrs[f"{prefix}.message.tool_calls.{j}.tool_call.id"] = call.id
        attrs[f"{prefix}.message.tool_calls.{j}.tool_call.function.name"] = call.name
        attrs[f"{prefix}.message.tool_calls.{j}.tool_call.function.arguments"] = call.arguments


def _openai_message(message: Message) -> dict[str, object]:
    out: dict[str, object] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        out["tool_calls"] = [_openai_tool_call(c) for c in message.tool_calls]
    if message.tool_call_id:
        out["tool_call_id"] = message.tool_call_id
    return out


def _openai_tool_call(call: ToolCall) -> dict[str, object]:
    return {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}


def _oi_llm(call: LlmCall) -> Named:
    params = {"temperature": call.temperature, "max_tokens": call.max_tokens, "top_p": call.top_p}
    messages = (Message("system", call.system), *call.messages)
    attrs: Attributes = {
        "openinference.span.kind": "LLM",
        "llm.model_name": call.model,
        "llm.provider": call.provider.openinference,
        "llm.system": call.provider.openinference,
        "llm.invocation_parameters": _dumps(params),
        "input.value": _dumps({"model": call.model, "messages": [_openai_message(m) for m in messages], **params}),
        "input.mime_type": "application/json",
        "session.id": call.session_id,
        "user.id": call.user_id,
    }
    for i, message in enumerate(messages):
        _oi_message(f"llm.input_messages.{i}", message, attrs)
    for i, tool in enumerate(call.tools):
        attrs[f"llm.tools.{i}.tool.json_schema"] = _dumps(_tool_schema(tool.name, tool.description, tool.parameters))
    attrs["llm.token_count.prompt"] = call.input_tokens
    if call.output is not None:
        _oi_message("llm.output_messages.0", call.output, attrs)
        choice = {"index": 0, "message": _openai_message(call.output), "finish_reason": call.finish_reason}
        usage = {"prompt_tokens": call.input_tokens, "completion_tokens": call.output_tokens}
        attrs.update(
            {
                "output.value": _dumps(
                    {"id": call.response_id, "model": call.model, "choices": [choice], "usage": usage}
                ),
                "output.mime_type": "application/json",
                "llm.token_count.completion": call.output_tokens,
                "llm.token_count.total": call.input_tokens + call.output_tokens,
            }
        )
    return "ChatCompletion", attrs


def _oi_agent(run: AgentRun) -> Named:
    attrs: Attributes = {
        "openinference.span.kind": "CHAIN" if run.as_chain else "AGENT",
        "input.value": run.question,
        "input.mime_type": "text/plain",
        "session.id": run.session_id,
        "user.id": run.user_id,
        "metadata": _dumps({"channel": "in_app_chat", "agent": run.name}),
    }
    if run.answer is not None:
        attrs.update({"output.value": run.answer, "output.mime_type": "text/plain"})
    return run.name, attrs


def _oi_tool(run: ToolRun) -> Named:
    attrs: Attributes = {
        "openinference.span.kind": "TOOL",
        "tool.name": run.call.name,
        "tool.parameters": run.call.arguments,
        "input.value": run.call.arguments,
        "input.mime_type": "application/json",
    }
    if run.result is not None:
        attrs.update({"output.value": run.result, "output.mime_type": "application/json"})
    return run.call.name, attrs


# -- OpenLLMetry ---------------------------------------------------------------------------------------------
def _ollm_message(prefix: str, message: Message, attrs: Attributes) -> None:
    attrs[f"{prefix}.role"] = message.role
    if message.content is not None:
        attrs[f"{prefix}.content"] = message.content
    if message.tool_call_id:
        attrs[f"{prefix}.tool_call_id"] = message.tool_call_id
    for j, call in enumerate(message.tool_calls):
        attrs[f"{prefix}.tool_calls.{j}.id"] = call.id
        attrs[f"{prefix}.tool_calls.{j}.name"] = call.name
        attrs[f"{prefix}.tool_calls.{j}.arguments"] = call.arguments


def _ollm_llm(call: LlmCall) -> Named:
    attrs: Attributes = {
        "llm.request.type": "chat",
        "gen_ai.system": call.provider.openllmetry,
        "gen_ai.request.model": call.model,
        "gen_ai.request.temperature": call.temperature,
        "gen_ai.request.max_tokens": call.max_tokens,
        "gen_ai.request.top_p": call.top_p,
        "llm.is_streaming": False,
        "traceloop.association.properties.session_id": call.session_id,
        "traceloop.association.properties.user_id": call.user_id,
    }
    for i, message in enumerate((Message("system", call.system), *call.messages)):
        _ollm_message(f"gen_ai.prompt.{i}", message, attrs)
    for i, tool in enumerate(call.tools):
        attrs[f"llm.request.functions.{i}.name"] = tool.name
        attrs[f"llm.request.functions.{i}.description"] = tool.description
        attrs[f"llm.request.functions.{i}.parameters"] = tool.parameters
    attrs["gen_ai.usage.prompt_tokens"] = call.input_tokens
    if call.output is not None:
        _ollm_message("gen_ai.completion.0", call.output, attrs)
        attrs.update(
            {
                "gen_ai.completion.0.finish_reason": call.finish_reason,
                "gen_ai.response.model": call.model,
                "gen_ai.response.id": call.response_id,
                "gen_ai.usage.completion_tokens": call.output_tokens,
                "llm.usage.total_tokens": call.input_tokens + call.output_tokens,
            }
        )
    return f"{call.provider.openinference}.chat", attrs


def _ollm_agent(run: AgentRun) -> Named:
    attrs: Attributes = {
        "traceloop.span.kind": "workflow",
        "traceloop.workflow.name": run.name,
        "traceloop.entity.name": run.name,
        "traceloop.entity.input": _dumps({"args": [run.question], "kwargs": {}}),
        "traceloop.association.properties.session_id": run.session_id,
        "traceloop.association.properties.user_id": run.user_id,
    }
    if run.answer is not None:
        attrs["traceloop.entity.output"] = _dumps(run.answer)
    return f"{run.name}.workflow", attrs


def _ollm_tool(run: ToolRun) -> Named:
    attrs: Attributes = {
        "traceloop.span.kind": "tool",
        "traceloop.entity.name": run.call.name,
        "traceloop.entity.input": _dumps({"args": [], "kwargs": orjson.loads(run.call.arguments)}),
    }
    if run.result is not None:
        attrs["traceloop.entity.output"] = run.result
    return f"{run.call.name}.tool", attrs


# -- GenAI legacy (content in log events) --------------------------------------------------------------------
def _legacy_llm(call: LlmCall) -> Named:
    attrs: Attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.system": call.provider.genai,
        "gen_ai.request.model": call.model,
        "gen_ai.request.temperature": call.temperature,
        "gen_ai.request.max_tokens": call.max_tokens,
        "server.address": call.provider.host,
        "gen_ai.usage.input_tokens": call.input_tokens,
    }
    if call.output is not None:
        attrs.update(
            {
                "gen_ai.response.model": call.model,
                "gen_ai.response.id": call.response_id,
                "gen_ai.response.finish_reasons": (call.finish_reason,),
                "gen_ai.usage.output_tokens": call.output_tokens,
            }
        )
    return f"chat {call.model}", attrs


def llm_log_events(call: LlmCall) -> list[LogEvent]:
    """The events ``opentelemetry-instrumentation-openai-v2`` (legacy mode) logs for one chat call."""
    system = {"gen_ai.system": call.provider.genai}
    events = [LogEvent("gen_ai.system.message", {"content": call.system}, system)]
    for message in call.messages:
        body: dict[str, object] = {"content": message.content}
        if message.tool_calls:
            body["tool_calls"] = [_openai_tool_call(c) for c in message.tool_calls]
        if message.tool_call_id:
            body["id"] = message.tool_call_id
        events.append(LogEvent(f"gen_ai.{message.role}.message", body, system))
    if call.output is not None:
        choice = {"index": 0, "finish_reason": call.finish_reason, "message": _openai_message(call.output)}
        events.append(LogEvent("gen_ai.choice", choice, system))
    return events


_LLM: dict[str, Callable[[LlmCall], Named]] = {
    GENAI: _genai_llm,
    OPENINFERENCE: _oi_llm,
    OPENLLMETRY: _ollm_llm,
    LEGACY: _legacy_llm,
}
_AGENT: dict[str, Callable[[AgentRun], Named]] = {
    GENAI: _genai_agent,
    OPENINFERENCE: _oi_agent,
    OPENLLMETRY: _ollm_agent,
    LEGACY: _genai_agent,
}
_TOOL: dict[str, Callable[[ToolRun], Named]] = {
    GENAI: _genai_tool,
    OPENINFERENCE: _oi_tool,
    OPENLLMETRY: _ollm_tool,
    LEGACY: _genai_tool,
}


def llm_span(convention: str, call: LlmCall) -> Named:
    return _LLM[convention](call)


def agent_span(convention: str, run: AgentRun) -> Named:
    return _AGENT[convention](run)


def tool_span(convention: str, run: ToolRun) -> Named:
    return _TOOL[convention](run)
