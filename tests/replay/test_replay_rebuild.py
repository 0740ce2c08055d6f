"""Rebuilding a call from canonical span fields, applying overrides, and diffing outputs (no server needed)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from collector.queries.spans import SpanDetail
from replay.datasets.models import Example
from replay.diff import diff_outputs
from replay.errors import Unreplayable, VariablesMissing
from replay.model_call import ModelOutput, request_body
from replay.overrides import ReplayOverrides, parse_parameter
from replay.prompts.models import PromptVersion
from replay.providers import Provider, ResolvedProvider
from replay.rebuild import baseline_from_example, baseline_from_span, build_request

NOW = datetime(2026, 1, 1, tzinfo=UTC)
TEMPLATE = [{"role": "system", "content": "Classify."}, {"role": "user", "content": "{{question}}"}]
RECORDED = ResolvedProvider(Provider("fake", "http://127.0.0.1:1/v1", "k"), "recorded", recorded=True)
OTHER = ResolvedProvider(Provider("local", "http://127.0.0.1:2/llm/v1", "k", "smollm2-135m"), "default")


def span(**fields: Any) -> SpanDetail:
    values: dict[str, Any] = {
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
        "span_id": "00f067aa0ba902b7",
        "project": "p",
        "name": "chat",
        "kind": "LLM",
        "start_time": NOW,
        "end_time": NOW,
        "latency_ms": 12.5,
        "status_code": "OK",
        "source_convention": "otel_genai",
        "otel_kind": "CLIENT",
        "ingested_at": NOW,
        "model": "gpt-4o-mini",
        "provider": "openai",
        "input_messages": [{"role": "system", "content": "Classify."}, {"role": "user", "content": "lost card"}],
        "output_messages": [{"role": "assistant", "content": "card_arrival", "finish_reason": "stop"}],
        "invocation_parameters": {"temperature": 0.7, "stream": True, "top_k": 5},
    }
    return SpanDetail(**{**values, **fields})


def version(**fields: Any) -> PromptVersion:
    values: dict[str, Any] = {
        "prompt_name": "intent",
        "version": 3,
        "template": [{"role": "system", "content": "Label it."}, {"role": "user", "content": "{{question}}"}],
        "invocation_parameters": {"max_tokens": 5},
        "created_at": NOW,
        "content_hash": "sha256:x",
    }
    return PromptVersion(**{**values, **fields})


def test_recorded_messages_and_parameters_without_streaming() -> None:
    request = build_request(baseline_from_span(span()), ReplayOverrides(), provider=RECORDED)
    assert request.built_from == "messages" and request.messages == span().input_messages
    assert request.parameters == {"temperature": 0.7, "top_k": 5}
    assert request.model == "gpt-4o-mini" and request.provider == "fake"
    assert "not sent: stream (a replay is one non-streamed call)" in request.notes
    body = request_body(request)
    assert body["temperature"] == 0.7 and body["extra_body"] == {"top_k": 5}, "unknown parameters go in extra_body"


def test_a_chat_template_with_variables_is_rendered_and_later_turns_kept() -> None:
    recorded = [
        {"role": "system", "content": "Classify."},
        {"role": "user", "content": "lost card"},
        {"role": "assistant", "content": "which card?"},
        {"role": "user", "content": "the debit one"},
    ]
    baseline = baseline_from_span(
        span(input_messages=recorded, prompt_template=json.dumps(TEMPLATE), prompt_variables={"question": "lost card"})
    )
    assert baseline.tail == recorded[2:]
    request = build_request(baseline, ReplayOverrides(variables={"question": "stolen card"}), provider=RECORDED)
    assert request.built_from == "template"
    assert request.messages == [recorded[0], {"role": "user", "content": "stolen card"}, *recorded[2:]]


def test_a_text_template_falls_back_to_the_messages_with_a_note() -> None:
    baseline = baseline_from_span(span(prompt_template="Classify: {question}", prompt_variables={"question": "x"}))
    request = build_request(baseline, ReplayOverrides(), provider=RECORDED)
    assert request.built_from == "messages"
    assert any("not a chat template" in note for note in request.notes)


def test_a_prompt_version_replaces_template_and_configuration_then_overrides_apply() -> None:
    baseline = baseline_from_span(span(prompt_variables={"question": "lost card"}))
    overrides = ReplayOverrides(prompt="intent@production", parameters={"temperature": 0, "max_tokens": None})
    request = build_request(baseline, overrides, provider=RECORDED, prompt=version(model_name="gpt-4.1"))
    assert request.messages == [{"role": "system", "content": "Label it."}, {"role": "user", "content": "lost card"}]
    assert request.parameters == {"temperature": 0}, "the version's parameters, then null removes one"
    assert request.model == "gpt-4.1" and (request.prompt_name, request.prompt_version) == ("intent", "3")


def test_another_provider_uses_its_default_model_unless_one_is_named() -> None:
    request = build_request(baseline_from_span(span()), ReplayOverrides(), provider=OTHER)
    assert request.model == "smollm2-135m"
    assert "model 'smollm2-135m' instead of the recorded 'gpt-4o-mini'" in request.notes
    named = build_request(baseline_from_span(span()), ReplayOverrides(model="tiny"), provider=OTHER)
    assert named.model == "tiny"


def test_tools_and_response_format_as_parameters() -> None:
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    overrides = ReplayOverrides(parameters={"tools": [tool], "response_format": {"type": "json_object"}})
    request = build_request(baseline_from_span(span(tools=None)), overrides, provider=RECORDED)
    assert request.tools == [tool] and request.response_format == {"type": "json_object"}
    assert "tools" not in request.parameters
    cleared = build_request(
        baseline_from_span(span(tools=[tool])), ReplayOverrides(parameters={"tools": None}), provider=RECORDED
    )
    assert cleared.tools is None and "tools" not in request_body(cleared)


def test_unreplayable_lists_everything_missing() -> None:
    with pytest.raises(Unreplayable) as caught:
        build_request(
            baseline_from_span(span(kind="RETRIEVER", model=None, input_messages=None)),
            ReplayOverrides(),
            provider=ResolvedProvider(Provider("openai", None, "k"), "default"),
        )
    assert [item.split(":")[0].split(" (")[0] for item in caught.value.missing] == [
        "it is a RETRIEVER span, not an LLM call",
        "a model",
        "input messages",
    ]


def test_missing_variables_name_every_one() -> None:
    overrides = ReplayOverrides(template=[{"role": "user", "content": "{{a}} {{b}} {{c}}"}], variables={"b": 1})
    with pytest.raises(VariablesMissing, match="missing template variables: 'a', 'c'"):
        build_request(baseline_from_span(span()), overrides, provider=RECORDED)


def test_examples_replay_their_input_as_variables_or_messages() -> None:
    with_template = span(prompt_template=json.dumps(TEMPLATE), prompt_variables={"question": "old"})
    example = Example(id="e1", input={"question": "new one"}, expected_output="lost_card", source_span_id="x")
    baseline = baseline_from_example(example, "ds", with_template)
    request = build_request(baseline, ReplayOverrides(), provider=RECORDED)
    assert request.messages[-1] == {"role": "user", "content": "new one"}
    assert baseline.subject == "example e1 of dataset ds" and baseline.expected_output == "lost_card"

    messages = [{"role": "user", "content": "from the example"}]
    by_messages = baseline_from_example(Example(id="e2", input={"messages": messages}), "ds", with_template)
    assert build_request(by_messages, ReplayOverrides(), provider=RECORDED).messages == messages

    no_template = baseline_from_example(Example(id="e3", input={"question": "q"}), "ds", span())
    with pytest.raises(Unreplayable, match="a chat template to fill with the variables"):
        build_request(no_template, ReplayOverrides(), provider=RECORDED)
    # Without any source span, a prompt version with a model is enough.
    lone = baseline_from_example(Example(id="e4", input={"question": "q"}), "ds", None)
    request = build_request(lone, ReplayOverrides(), provider=OTHER, prompt=version(model_name="gpt-4.1"))
    assert request.messages[-1]["content"] == "q" and request.model == "gpt-4.1"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("temperature=0", ("temperature", 0)),
        ("stop=END", ("stop", "END")),
        ('stop=["a","b"]', ("stop", ["a", "b"])),
        ("max_tokens=null", ("max_tokens", None)),
        ("user= someone ", ("user", " someone ")),
        ('response_format={"type":"json_object"}', ("response_format", {"type": "json_object"})),
    ],
)
def test_parse_parameter(text: str, expected: tuple[str, Any]) -> None:
    assert parse_parameter(text) == expected


@pytest.mark.parametrize("text", ["temperature", "=1", "bad name=1", "x-y=2"])
def test_parse_parameter_refuses_malformed(text: str) -> None:
    with pytest.raises(ValueError, match="parameter"):
        parse_parameter(text)


def test_overrides_refuse_contradictions() -> None:
    with pytest.raises(ValidationError, match="variables fill a template"):
        ReplayOverrides(messages=[{"role": "user", "content": "x"}], variables={"a": 1})
    with pytest.raises(ValidationError, match="prompt and template"):
        ReplayOverrides(prompt="p", template=[{"role": "user", "content": "x"}])


def test_diff_compares_text_tool_calls_and_fields() -> None:
    def call(name: str, arguments: str) -> dict[str, Any]:
        return {"id": "c", "type": "function", "function": {"name": name, "arguments": arguments}}

    original = ModelOutput(
        text="line one\nline two",
        tool_calls=[call("get_weather", '{"city": "Paris"}'), call("book", "{}")],
        input_tokens=10,
        latency_ms=100.0,
        cost=None,
    )
    new = ModelOutput(
        text="line one\nline 2",
        tool_calls=[call("get_weather", '{"city":"Paris"}')],
        input_tokens=12,
        latency_ms=80.0,
        cost=0.001,
    )
    diff = diff_outputs(original, new)
    assert diff.text_diff == ["--- original", "+++ replay", "@@ -1,2 +1,2 @@", " line one", "-line two", "+line 2"]
    assert [(c.status, c.name_before, c.name_after) for c in diff.tool_calls] == [
        ("same", "get_weather", "get_weather"),  # same JSON arguments, different spacing
        ("removed", "book", None),
    ]
    fields = {f.field: f for f in diff.fields}
    assert (fields["input_tokens"].delta, fields["latency_ms"].delta) == (2.0, -20.0)
    assert fields["cost"].changed and fields["cost"].delta is None
    assert not fields["model"].changed
