"""``instrumentation.template``: placeholders in chat templates, rendering, and its errors."""

from __future__ import annotations

from typing import Any

import pytest

from instrumentation.template import (
    MissingVariable,
    TemplateError,
    check_template,
    render_messages,
    render_text,
    template_variables,
)

TEMPLATE: list[dict[str, Any]] = [
    {"role": "system", "content": "You help {{ customer }} with {{topic}}."},
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "{{question}} (ref {{order.id}}, {{order-no}})"},
            {"type": "image_url", "image_url": {"url": "https://llm-gateway.internal/{{not_a_text_part}}.png"}},
        ],
    },
    {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function"}]},
]


def test_variables_in_order_of_first_use_once_each() -> None:
    template = [*TEMPLATE, {"role": "user", "content": "again {{topic}}"}]
    assert template_variables(template) == ["customer", "topic", "question", "order.id", "order-no"]
    assert template_variables("just {{ one }} and {{one}}") == ["one"]
    assert template_variables([{"role": "user", "content": "no placeholders"}]) == []


def test_render_fills_text_only_and_copies_the_rest() -> None:
    variables = {"customer": "Ana", "topic": "cards", "question": "Lost {{customer}}?", "order.id": 7, "order-no": [1]}
    rendered = render_messages(TEMPLATE, {**variables, "unused": "ignored"})
    assert rendered[0] == {"role": "system", "content": "You help Ana with cards."}
    parts = rendered[1]["content"]
    assert parts[0]["text"] == "Lost {{customer}}? (ref 7, [1])", "one pass; non-text values as str/JSON"
    assert parts[1] == TEMPLATE[1]["content"][1], "non-text parts are untouched"
    assert rendered[2] == TEMPLATE[2]
    assert TEMPLATE[0]["content"] == "You help {{ customer }} with {{topic}}.", "the template is not modified"
    assert rendered[1]["content"] is not TEMPLATE[1]["content"]


def test_values_render_as_text_or_compact_json() -> None:
    out = render_text("{{a}}|{{b}}|{{c}}|{{d}}", {"a": {"k": "é"}, "b": None, "c": 1.5, "d": True})
    assert out == '{"k":"é"}|None|1.5|True'


def test_missing_variables_are_all_named_at_once() -> None:
    with pytest.raises(MissingVariable) as caught:
        render_messages(TEMPLATE, {"topic": "cards"})
    assert caught.value.missing == ["customer", "question", "order.id", "order-no"]
    assert str(caught.value) == "missing template variables: 'customer', 'question', 'order.id', 'order-no'"
    assert isinstance(caught.value, KeyError) and isinstance(caught.value, ValueError)
    with pytest.raises(MissingVariable, match=r"^missing template variable: 'x'$"):
        render_text("{{x}}", {})


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("not a list", "must be a list of messages"),
        ([], "at least one message"),
        (["hello"], "message 0 must be an object"),
        ([{"content": "hi"}], "message 0 needs a 'role'"),
        ([{"role": "user", "content": 3}], "'content' must be text, a list of parts or null"),
        ([{"role": "user", "content": [{"text": "x"}]}], "content part 0 must be an object with a 'type'"),
        ([{"role": "user", "content": [{"type": "text"}]}], "text part without a 'text' string"),
        ([{"role": "user", "content": "hi {{name"}], "message 0 content: malformed placeholder at character 3"),
        ([{"role": "user", "content": "{{ two words }}"}], "malformed placeholder"),
        ([{"role": "user", "content": "{{1st}}"}], "malformed placeholder"),
        ([{"role": "user", "content": "{{}}"}], "malformed placeholder"),
    ],
)
def test_malformed_templates_say_what_and_where(template: object, message: str) -> None:
    with pytest.raises(TemplateError, match=message.replace("(", r"\(").replace("{", r"\{")):
        check_template(template)
    with pytest.raises(TemplateError):
        render_messages(template, {"name": "x"})


def test_a_stray_closing_brace_pair_is_text() -> None:
    template = [{"role": "user", "content": 'Answer as {"label": {"name": "{{label}}"}}'}]
    assert render_messages(template, {"label": "card_lost"})[0]["content"] == (
        'Answer as {"label": {"name": "card_lost"}}'
    )
