"""Convention-neutral descriptions of what a trace did: the agent run, its model calls and its tool calls.

:mod:`bench.workload` decides *what* happened; :mod:`bench.conventions` writes it down as span attributes in
one of the instrumentation conventions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "AgentRun",
    "AttrValue",
    "Attributes",
    "LlmCall",
    "LogEvent",
    "Message",
    "Provider",
    "ToolCall",
    "ToolDef",
    "ToolRun",
]

AttrValue = str | bool | int | float | tuple[str, ...]
Attributes = dict[str, AttrValue]


@dataclass(frozen=True, slots=True)
class Provider:
    """One model vendor as each convention names it."""

    genai: str  # gen_ai.provider.name (current semconv)
    openinference: str  # llm.provider / llm.system
    openllmetry: str  # gen_ai.system as OpenLLMetry writes it
    host: str


@dataclass(frozen=True, slots=True)
class ToolDef:
    name: str
    description: str
    parameters: str  # JSON schema, as JSON text


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text, as the model returned it


@dataclass(frozen=True, slots=True)
class Message:
    role: str  # user | assistant | tool (the system prompt is LlmCall.system)
    content: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None


@dataclass(frozen=True, slots=True)
class LlmCall:
    """One chat completion. ``output`` is None when the call failed."""

    provider: Provider
    model: str
    temperature: float
    max_tokens: int
    top_p: float
    system: str
    messages: tuple[Message, ...]
    output: Message | None
    finish_reason: str
    input_tokens: int
    output_tokens: int
    response_id: str
    session_id: str
    user_id: str
    tools: tuple[ToolDef, ...] = ()
    system_as_message: bool = False  # GenAI semconv: a system message instead of gen_ai.system_instructions


@dataclass(frozen=True, slots=True)
class AgentRun:
    """The root span: one customer question handled end to end. ``answer`` is None when the run failed."""

    name: str
    question: str
    answer: str | None
    session_id: str
    user_id: str
    provider: Provider
    as_chain: bool = False  # OpenInference CHAIN instead of AGENT


@dataclass(frozen=True, slots=True)
class ToolRun:
    call: ToolCall
    result: str | None


@dataclass(frozen=True, slots=True)
class LogEvent:
    """A legacy GenAI log event (``gen_ai.user.message``, ``gen_ai.choice``…) tied to a span."""

    event_name: str
    body: dict[str, object]
    attributes: dict[str, str] = field(default_factory=dict)
