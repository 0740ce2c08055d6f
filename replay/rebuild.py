"""Rebuilding a model call from a stored span (or a dataset example) and applying overrides to it.

:class:`Baseline` is the original call as the canonical span fields record it; :func:`build_request` turns a
baseline, the caller's :class:`~replay.overrides.ReplayOverrides`, an optional prompt-hub version and the chosen
provider into the :class:`ReplayRequest` actually sent.

Where the messages come from, first match wins:

1. ``overrides.messages`` — sent as given;
2. an edited ``overrides.template`` or the template of ``overrides.prompt`` — rendered with the recorded
   variables (``overrides.variables`` merged over them);
3. the span's own chat template (``prompt_template`` holding a JSON list of messages) when its variables are
   known — rendered, so ``overrides.variables`` can change them;
4. the recorded ``input_messages``.

When the recorded messages start with the messages the span's template renders to, the rest of them (e.g. the
conversation turns an app appended after its prompt) is kept after whichever template is rendered. A *text*
``prompt_template`` (OpenInference's f-string style, for one) is not a chat template: the recorded messages are
replayed and a note says so.

Parameters, tools and ``response_format`` are the span's, or the prompt version's when one is given (a version is
the whole call configuration), then ``overrides.parameters`` on top. A span is *unreplayable* when it is not an
LLM span, or when no messages or no model can be found: :class:`~replay.errors.Unreplayable` lists every missing
piece at once.
"""

from __future__ import annotations

from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from collector.queries.spans import SpanDetail
from instrumentation.template import MissingVariable, TemplateError, check_template, render_messages
from replay.datasets.models import Example
from replay.errors import TemplateInvalid, Unreplayable, VariablesMissing
from replay.overrides import ReplayOverrides
from replay.prompts.models import PromptVersion
from replay.providers import ResolvedProvider

__all__ = ["Baseline", "ReplayRequest", "baseline_from_example", "baseline_from_span", "build_request"]

_NOT_SENT = ("stream", "stream_options")


class Baseline(BaseModel):
    """The original call and its outcome, as recorded (every field may be missing)."""

    model_config = ConfigDict(protected_namespaces=())

    subject: str = Field(description="What is replayed, for messages: 'span 0123…' or 'example … of dataset …'.")
    kind: str | None = None
    trace_id: str | None = None
    span_id: str | None = None
    dataset: str | None = None
    example_id: str | None = None
    provider: str | None = None
    base_url: str | None = None
    model: str | None = None
    messages: list[dict[str, Any]] | None = None
    template: list[dict[str, Any]] | None = None
    variables: dict[str, Any] | None = None
    tail: list[dict[str, Any]] = Field(default_factory=list, description="Recorded messages after the template's.")
    parameters: dict[str, Any] = Field(default_factory=dict)
    tools: list[dict[str, Any]] | None = None
    response_format: dict[str, Any] | None = None
    prompt_name: str | None = None
    prompt_version: str | None = None
    output_messages: list[dict[str, Any]] | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    latency_ms: float | None = None
    cost: float | None = None
    status_code: str | None = None
    expected_output: Any = None
    notes: list[str] = Field(default_factory=list)


class ReplayRequest(BaseModel):
    """The call a replay sends: endpoint, model, messages, parameters, and where the messages came from."""

    model_config = ConfigDict(protected_namespaces=())

    provider: str
    base_url: str | None = None
    model: str
    messages: list[dict[str, Any]]
    parameters: dict[str, Any] = Field(default_factory=dict)
    tools: list[dict[str, Any]] | None = None
    response_format: dict[str, Any] | None = None
    built_from: Literal["messages", "template"]
    template: list[dict[str, Any]] | None = None
    variables: dict[str, Any] | None = None
    prompt_name: str | None = None
    prompt_version: str | None = None
    notes: list[str] = Field(default_factory=list, description="What was changed or chosen, and why.")


def baseline_from_span(span: SpanDetail) -> Baseline:
    """The recorded call of ``span`` (no check that it is replayable: :func:`build_request` does that)."""
    baseline = Baseline(
        subject=f"span {span.span_id}",
        kind=span.kind,
        trace_id=span.trace_id,
        span_id=span.span_id,
        provider=span.provider,
        base_url=span.base_url,
        model=span.model,
        messages=span.input_messages or None,
        variables=span.prompt_variables,
        parameters=dict(span.invocation_parameters or {}),
        tools=span.tools or None,
        response_format=span.response_format if isinstance(span.response_format, dict) else None,
        prompt_name=span.prompt_name,
        prompt_version=span.prompt_version,
        output_messages=span.output_messages,
        input_tokens=span.input_tokens,
        output_tokens=span.output_tokens,
        latency_ms=span.latency_ms,
        cost=span.cost,
        status_code=span.status_code,
    )
    _attach_template(baseline, span.prompt_template)
    return baseline


def baseline_from_example(example: Example, dataset: str, span: SpanDetail | None) -> Baseline:
    """The call behind a dataset example: its source span's, with the example's ``input`` as the variables
    (or, when the input is ``{"messages": [...]}``, as the messages). Without a source span only the input is
    known; a prompt version or messages and a model must then come from the overrides."""
    baseline = baseline_from_span(span) if span is not None else Baseline(subject="", kind="LLM")
    baseline.subject = f"example {example.id} of dataset {dataset}"
    baseline.dataset, baseline.example_id = dataset, example.id
    baseline.expected_output = example.expected_output
    messages = example.input.get("messages")
    if set(example.input) == {"messages"} and _is_messages(messages):
        baseline.messages, baseline.template, baseline.variables, baseline.tail = messages, None, None, []
    else:
        baseline.variables = dict(example.input)
    return baseline


