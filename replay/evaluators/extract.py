"""Getting the value an evaluator judges out of a model's output (or an example's expected value).

Outputs come in three shapes: a plain string, a structured value (a dict or list, e.g. a structured output), and
OpenAI-format assistant messages (one message dict, a list of messages, or a whole chat completion, as dicts or
as the ``openai`` package's objects). :func:`unwrap` reduces the message shapes to the message's content (or its
tool calls when it has no text); :func:`pick` then follows an optional :class:`FieldPath` into a structured value,
parsing a JSON string first (a structured output usually arrives as JSON text, sometimes in a code fence).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from replay.errors import EvaluatorInvalid

__all__ = ["FieldMissing", "FieldPath", "as_text", "parse_json_text", "pick", "strip_code_fence", "unwrap"]

_SEGMENT = re.compile(r"\.?([A-Za-z_][A-Za-z0-9_\-]*)|\[(\d+)\]|\[['\"]([^'\"]+)['\"]\]")
_FENCE = re.compile(r"^\s*```[A-Za-z0-9_-]*\s*\n(.*?)\n?```\s*$", re.DOTALL)


class FieldMissing(LookupError):
    """A field path that does not lead anywhere in a value; the message says where it stopped."""


@dataclass(frozen=True)
class FieldPath:
    """A path into a structured value: ``intent``, ``answer.city``, ``items[0].name``, ``$.a['odd key']``."""

    text: str
    steps: tuple[str | int, ...]

    @classmethod
    def parse(cls, text: str) -> FieldPath:
        """Parse a path; :class:`EvaluatorInvalid` when it is empty or malformed."""
        body = text.strip()
        rooted = body.startswith("$")
        body = body[1:] if rooted else body
        steps: list[str | int] = []
        position = 0
        while position < len(body):
            match = _SEGMENT.match(body, position)
            # a name follows a '.' except as the first step of a path written without '$'
            needs_dot = position > 0 or rooted
            if match is None or (match.group(1) and needs_dot != match.group(0).startswith(".")):
                raise EvaluatorInvalid(
                    f"bad field path {text!r}: write names joined by '.', list positions as [0] and odd keys "
                    "as ['a key'], e.g. 'answer.items[0].name' or '$.answer'"
                )
            name, index, quoted = match.groups()
            steps.append(int(index) if index is not None else (name or quoted))
            position = match.end()
        if not steps:
            raise EvaluatorInvalid(f"bad field path {text!r}: it names no field")
        return cls(text=text, steps=tuple(steps))

    def find(self, value: Any) -> Any:
        """The value at this path; :class:`FieldMissing` saying which step failed and what was there."""
        current = value
        for depth, step in enumerate(self.steps):
            where = _describe(self.steps[:depth])
            if isinstance(step, int):
                if not isinstance(current, list) or step >= len(current):
                    size = f"a list of {len(current)}" if isinstance(current, list) else _kind(current)
                    raise FieldMissing(f"no item [{step}] at {where}: it is {size}")
            elif not isinstance(current, Mapping) or step not in current:
                keys = f"keys {', '.join(map(repr, list(current)[:10]))}" if isinstance(current, Mapping) else None
                raise FieldMissing(f"no field {step!r} at {where}: it is {keys or _kind(current)}")
            current = current[step]
        return current


def unwrap(value: Any) -> Any:
    """The content of an OpenAI-format message, message list or completion; any other value unchanged.

    A message's text content is returned as a string (text parts joined); a message without text but with
    tool calls gives its ``tool_calls`` list. Of a list of messages the last assistant message counts.
    """
    if hasattr(value, "model_dump") and callable(value.model_dump):
        value = value.model_dump()
    if isinstance(value, Mapping) and isinstance(value.get("choices"), list) and value["choices"]:
        value = value["choices"][0].get("message", value) if isinstance(value["choices"][0], Mapping) else value
    if _is_message_list(value):
        assistants = [message for message in value if message.get("role") == "assistant"]
        value = (assistants or list(value))[-1]
    if (
        isinstance(value, Mapping)
        and isinstance(value.get("role"), str)
        and ("content" in value or "tool_calls" in value)
    ):
        content = value.get("content")
        if isinstance(content, list):
            content = "".join(str(part.get("text", "")) for part in content if isinstance(part, Mapping))
        return value.get("tool_calls") if not content and value.get("tool_calls") else content
    return value


def pick(value: Any, path: FieldPath | None) -> Any:
    """:func:`unwrap` ``value``, then follow ``path`` into it (parsing JSON text first); :class:`FieldMissing`."""
    value = unwrap(value)
    if path is None:
        return value
    if isinstance(value, str):
        try:
            value = parse_json_text(value)
        except ValueError as error:
            raise FieldMissing(f"no field {path.text!r}: the value is text, not JSON ({error})") from None
    return path.find(value)


def as_text(value: Any) -> str:
    """A value as the text a string evaluator compares: strings as-is, structures as compact JSON, None as ''."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping | list | tuple | bool | int | float):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return str(value)


def strip_code_fence(text: str) -> str:
    """The body of a text that is exactly one Markdown code fence (```json … ```), else the text unchanged."""
    match = _FENCE.match(text)
    return match.group(1) if match else text


def parse_json_text(text: str) -> Any:
    """JSON text (optionally inside one code fence) as a value; ``ValueError`` saying where parsing failed."""
    return json.loads(strip_code_fence(text))


def _is_message_list(value: Any) -> bool:
    return (
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and bool(value)
        and all(isinstance(item, Mapping) and isinstance(item.get("role"), str) for item in value)
    )


def _describe(steps: Sequence[str | int]) -> str:
    if not steps:
        return "the top level"
    return "".join(f"[{step}]" if isinstance(step, int) else f".{step}" for step in steps).lstrip(".")


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return "an object"
    return f"a {type(value).__name__}"
