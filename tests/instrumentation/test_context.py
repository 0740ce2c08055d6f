"""The prompt and request context: context managers and decorators, nesting, isolation between tasks and threads."""

from __future__ import annotations

import asyncio
import threading

import pytest

from instrumentation.context import (
    PromptInfo,
    PromptMessages,
    RequestAttributes,
    current_attributes,
    current_prompt,
    prompt_for,
    using_attributes,
    using_prompt,
)


def test_using_prompt_as_context_manager_nests_and_restores() -> None:
    assert current_prompt() is None
    with using_prompt("outer", version=2, template="Hi {{name}}", variables={"name": "Ana"}):
        assert current_prompt() == PromptInfo("outer", "2", "Hi {{name}}", {"name": "Ana"})
        with using_prompt("inner"):
            assert current_prompt() == PromptInfo("inner")
        assert current_prompt() is not None and current_prompt().name == "outer"  # type: ignore[union-attr]
    assert current_prompt() is None


def test_decorators_on_sync_and_async_functions() -> None:
    @using_prompt("decorated", version="1")
    def sync_name() -> str | None:
        prompt = current_prompt()
        return prompt.name if prompt else None

    @using_attributes(session_id="s", user_id="u")
    async def async_ids() -> tuple[str | None, str | None]:
        await asyncio.sleep(0)
        attributes = current_attributes()
        return attributes.session_id, attributes.user_id

    assert sync_name() == "decorated" and current_prompt() is None
    assert asyncio.run(async_ids()) == ("s", "u")
    assert current_attributes() == RequestAttributes()


def test_nested_attributes_merge() -> None:
    with using_attributes(session_id="s1", user_id="u1", metadata={"a": 1, "b": 1}, tags=["x"]):
        with using_attributes(user_id="u2", metadata={"b": 2}, tags=["y", "x"]):
            assert current_attributes() == RequestAttributes("s1", "u2", {"a": 1, "b": 2}, ("x", "y"))
        assert current_attributes().user_id == "u1"


def test_context_stays_in_its_task_and_thread() -> None:
    seen: dict[str, str | None] = {}

    async def task(name: str) -> None:
        with using_prompt(name):
            await asyncio.sleep(0.01)
            seen[name] = current_prompt().name  # type: ignore[union-attr]

    async def main() -> None:
        await asyncio.gather(task("a"), task("b"))

    asyncio.run(main())
    assert seen == {"a": "a", "b": "b"}
    with using_prompt("main-thread"):
        thread = threading.Thread(target=lambda: seen.update(thread="set" if current_prompt() else None))
        thread.start()
        thread.join()
    assert seen["thread"] is None


def test_prompt_messages_behave_as_a_list_and_carry_their_prompt() -> None:
    info = PromptInfo("hub", "4", [{"role": "user", "content": "{{q}}"}], {"q": "why"})
    messages = PromptMessages([{"role": "user", "content": "why"}], prompt=info)
    assert messages == [{"role": "user", "content": "why"}] and isinstance(messages, list)
    assert prompt_for(messages) is info
    assert prompt_for(list(messages)) is None  # a plain copy no longer carries it
    with using_prompt("explicit"):
        assert prompt_for(messages) == PromptInfo("explicit")
    unset = PromptMessages()
    assert unset == [] and unset.prompt is None and prompt_for(unset) is None


def test_bad_arguments_fail_at_once() -> None:
    with pytest.raises(ValueError, match="non-empty name"):
        using_prompt("")
    with pytest.raises(TypeError, match="mapping"):
        using_prompt("p", variables=["not", "a", "mapping"])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="list of strings"):
        using_attributes(tags="one-string")
