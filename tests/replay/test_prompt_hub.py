"""``replay.prompts.hub.PromptHub`` on a real store: immutable versions, content hashes, tags, history, diffs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from collector.store.database import Store
from replay.errors import InvalidInput, NotFound, TemplateInvalid, VariablesMissing
from replay.prompts.hub import PromptHub, parse_ref
from replay.prompts.models import PromptVersion, PromptVersionInput

MESSAGES = [
    {"role": "system", "content": "Classify the banking question into one intent."},
    {"role": "user", "content": "{{question}}"},
]


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[PromptHub]:
    store = Store(tmp_path / "hub.duckdb")
    yield PromptHub(store)
    store.close()


def version(name: str = "triage", **fields: Any) -> PromptVersionInput:
    return PromptVersionInput.model_validate({"name": name, "messages": MESSAGES, **fields})


def test_push_numbers_versions_and_identical_content_is_not_a_new_version(hub: PromptHub) -> None:
    first, created = hub.push(version(description="intents", commit_message="first", parameters={"temperature": 0}))
    assert created and first.version == 1 and first.content_hash.startswith("sha256:")
    again, created = hub.push(version(commit_message="same content, other message", parameters={"temperature": 0}))
    assert not created and again.version == 1 and again.commit_message == "first"
    second, created = hub.push(version(parameters={"temperature": 0.7}))
    assert created and second.version == 2 and second.content_hash != first.content_hash
    back, created = hub.push(version(parameters={"temperature": 0}))
    assert not created and back.version == 1, "content equal to any older version returns that version"
    assert [v.version for v in hub.versions("triage")] == [2, 1]
    prompt = hub.get_prompt("triage")
    assert prompt.description == "intents" and prompt.latest_version == 2 and prompt.tags == {}


def test_the_hash_covers_content_not_message_or_key_order(hub: PromptHub) -> None:
    a, _ = hub.push(version(parameters={"temperature": 0, "top_p": 1}, metadata={"x": 1}, commit_message="a"))
    b, created = hub.push(version(parameters={"top_p": 1, "temperature": 0}, metadata={"x": 1}, commit_message="b"))
    assert not created and b.version == a.version
    for change in ({"model_name": "gpt-4o-mini"}, {"metadata": {"x": 2}}, {"tools": [{"type": "function"}]}):
        fields: dict[str, Any] = {"parameters": {"temperature": 0, "top_p": 1}, "metadata": {"x": 1}, **change}
        _, created = hub.push(version(**fields))
        assert created, change


def test_get_by_version_tag_or_latest_and_resolve_refs(hub: PromptHub) -> None:
    hub.push(version(model_provider="openai", model_name="gpt-4o-mini"))
    hub.push(version(model_name="smollm2-135m", model_provider="local"))
    hub.move_tag("triage", "production", 1)
    assert hub.get("triage").version == 2
    assert hub.get("triage", version=1).model_name == "gpt-4o-mini"
    assert hub.get("triage", tag="production").version == 1
    assert hub.resolve("triage").version == 2
    assert hub.resolve("triage@latest").version == 2
    assert hub.resolve("triage@1").tags == ["production"]
    assert hub.resolve("triage@production").version == 1
    assert parse_ref("a.b-c_d@staging") == ("a.b-c_d", None, "staging")


def test_tag_moves_are_kept_and_rollback_is_a_move_to_an_older_version(hub: PromptHub) -> None:
    for temperature in (0.0, 0.5, 1.0):
        hub.push(version(parameters={"temperature": temperature}))
    created = hub.move_tag("triage", "production", 1)
    assert (created.from_version, created.to_version, created.note) == (None, 1, None)
    hub.move_tag("triage", "production", 3, note="ship v3")
    hub.move_tag("triage", "staging", 3)
    rollback = hub.move_tag("triage", "production", 2, note="rollback: v3 is worse")
    assert (rollback.from_version, rollback.to_version) == (3, 2)
    assert hub.get("triage", tag="production").version == 2
    same = hub.move_tag("triage", "production", 2, note="no-op")
    assert same == rollback, "moving a tag where it points records nothing"
    history = hub.tag_history("triage", "production")
    assert [(m.from_version, m.to_version, m.note) for m in history] == [
        (3, 2, "rollback: v3 is worse"),
        (1, 3, "ship v3"),
        (None, 1, None),
    ]
    assert history[0].moved_at >= history[1].moved_at >= history[2].moved_at
    assert [m.tag for m in hub.tag_history("triage")] == ["production", "staging", "production", "production"]
    assert hub.get_prompt("triage").tags == {"production": 2, "staging": 3}
    assert [(t.tag, t.version) for t in hub.tags("triage")] == [("production", 2), ("staging", 3)]


def test_diff_shows_messages_and_parameters(hub: PromptHub) -> None:
    hub.push(version(parameters={"temperature": 0, "seed": 1}, metadata={"owner": "ana"}))
    edited = [MESSAGES[0], {"role": "user", "content": "Question: {{question}}"}]
    hub.push(
        PromptVersionInput(name="triage", template=edited, invocation_parameters={"temperature": 0.2}, model_name="m")
    )
    diff = hub.diff("triage", 1, 2)
    assert not diff.identical
    assert "-    {{question}}" in diff.template_diff and "+    Question: {{question}}" in diff.template_diff
    assert diff.template_diff[:2] == ["--- triage@1", "+++ triage@2"]
    changes = {c.path: (c.before, c.after) for c in diff.changes}
    assert changes == {
        "model_name": (None, "m"),
        "invocation_parameters.temperature": (0, 0.2),
        "invocation_parameters.seed": (1, None),
        "metadata.owner": ("ana", None),
    }
    same = hub.diff("triage", 2, 2)
    assert same.identical and same.template_diff == [] and same.changes == []


def test_render_names_missing_variables(hub: PromptHub) -> None:
    made, _ = hub.push(version())
    assert made.render({"question": "card lost"})[1] == {"role": "user", "content": "card lost"}
    with pytest.raises(VariablesMissing, match="'question'") as caught:
        made.render({})
    assert caught.value.status_code == 422 and isinstance(caught.value, KeyError)
    broken = PromptVersion.model_validate({**made.model_dump(), "template": [{"role": "user", "content": "{{x"}]})
    with pytest.raises(TemplateInvalid, match="triage version 1"):
        broken.render({})


@pytest.mark.parametrize(
    ("ref", "error", "message"),
    [
        ("nope", NotFound, "no prompt named 'nope'"),
        ("triage@9", NotFound, "prompt 'triage' has no version 9 (latest is 1)"),
        ("triage@canary", NotFound, "prompt 'triage' has no tag 'canary' (tags: none)"),
        ("triage@0", InvalidInput, "versions are numbered from 1"),
        ("bad name@1", InvalidInput, "prompt name 'bad name' is not valid"),
        ("triage@bad tag", InvalidInput, "tag 'bad tag' is not valid"),
    ],
)
def test_unknown_or_malformed_refs(hub: PromptHub, ref: str, error: type[Exception], message: str) -> None:
    hub.push(version())
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        hub.resolve(ref)


def test_bad_tag_moves_store_nothing(hub: PromptHub) -> None:
    hub.push(version())
    with pytest.raises(NotFound, match="no version 4"):
        hub.move_tag("triage", "production", 4)
    with pytest.raises(NotFound, match="no prompt named 'other'"):
        hub.move_tag("other", "production", 1)
    for tag in ("12", "latest", "", "has space"):
        with pytest.raises(InvalidInput):
            hub.move_tag("triage", tag, 1)
    assert hub.tag_history("triage") == [] and hub.get_prompt("triage").tags == {}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"messages": [{"role": "user", "content": "{{oops"}]}, "malformed placeholder"),
        ({"messages": []}, "at least one message"),
        ({"messages": [{"content": "x"}]}, "needs a 'role'"),
        ({"parameters": {"model": "x"}}, "model cannot be an invocation parameter"),
        ({"parameters": {"stream": True, "messages": []}}, "messages, stream cannot be"),
        ({"tools": [{"function": {}}]}, "tool 0 needs a 'type'"),
        ({"response_format": {"json_schema": {}}}, "response_format needs a 'type'"),
        ({"name": "has space"}, "prompt name 'has space' is not valid"),
        ({"name": "x" * 201}, "is not valid"),
        ({"temperature": 0}, "Extra inputs are not permitted"),
        ({"metadata": {"blob": "x" * (1024 * 1024)}}, "at most 1048576 bytes"),
    ],
)
def test_invalid_versions_are_refused_by_the_model(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        PromptVersionInput.model_validate({"name": "triage", "messages": MESSAGES, **fields})
