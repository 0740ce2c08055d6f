"""How a replay's output differs from the original: a unified diff of the text, tool calls compared one by one,
and the changes in model, finish reason, tokens, latency and cost.

Tool calls are paired by position; their arguments are compared as JSON values when both sides parse (so
``{"city": "Paris"}`` and ``{"city":"Paris"}`` are the same call), else as text.
"""

from __future__ import annotations

import difflib
from typing import Any, Literal

import orjson
from pydantic import BaseModel, Field

from replay.model_call import ModelOutput

__all__ = ["FieldChange", "ReplayDiff", "ToolCallChange", "diff_outputs"]

_FIELDS = ("model", "finish_reason", "input_tokens", "output_tokens", "total_tokens", "latency_ms", "cost")


class ToolCallChange(BaseModel):
    """The tool calls at one position of both outputs."""

    index: int
    status: Literal["same", "changed", "added", "removed"]
    name_before: str | None = None
    name_after: str | None = None
    arguments_before: str | None = None
    arguments_after: str | None = None


class FieldChange(BaseModel):
    """One compared field; ``delta`` is ``new - original`` for numbers known on both sides."""

    field: str
    original: Any = None
    new: Any = None
    changed: bool
    delta: float | None = None


class ReplayDiff(BaseModel):
    """Original vs. new output."""

    same_text: bool
    text_diff: list[str] = Field(default_factory=list, description="Unified diff lines, original → replay.")
    tool_calls: list[ToolCallChange] = Field(default_factory=list)
    fields: list[FieldChange] = Field(default_factory=list)


def diff_outputs(original: ModelOutput, new: ModelOutput) -> ReplayDiff:
    """Compare two outputs (see the module docstring)."""
    before, after = original.text or "", new.text or ""
    lines = difflib.unified_diff(
        before.splitlines(), after.splitlines(), fromfile="original", tofile="replay", lineterm=""
    )
    return ReplayDiff(
        same_text=before == after,
        text_diff=list(lines),
        tool_calls=_tool_calls(original.tool_calls, new.tool_calls),
        fields=[_field(name, getattr(original, name), getattr(new, name)) for name in _FIELDS],
    )


def _tool_calls(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> list[ToolCallChange]:
    changes = []
    for index in range(max(len(before), len(after))):
        old = _call(before[index]) if index < len(before) else None
        new = _call(after[index]) if index < len(after) else None
        if old is None:
            status: Literal["same", "changed", "added", "removed"] = "added"
        elif new is None:
            status = "removed"
        else:
            same = old[0] == new[0] and _same_arguments(old[1], new[1])
            status = "same" if same else "changed"
        changes.append(
            ToolCallChange(
                index=index,
                status=status,
                name_before=old[0] if old else None,
                name_after=new[0] if new else None,
                arguments_before=old[1] if old else None,
                arguments_after=new[1] if new else None,
            )
        )
    return changes


def _call(call: dict[str, Any]) -> tuple[str | None, str | None]:
    function = call.get("function") or {}
    arguments = function.get("arguments")
    if arguments is not None and not isinstance(arguments, str):
        arguments = orjson.dumps(arguments).decode()
    return function.get("name"), arguments


def _same_arguments(a: str | None, b: str | None) -> bool:
    try:
        return bool(orjson.loads(a or "null") == orjson.loads(b or "null"))
    except orjson.JSONDecodeError:
        return a == b


def _field(name: str, original: Any, new: Any) -> FieldChange:
    delta = None
    numbers = (int, float)
    if isinstance(original, numbers) and isinstance(new, numbers):
        delta = round(float(new) - float(original), 9)
    return FieldChange(field=name, original=original, new=new, changed=original != new, delta=delta)