def build_request(
    baseline: Baseline,
    overrides: ReplayOverrides,
    *,
    provider: ResolvedProvider,
    prompt: PromptVersion | None = None,
) -> ReplayRequest:
    """The call to send (see the module docstring); :class:`Unreplayable` lists what is missing."""
    missing: list[str] = []
    if baseline.kind != "LLM":
        missing.append(f"it is a {baseline.kind or 'kind-less'} span, not an LLM call (only LLM spans replay)")
    notes = [*baseline.notes, f"provider {provider.provider.name!r}: {provider.reason}"]
    model = provider.pick_model(
        requested=overrides.model, preferred=prompt.model_name if prompt else None, recorded=baseline.model
    )
    if not model:
        missing.append("a model: none was recorded; name one (--model or a prompt version with a model)")
    elif baseline.model and model != baseline.model:
        notes.append(f"model {model!r} instead of the recorded {baseline.model!r}")
    source = _messages(baseline, overrides, prompt)
    if source is None:
        missing.append(
            "input messages: none were recorded (turn on message content capture in the instrumentation) "
            "and no prompt, template or messages were given"
        )
    if missing:
        raise Unreplayable(baseline.subject, missing)
    assert source is not None and model is not None
    messages, built_from, template, variables = source
    parameters, tools, response_format = _parameters(baseline, overrides, prompt, notes)
    prompt_name, prompt_version = _prompt_ref(baseline, overrides, prompt, built_from)
    return ReplayRequest(
        provider=provider.provider.name,
        base_url=provider.provider.base_url,
        model=model,
        messages=messages,
        parameters=parameters,
        tools=tools,
        response_format=response_format,
        built_from=built_from,
        template=template,
        variables=variables,
        prompt_name=prompt_name,
        prompt_version=prompt_version,
        notes=notes,
    )


_Source = tuple[
    list[dict[str, Any]], Literal["messages", "template"], list[dict[str, Any]] | None, dict[str, Any] | None
]


def _messages(baseline: Baseline, overrides: ReplayOverrides, prompt: PromptVersion | None) -> _Source | None:
    """(messages, built_from, template, variables), or None when there are no messages to send."""
    if overrides.messages is not None:
        return overrides.messages, "messages", None, None
    template = overrides.template or (prompt.template if prompt else None) or baseline.template
    if template is not None:
        variables = {**(baseline.variables or {}), **(overrides.variables or {})}
        return [*_render(template, variables), *baseline.tail], "template", template, variables
    if overrides.variables is not None or (baseline.example_id is not None and baseline.variables is not None):
        raise Unreplayable(
            baseline.subject,
            ["a chat template to fill with the variables: none was recorded (give a prompt or a template)"],
        )
    return (baseline.messages, "messages", None, None) if baseline.messages else None


def _prompt_ref(
    baseline: Baseline, overrides: ReplayOverrides, prompt: PromptVersion | None, built_from: str
) -> tuple[str | None, str | None]:
    """The prompt-hub version the messages come from: the given one, or the span's own unless edited."""
    if prompt is not None:
        return prompt.prompt_name, str(prompt.version)
    if built_from == "template" and overrides.template is None:
        return baseline.prompt_name, baseline.prompt_version
    return None, None


def _parameters(
    baseline: Baseline, overrides: ReplayOverrides, prompt: PromptVersion | None, notes: list[str]
) -> tuple[dict[str, Any], list[dict[str, Any]] | None, dict[str, Any] | None]:
    if prompt is not None:
        parameters = dict(prompt.invocation_parameters)
        tools, response_format = prompt.tools, prompt.response_format
    else:
        parameters, tools, response_format = dict(baseline.parameters), baseline.tools, baseline.response_format
    dropped = [name for name in _NOT_SENT if parameters.pop(name, None) is not None]
    if dropped:
        notes.append(f"not sent: {', '.join(dropped)} (a replay is one non-streamed call)")
    for name, value in overrides.parameters.items():
        if name == "tools":
            tools = value
        elif name == "response_format":
            response_format = value
        elif value is None:
            parameters.pop(name, None)
        else:
            parameters[name] = value
    return parameters, tools or None, response_format


def _render(template: list[dict[str, Any]], variables: dict[str, Any]) -> list[dict[str, Any]]:
    """``template`` filled with ``variables``, with the template errors as replay errors."""
    try:
        return render_messages(template, variables)
    except MissingVariable as exc:
        raise VariablesMissing(exc.missing) from None
    except TemplateError as exc:
        raise TemplateInvalid(f"template: {exc}") from None


def _attach_template(baseline: Baseline, text: str | None) -> None:
    """Set ``template`` (and ``tail``) from a recorded ``prompt_template`` when it is a usable chat template."""
    if text is None:
        return
    try:
        template = check_template(orjson.loads(text))
    except (orjson.JSONDecodeError, TemplateError):
        baseline.notes.append("the recorded prompt template is not a chat template: the recorded messages are used")
        return
    if baseline.variables is None:
        baseline.notes.append("the recorded prompt template has no recorded variables: the recorded messages are used")
        return
    baseline.template = template
    try:
        rendered = render_messages(template, baseline.variables)
    except (MissingVariable, TemplateError):
        return
    recorded = baseline.messages or []
    if len(recorded) > len(rendered) and all(_same(a, b) for a, b in zip(rendered, recorded, strict=False)):
        baseline.tail = recorded[len(rendered) :]


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return a.get("role") == b.get("role") and a.get("content") == b.get("content")


def _is_messages(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(m, dict) and "role" in m for m in value)
