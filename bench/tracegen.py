"""Plan one trace of the support agent: which steps ran, what each model saw and said, how long it took.

Step shapes (weights): one LLM call (answer, 30 %), two (classify → answer, 40 %), three (classify →
answer → review, 30 %); a third of the multi-call traces use a tool instead of classifying: answer with
``tool_calls`` → TOOL → final answer (→ review). Every span fails independently with probability
:data:`ERROR_RATE`.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field

from bench.calls import AgentRun, Attributes, LlmCall, LogEvent, Message, Provider, ToolCall, ToolDef, ToolRun
from bench.conventions import agent_span, llm_log_events, llm_span, tool_span
from bench.corpus import Question, answer_text, load_questions, review_text, system_prompt
from bench.plans import EventPlan, SpanPlan

__all__ = ["ERROR_RATE", "MODELS", "TOOLS", "TRACE_SPAN_MEAN", "plan_trace"]

ERROR_RATE = 0.05
TRACE_SPAN_MEAN = 1 + 2.0 + 0.7 * 0.35  # root + mean LLM calls + tool spans
_TOOL_SHARE = 0.35  # of traces with two or three LLM calls

OPENAI = Provider("openai", "openai", "openai", "llm-gateway.internal")
ANTHROPIC = Provider("anthropic", "anthropic", "Anthropic", "api.anthropic.com")
MISTRAL = Provider("mistral_ai", "mistralai", "MistralAI", "api.mistral.ai")
MODELS: tuple[tuple[Provider, str, int], ...] = (
    (OPENAI, "gpt-4o-mini", 40),
    (OPENAI, "gpt-4.1", 20),
    (ANTHROPIC, "claude-3-5-haiku-20241022", 15),
    (ANTHROPIC, "claude-sonnet-4-20250514", 10),
    (OPENAI, "o4-mini", 10),
    (MISTRAL, "mistral-small-latest", 5),
)
_MODEL_WEIGHTS = [w for _, _, w in MODELS]


def _schema(**properties: str) -> str:
    props = {k: {"type": "string", "description": v} for k, v in properties.items()}
    return json.dumps({"type": "object", "properties": props, "required": list(props)})


TOOLS = (
    ToolDef(
        "get_card_status",
        "Delivery and activation status of the customer's cards.",
        _schema(customer_id="Customer id", card_last4="Last four digits of the card"),
    ),
    ToolDef(
        "get_transfer_status",
        "Status of an outgoing or incoming bank transfer.",
        _schema(customer_id="Customer id", transfer_id="Transfer reference"),
    ),
    ToolDef(
        "freeze_card",
        "Freeze a card immediately; only the customer can unfreeze it.",
        _schema(customer_id="Customer id", card_last4="Last four digits of the card"),
    ),
    ToolDef(
        "list_recent_transactions",
        "The customer's transactions of the last 30 days.",
        _schema(customer_id="Customer id", merchant="Optional merchant name filter"),
    ),
)
_TOOL_RESULTS = (
    {"status": "shipped", "carrier": "DHL", "eta_business_days": 2},
    {"status": "pending", "reason": "awaiting_settlement", "expected_settlement_days": 1},
    {"status": "frozen", "frozen_at": "2025-05-14T09:31:02Z"},
    {"status": "completed", "amount": "42.10", "currency": "EUR", "merchant": "CityCabs"},
)
_ERRORS = (
    (
        "RateLimitError",
        "Error code: 429 - Rate limit reached for requests per minute. Please try again in 2s.",
    ),
    ("APITimeoutError", "Request timed out."),
    ("InternalServerError", "Error code: 500 - The server had an error while processing your request."),
    ("BadRequestError", "Error code: 400 - This model's maximum context length is 128000 tokens."),
)
_SCOPES = {  # (model-call scope, app scope) per convention
    "genai": ("opentelemetry.instrumentation.openai_v2", "support_bot.agent"),
    "genai-legacy": ("opentelemetry.instrumentation.openai_v2", "support_bot.agent"),
    "openinference": ("openinference.instrumentation.openai", "openinference.instrumentation.openai_agents"),
    "openllmetry": ("opentelemetry.instrumentation.openai.v1", "traceloop.tracer"),
}
_INTERNAL, _CLIENT = 0, 2  # SDK SpanKind values


@dataclass(slots=True)
class _Trace:
    """The state of one trace being planned: its random stream, clock and spans."""

    rng: random.Random
    convention: str
    trace_id: bytes
    span_ids: list[bytes]
    clock: int
    provider: Provider
    model: str
    question: Question
    session_id: str
    user_id: str
    spans: list[SpanPlan] = field(default_factory=list)

    def next_span_id(self) -> bytes:
        return self.span_ids[len(self.spans) + 1]  # index 0 is the root's

    def advance(self, low_ms: float, high_ms: float) -> tuple[int, int]:
        start = self.clock + int(self.rng.uniform(1, 8) * 1e6)
        self.clock = start + int(self.rng.uniform(low_ms, high_ms) * 1e6)
        return start, self.clock

    def failed(self) -> tuple[str, str] | None:
        return self.rng.choice(_ERRORS) if self.rng.random() < ERROR_RATE else None


def plan_trace(
    *,
    index: int,
    seed: int,
    convention: str,
    trace_id: bytes,
    span_ids: list[bytes],
    start_ns: int,
    session_prefix: str,
) -> list[SpanPlan]:
    """All spans of one trace, root first; content depends only on ``(seed, index)``."""
    rng = random.Random(seed * 1_000_003 + index)
    questions = load_questions()
    provider, model, _ = rng.choices(MODELS, weights=_MODEL_WEIGHTS)[0]
    t = _Trace(
        rng,
        convention,
        trace_id,
        span_ids,
        start_ns,
        provider,
        model,
        questions[rng.randrange(len(questions))],
        f"sess-{session_prefix}-{index // 5:x}",
        f"user-{rng.randrange(20_000):05d}",
    )
    answer = _run_steps(t, _history(rng, questions))
    root = _agent_span(t, start_ns, answer)
    return [root, *t.spans]


def _history(rng: random.Random, questions: tuple[Question, ...]) -> tuple[Message, ...]:
    """Zero to two earlier turns of the same chat session."""
    turns: list[Message] = []
    for _ in range(rng.choice((0, 0, 1, 2))):
        earlier = questions[rng.randrange(len(questions))]
        turns += [Message("user", earlier.text), Message("assistant", answer_text(rng, earlier))]
    return tuple(turns)


def _run_steps(t: _Trace, history: tuple[Message, ...]) -> str | None:
    n_calls = t.rng.choices((1, 2, 3), weights=(3, 4, 3))[0]
    use_tool = n_calls >= 2 and t.rng.random() < _TOOL_SHARE
    answer_system = system_prompt(t.rng, "answer")
    user = Message("user", t.question.text)
    if use_tool:
        call = ToolCall(
            f"call_{t.rng.getrandbits(96):024x}",
            t.rng.choice(TOOLS).name,
            json.dumps({"customer_id": t.user_id, "card_last4": f"{t.rng.randrange(10_000):04d}"}),
        )
        _llm(t, answer_system, (*history, user), Message("assistant", None, (call,)), tools=True)
        result = _tool(t, call)
        tool_turn = (
            Message("assistant", None, (call,)),
            Message("tool", result or "error", tool_call_id=call.id),
        )
        answer = _llm(t, answer_system, (*history, user, *tool_turn), _answer(t), tools=True)
    else:
        if n_calls >= 2:
            _llm(t, system_prompt(t.rng, "classify"), (user,), Message("assistant", t.question.intent))
        answer = _llm(t, answer_system, (*history, user), _answer(t), tools=True)
    if n_calls == 3:
        draft = f"Customer message:\n{t.question.text}\n\nDraft reply:\n{answer or '(no draft: the call failed)'}"
        _llm(
            t,
            system_prompt(t.rng, "review"),
            (Message("user", draft),),
            Message("assistant", review_text(t.rng)),
        )
    return answer


def _answer(t: _Trace) -> Message:
    return Message("assistant", answer_text(t.rng, t.question))


def _llm(t: _Trace, system: str, messages: tuple[Message, ...], output: Message, *, tools: bool = False) -> str | None:
    """Plan one chat call; returns its text reply (None when it failed or only called tools)."""
    start, end = t.advance(300, 900) if not tools else t.advance(800, 4000)
    error = t.failed()
    prompt_chars = len(system) + sum(len(m.content or "") for m in messages)
    call = LlmCall(
        provider=t.provider,
        model=t.model,
        temperature=t.rng.choice((0.0, 0.2, 0.7, 1.0)),
        max_tokens=t.rng.choice((256, 512, 1024)),
        top_p=1.0,
        system=system,
        messages=messages,
        output=None if error else output,
        finish_reason="tool_calls" if output.tool_calls else "stop",
        input_tokens=prompt_chars // 4 + t.rng.randrange(8, 40),
        output_tokens=len(output.content or "") // 4 + 12,
        response_id=f"chatcmpl-{t.rng.getrandbits(96):024x}",
        session_id=t.session_id,
        user_id=t.user_id,
        tools=tuple(t.rng.sample(TOOLS, 3)) if tools else (),
        system_as_message=t.rng.random() < 0.5,
    )
    name, attributes = llm_span(t.convention, call)
    if error:
        attributes["error.type"] = error[0]
    logs = tuple(llm_log_events(call)) if t.convention == "genai-legacy" else ()
    _add(t, name, _CLIENT, start, end, attributes, error, scope=_SCOPES[t.convention][0], role="llm", logs=logs)
    return None if error or output.content is None else output.content


def _tool(t: _Trace, call: ToolCall) -> str | None:
    start, end = t.advance(20, 250)
    error = t.failed()
    result = None if error else json.dumps(t.rng.choice(_TOOL_RESULTS))
    name, attributes = tool_span(t.convention, ToolRun(call, result))
    _add(t, name, _INTERNAL, start, end, attributes, error, scope=_SCOPES[t.convention][1], role="tool")
    return result


def _add(
    t: _Trace,
    name: str,
    kind: int,
    start: int,
    end: int,
    attributes: Attributes,
    error: tuple[str, str] | None,
    *,
    scope: str,
    role: str,
    logs: tuple[LogEvent, ...] = (),
) -> None:
    t.spans.append(
        SpanPlan(
            trace_id=t.trace_id,
            span_id=t.next_span_id(),
            parent_span_id=t.span_ids[0],
            scope=scope,
            name=name,
            kind=kind,
            start_ns=start,
            end_ns=end,
            attributes=attributes,
            status=2 if error else 0,
            status_message=f"{error[0]}: {error[1]}" if error else "",
            events=_exception(error, end),
            logs=logs,
            convention=t.convention,
            role=role,
        )
    )


def _exception(error: tuple[str, str] | None, at: int) -> tuple[EventPlan, ...]:
    if error is None:
        return ()
    attributes: Attributes = {
        "exception.type": error[0],
        "exception.message": error[1],
        "exception.escaped": False,
    }
    return (EventPlan("exception", at, attributes),)


def _agent_span(t: _Trace, start: int, answer: str | None) -> SpanPlan:
    error = t.failed()
    run = AgentRun(
        "support_agent",
        t.question.text,
        None if error else answer,
        t.session_id,
        t.user_id,
        t.provider,
        as_chain=t.rng.random() < 0.5,
    )
    name, attributes = agent_span(t.convention, run)
    end = t.clock + int(t.rng.uniform(1, 5) * 1e6)
    return SpanPlan(
        trace_id=t.trace_id,
        span_id=t.span_ids[0],
        parent_span_id=None,
        scope=_SCOPES[t.convention][1],
        name=name,
        kind=_INTERNAL,
        start_ns=start,
        end_ns=end,
        attributes=attributes,
        status=2 if error else 0,
        status_message=f"{error[0]}: {error[1]}" if error else "",
        events=_exception(error, end),
        convention=t.convention,
        role="agent",
    )
