"""Chat templates: OpenAI-format messages whose text holds ``{{variable}}`` placeholders.

A template is a list of message dicts (``role`` plus ``content`` and any other OpenAI message keys such as
``name``, ``tool_calls`` or ``tool_call_id``). Placeholders are ``{{name}}`` or ``{{ name }}``; a name is a
Python-style identifier, optionally dotted or dashed (``{{user.question}}``, ``{{order-id}}``). They are
substituted inside ``content`` strings and inside the ``text`` of text parts of multi-part contents; every
other key is copied untouched.

Rendering contract:

- one pass: a value that itself contains ``{{x}}`` is inserted literally, never rendered again;
- a ``str`` value is inserted as-is; ``dict``/``list`` values as compact JSON; anything else with ``str()``;
- variables the template does not use are ignored; variables it uses but that are not given raise
  :class:`MissingVariable`, naming all of them at once;
- a ``{{`` that does not open a well-formed placeholder is a :class:`TemplateError` (a stray ``}}`` is plain
  text, since JSON examples in prompts end with it).

This module ships inside the user's application: standard library only.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "MissingVariable",
    "TemplateError",
    "check_template",
    "render_messages",
    "render_text",
    "template_variables",
]

_NAME = r"[A-Za-z_][A-Za-z0-9_]*(?:[.\-][A-Za-z0-9_]+)*"
_PLACEHOLDER = re.compile(r"\{\{\s*(" + _NAME + r")\s*\}\}")
_OPEN = "{{"


class TemplateError(ValueError):
    """A template that is not a list of messages, or whose text holds a malformed placeholder."""


class MissingVariable(KeyError, ValueError):
    """Rendering needs variables that were not given; ``missing`` lists them in order of first use."""

    def __init__(self, missing: Sequence[str]) -> None:
        self.missing = list(missing)
        names = ", ".join(repr(name) for name in self.missing)
        noun = "variable" if len(self.missing) == 1 else "variables"
        super().__init__(f"missing template {noun}: {names}")

    def __str__(self) -> str:  # KeyError would show the repr of the message
        return str(self.args[0])


def check_template(template: object) -> list[dict[str, Any]]:
    """``template`` as a list of message dicts, or :class:`TemplateError` saying what is wrong and where."""
    if not isinstance(template, list | tuple):
        raise TemplateError(f"a template must be a list of messages, not {type(template).__name__}")
    if not template:
        raise TemplateError("a template needs at least one message")
    messages: list[dict[str, Any]] = []
    for index, message in enumerate(template):
        where = f"message {index}"
        if not isinstance(message, Mapping):
            raise TemplateError(f"{where} must be an object with 'role' and 'content', not {type(message).__name__}")
        role = message.get("role")
        if not isinstance(role, str) or not role:
            raise TemplateError(f"{where} needs a 'role' (system, user, assistant, tool, …)")
        for text_where, text in _texts(message, where):
            _scan(text, text_where)
        messages.append(dict(message))
    return messages


def template_variables(template: object) -> list[str]:
    """The variable names a template (a list of messages, or one text) uses, in order of first use."""
    texts = [("text", template)] if isinstance(template, str) else _all_texts(check_template(template))
    names: dict[str, None] = {}
    for where, text in texts:
        assert isinstance(text, str)
        for name in _scan(text, where):
            names.setdefault(name, None)
    return list(names)


def render_messages(template: object, variables: Mapping[str, object]) -> list[dict[str, Any]]:
    """A new list of messages with every placeholder replaced (see the module docstring for the contract)."""
    messages = check_template(template)
    _require(template_variables(messages), variables)
    rendered: list[dict[str, Any]] = []
    for message in messages:
        message = copy.deepcopy(message)
        content = message.get("content")
        if isinstance(content, str):
            message["content"] = _substitute(content, variables)
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str):
                    part["text"] = _substitute(part["text"], variables)
        rendered.append(message)
    return rendered


def render_text(text: str, variables: Mapping[str, object]) -> str:
    """One text template rendered with the same rules as :func:`render_messages`."""
    _require(template_variables(text), variables)
    return _substitute(text, variables)


# -- internals ----------------------------------------------------------------------------------------------
def _texts(message: Mapping[str, Any], where: str) -> list[tuple[str, str]]:
    content = message.get("content")
    if content is None or isinstance(content, str):
        return [] if content is None else [(f"{where} content", content)]
    if not isinstance(content, list):
        raise TemplateError(f"{where} 'content' must be text, a list of parts or null, not {type(content).__name__}")
    texts = []
    for index, part in enumerate(content):
        if not isinstance(part, Mapping) or not isinstance(part.get("type"), str):
            raise TemplateError(f"{where} content part {index} must be an object with a 'type'")
        if part["type"] == "text":
            if not isinstance(part.get("text"), str):
                raise TemplateError(f"{where} content part {index} is a text part without a 'text' string")
            texts.append((f"{where} content part {index}", part["text"]))
    return texts


def _all_texts(messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [item for index, message in enumerate(messages) for item in _texts(message, f"message {index}")]


def _scan(text: str, where: str) -> list[str]:
    """The placeholder names in ``text``; :class:`TemplateError` for a ``{{`` that opens no placeholder."""
    names = []
    position = 0
    while (start := text.find(_OPEN, position)) >= 0:
        match = _PLACEHOLDER.match(text, start)
        if match is None:
            snippet = text[start : start + 30]
            raise TemplateError(
                f"{where}: malformed placeholder at character {start}: {snippet!r} "
                "(write {{name}} with a name of letters, digits, '_', '.' or '-')"
            )
        names.append(match.group(1))
        position = match.end()
    return names


def _require(needed: list[str], variables: Mapping[str, object]) -> None:
    missing = [name for name in needed if name not in variables]
    if missing:
        raise MissingVariable(missing)


def _substitute(text: str, variables: Mapping[str, object]) -> str:
    return _PLACEHOLDER.sub(lambda match: _as_text(variables[match.group(1)]), text)


def _as_text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)
