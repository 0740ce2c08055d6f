"""Prompt files: a prompt version kept as YAML or JSON in the user's repository.

The file is one mapping with the fields of :class:`~replay.prompts.models.PromptVersionInput`::

    name: support-triage                 # required; letters, digits, '_', '.', '-'
    description: Routes banking questions  # optional; updates the prompt's description
    commit_message: Ask for one label only # optional; describes this version
    model_provider: openai                 # optional
    model_name: gpt-4o-mini                # optional
    parameters:                            # optional (alias of invocation_parameters)
      temperature: 0
    messages:                              # required (alias of template)
      - role: system
        content: You classify banking questions.
      - role: user
        content: "{{question}}"
    tools: [...]                           # optional, OpenAI tool definitions
    response_format: {...}                 # optional, OpenAI response_format
    metadata: {team: support}              # optional

``.yaml``/``.yml`` files are read as YAML (safe loader), ``.json`` as JSON. Unknown fields are refused so a
typo does not pass silently; every error names the file and the field.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from replay.errors import InvalidInput
from replay.prompts.models import PromptVersion, PromptVersionInput

__all__ = ["MAX_FILE_BYTES", "load_prompt_file", "parse_prompt_text", "prompt_file_content"]

MAX_FILE_BYTES = 4 * 1024 * 1024


def load_prompt_file(path: Path) -> PromptVersionInput:
    """The version a prompt file describes; :class:`InvalidInput` naming the file and what is wrong."""
    suffix = path.suffix.lower()
    if suffix not in (".yaml", ".yml", ".json"):
        raise InvalidInput(f"{path}: a prompt file must end in .yaml, .yml or .json")
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise InvalidInput(f"{path}: larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: cannot be read ({exc})") from None
    return parse_prompt_text(text, source=str(path), kind="json" if suffix == ".json" else "yaml")


def parse_prompt_text(text: str, *, source: str, kind: str) -> PromptVersionInput:
    """Parse a prompt file's text (``kind`` is ``yaml`` or ``json``) and validate it."""
    data = _load(text, source, kind)
    if not isinstance(data, dict):
        raise InvalidInput(f"{source}: expected a mapping of fields (name, messages, …), found {_kind(data)}")
    try:
        return PromptVersionInput.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(_problem(err) for err in exc.errors())
        raise InvalidInput(f"{source}: {problems}") from None


def prompt_file_content(version: PromptVersion, *, description: str | None = None) -> dict[str, Any]:
    """A stored version as the mapping of a prompt file (pushing it back gives the same version)."""
    content: dict[str, Any] = {"name": version.prompt_name}
    if description:
        content["description"] = description
    fields = ("model_provider", "model_name", "commit_message")
    content.update({f: getattr(version, f) for f in fields if getattr(version, f) is not None})
    if version.invocation_parameters:
        content["parameters"] = version.invocation_parameters
    content["messages"] = version.template
    for field in ("tools", "response_format"):
        if getattr(version, field) is not None:
            content[field] = getattr(version, field)
    if version.metadata:
        content["metadata"] = version.metadata
    return content


def _load(text: str, source: str, kind: str) -> Any:
    if kind == "json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"{source}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise InvalidInput(f"{source}: not valid YAML ({where}{problem})") from None


def _problem(err: Any) -> str:
    field = ".".join(str(p) for p in err["loc"]) or "file"
    if err["type"] == "extra_forbidden":
        return f"unknown field {field!r}"
    if err["type"] == "missing":
        return "missing field 'messages' (or 'template')" if field == "template" else f"missing field {field!r}"
    return f"field {field!r}: {err['msg']}"


def _kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__
