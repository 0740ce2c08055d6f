"""Diff two prompt versions: a unified diff of the messages and a field-by-field list of other changes."""

from __future__ import annotations

import difflib
from typing import Any

import orjson

from replay.prompts.models import FieldChange, PromptDiff, PromptVersion

__all__ = ["diff_versions", "messages_text"]

# Dicts compared key by key, so a changed temperature shows as ``invocation_parameters.temperature``.
_KEYED_FIELDS = ("invocation_parameters", "metadata")
_WHOLE_FIELDS = ("model_provider", "model_name", "tools", "response_format")


def diff_versions(a: PromptVersion, b: PromptVersion) -> PromptDiff:
    """What changed from ``a`` to ``b`` (two versions of the same prompt)."""
    lines = list(
        difflib.unified_diff(
            messages_text(a.template),
            messages_text(b.template),
            fromfile=a.ref,
            tofile=b.ref,
            lineterm="",
        )
    )
    changes: list[FieldChange] = []
    for field in _WHOLE_FIELDS:
        before, after = getattr(a, field), getattr(b, field)
        if _canonical(before) != _canonical(after):
            changes.append(FieldChange(path=field, before=before, after=after))
    for field in _KEYED_FIELDS:
        changes += _keyed_changes(field, getattr(a, field), getattr(b, field))
    return PromptDiff(
        prompt_name=a.prompt_name,
        a=a.version,
        b=b.version,
        identical=a.content_hash == b.content_hash,
        template_diff=lines,
        changes=changes,
    )


def messages_text(template: list[dict[str, Any]]) -> list[str]:
    """Messages as text lines for a readable diff: ``[i] role:`` then the content, other keys as JSON."""
    lines: list[str] = []
    for index, message in enumerate(template):
        lines.append(f"[{index}] {message.get('role')}:")
        content = message.get("content")
        if isinstance(content, str):
            lines += [f"    {line}" for line in content.splitlines() or [""]]
        elif content is not None:
            lines.append(f"    {_canonical(content)}")
        extra = {k: v for k, v in message.items() if k not in ("role", "content")}
        if extra:
            lines.append(f"    {_canonical(extra)}")
    return lines


def _keyed_changes(field: str, before: dict[str, Any], after: dict[str, Any]) -> list[FieldChange]:
    changes = []
    for key in sorted(before.keys() | after.keys()):
        old, new = before.get(key), after.get(key)
        if key not in before or key not in after or _canonical(old) != _canonical(new):
            changes.append(FieldChange(path=f"{field}.{key}", before=old, after=new))
    return changes


def _canonical(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
