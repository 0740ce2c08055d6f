"""What the openai instrumentor records of the content and context of a call: the capture switch, redaction, the
prompt and request context, and that its own failures never reach the application."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

import pytest

from instrumentation import semconv as sc
from instrumentation.context import PromptInfo, PromptMessages, using_attributes, using_prompt
from instrumentation.errors import ConfigurationError
from instrumentation.spans import capture_span_ids, last_span_id
from tests.fakeopenai import ChatReply, FakeOpenAI, ToolCall
from tests.instrumentation.helpers import Recorded, async_client, attributes_of, json_attribute

MODEL = "gpt-4o-mini"
TEMPLATE = [{"role": "system", "content": "Classify: {{question}}"}, {"role": "user", "content": "{{question}}"}]
CONTENT_KEYS = (
    sc.GEN_AI_INPUT_MESSAGES,
    sc.GEN_AI_OUTPUT_MESSAGES,
    sc.GEN_AI_SYSTEM_INSTRUCTIONS,
    sc.SPANLAB_PROMPT_VARIABLES,
)


def test_capture_off_records_no_content_but_everything_else(fake_openai: FakeOpenAI, client: Any) -> None:
    run = Recorded()
    run.instrument(capture_content=False)
    try:
        with using_prompt("triage", version=3, template=TEMPLATE, variables={"question": "my card?"}):
            client.chat.completions.create(
                model=MODEL,
                messages=[{"role": "system", "content": "secret system"}, {"role": "user", "content": "secret"}],
                temperature=0.5,
                response_format={"type": "json_object"},
            )
    finally:
        run.instrumentor.uninstrument()
    attributes = attributes_of(run.one())
    assert not [key for key in CONTENT_KEYS if key in attributes]
    assert "secret" not in str(attributes)
    assert attributes[sc.GEN_AI_REQUEST_TEMPERATURE] == 0.5
    assert attributes[sc.SPANLAB_PROMPT_NAME] == "triage" and attributes[sc.SPANLAB_PROMPT_VERSION] == "3"
    assert json_attribute(run.one(), sc.SPANLAB_PROMPT_TEMPLATE) == TEMPLATE  # the app's own template stays
    assert json_attribute(run.one(), sc.SPANLAB_REQUEST_RESPONSE_FORMAT) == {"type": "json_object"}
    assert attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS] > 0


def test_capture_off_from_the_environment(
    fake_openai: FakeOpenAI, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from instrumentation.config import client_settings

    monkeypatch.setenv("SPANLAB_CAPTURE_CONTENT", "false")
    client_settings.cache_clear()
    run = Recorded()
    try:
        run.instrument()
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "secret"}])
    finally:
        run.instrumentor.uninstrument()
        client_settings.cache_clear()
    assert sc.GEN_AI_INPUT_MESSAGES not in attributes_of(run.one())


@pytest.mark.parametrize(
    "redact",
    [
        [r"\b\d{4}-\d{4}-\d{4}-\d{4}\b", re.compile(r"[\w.]+@[\w.]+")],
        lambda text: re.sub(r"\d{4}-\d{4}-\d{4}-\d{4}|[\w.]+@[\w.]+", "[REDACTED]", text),
    ],
    ids=["patterns", "callable"],
)
def test_redaction_runs_on_every_recorded_text(fake_openai: FakeOpenAI, client: Any, redact: object) -> None:
    run = Recorded()
    run.instrument(redact=redact)
    card, email = "4111-1111-1111-1111", "ana@llm-gateway.internal"
    fake_openai.script.push(ChatReply(content=f"Noted {email}.", tool_calls=[ToolCall("lookup", {"card": card})]))
    try:
        with using_prompt("billing", variables={"card": card, "nested": [email]}):
            client.chat.completions.create(
                model=MODEL,
                messages=[
                    {"role": "system", "content": f"Owner {email}"},
                    {"role": "user", "content": f"My card is {card}"},
                    {"role": "tool", "tool_call_id": "c0", "content": f"card {card} ok"},
                ],
                tools=[{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}],
            )
    finally:
        run.instrumentor.uninstrument()
    attributes = {key: str(value) for key, value in attributes_of(run.one()).items()}
    assert card not in str(attributes) and email not in str(attributes)
    for key in CONTENT_KEYS:
        assert "[REDACTED]" in attributes[key], key


def test_failing_redaction_drops_the_content_and_the_call_succeeds(fake_openai: FakeOpenAI, client: Any) -> None:
    def broken(text: str) -> str:
        raise RuntimeError("redactor bug")

    run = Recorded()
    run.instrument(redact=broken)
    try:
        reply = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "secret"}])
        stream = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "secret"}], stream=True
        )
        streamed = list(stream)
    finally:
        run.instrumentor.uninstrument()
    assert reply.choices[0].message.content and streamed
    assert len(run.spans) == 2
    for span in run.spans:  # traced, but without any content: nothing unredacted is ever recorded
        attributes = attributes_of(span)
        assert not [key for key in CONTENT_KEYS if key in attributes]
        assert "secret" not in str(attributes)
        assert attributes[sc.GEN_AI_REQUEST_MODEL] == MODEL
        assert attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)


def test_bad_redaction_pattern_is_a_clear_error() -> None:
    with pytest.raises(ConfigurationError, match="does not compile"):
        Recorded().instrument(redact=["(unclosed"])


def test_using_prompt_and_using_attributes_mark_the_span(recorded: Recorded, client: Any) -> None:
    with (
        using_attributes(session_id="s-1", user_id="u-9", metadata={"tier": "gold"}, tags=["beta"]),
        using_attributes(metadata={"region": "eu"}, tags=["beta", "canary"]),
        using_prompt("support-triage", version="7", template=TEMPLATE, variables={"question": "lost card"}),
    ):
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "lost card"}])
    span = recorded.one()
    attributes = attributes_of(span)
    assert attributes[sc.SPANLAB_PROMPT_NAME] == "support-triage"
    assert attributes[sc.SPANLAB_PROMPT_VERSION] == "7"
    assert json_attribute(span, sc.SPANLAB_PROMPT_TEMPLATE) == TEMPLATE
    assert json_attribute(span, sc.SPANLAB_PROMPT_VARIABLES) == {"question": "lost card"}
    assert attributes[sc.SESSION_ID] == "s-1" and attributes[sc.USER_ID] == "u-9"
    assert json_attribute(span, sc.OI_METADATA) == {"tier": "gold", "region": "eu"}
    assert attributes[sc.OI_TAG_TAGS] == ("beta", "canary")


def test_prompt_messages_mark_the_span_and_an_explicit_using_prompt_wins(recorded: Recorded, client: Any) -> None:
    info = PromptInfo("hub-prompt", "2", TEMPLATE, {"question": "q"})
    messages = PromptMessages([{"role": "user", "content": "q"}], prompt=info)
    client.chat.completions.create(model=MODEL, messages=messages)
    with using_prompt("explicit", version="9"):
        client.chat.completions.create(model=MODEL, messages=messages)
    client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "q"}])
    from_messages, explicit, plain = (attributes_of(span) for span in recorded.spans)
    assert from_messages[sc.SPANLAB_PROMPT_NAME] == "hub-prompt" and from_messages[sc.SPANLAB_PROMPT_VERSION] == "2"
    assert explicit[sc.SPANLAB_PROMPT_NAME] == "explicit" and explicit[sc.SPANLAB_PROMPT_VERSION] == "9"
    assert sc.SPANLAB_PROMPT_TEMPLATE not in explicit
    assert sc.SPANLAB_PROMPT_NAME not in plain


def test_span_ids_reach_the_application(recorded: Recorded, fake_openai: FakeOpenAI, client: Any) -> None:
    with capture_span_ids() as captured:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "a"}])
        first = last_span_id()
        stream = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "b"}], stream=True)
        second = last_span_id()  # known before the stream is read
        list(stream)

        async def in_tasks() -> None:
            async with async_client(fake_openai) as aclient:
                await asyncio.gather(
                    *(
                        aclient.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": t}])
                        for t in "cd"
                    )
                )

        asyncio.run(in_tasks())
    spans = {format(span.context.span_id, "016x") for span in recorded.spans}
    assert len(captured) == 4 and set(captured) == spans
    assert captured[:2] == [first, second]
    assert last_span_id() == second  # calls in other tasks do not move this context's last span


def test_hooks_that_fail_never_reach_the_application(
    recorded: Recorded, client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Arguments the instrumentation cannot make sense of are the client's business, not the instrumentation's."""
    caplog.set_level(logging.DEBUG, logger="spanlab.instrumentation")
    reply = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": [{"type": "mystery", "blob": object.__name__}]}],
        metadata={"k": "v"},
        temperature=1,
    )
    assert reply.choices
    span = recorded.one()
    assert json_attribute(span, sc.GEN_AI_INPUT_MESSAGES) == [{"role": "user", "parts": []}]
    assert attributes_of(span)[sc.GEN_AI_REQUEST_TEMPERATURE] == 1.0
    with pytest.raises(TypeError):  # the client's own argument check, unchanged
        client.chat.completions.create(model=MODEL)
