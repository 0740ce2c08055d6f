"""What a replay changes: :class:`ReplayOverrides`, and ``key=value`` parameter parsing for the CLI.

At most one of ``prompt`` (a hub version, ``NAME``/``NAME@3``/``NAME@production``), ``template`` (an edited
chat template, filled with the recorded variables) and ``messages`` (literal messages) replaces the input;
``variables`` are merged over the recorded ones; ``model`` and ``provider`` choose the endpoint;
``parameters`` set any request parameter (``null`` removes one; ``tools`` and ``response_format`` replace those
fields). ``model``, ``messages``, ``stream`` and ``stream_options`` are not parameters: a replay is one
non-streamed call whose model and messages have fields of their own.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from collector.queries.filters import invalid
from instrumentation.template import TemplateError, check_template

__all__ = ["MAX_OVERRIDES_BYTES", "RESERVED_PARAMETERS", "ReplayOverrides", "parse_parameter"]

MAX_OVERRIDES_BYTES = 1024 * 1024
RESERVED_PARAMETERS = {
    "model": "use the model field (--model)",
    "messages": "use the messages field (--messages-file)",
    "stream": "a replay is one non-streamed call",
    "stream_options": "a replay is one non-streamed call",
}
_PARAMETER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


class ReplayOverrides(BaseModel):
    """Changes to apply to the rebuilt call; every field is optional (none: replay the call as recorded)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    prompt: str | None = Field(
        None, min_length=1, max_length=500, description="A prompt-hub version: NAME, NAME@VERSION or NAME@TAG."
    )
    template: list[dict[str, Any]] | None = Field(
        None, min_length=1, max_length=1000, description="An edited chat template ({{variable}} placeholders)."
    )
    messages: list[dict[str, Any]] | None = Field(
        None, min_length=1, max_length=1000, description="Messages to send instead of the recorded ones."
    )
    variables: dict[str, Any] | None = Field(None, description="Template variables merged over the recorded ones.")
    model: str | None = Field(None, min_length=1, max_length=500, description="Another model.")
    provider: str | None = Field(None, min_length=1, max_length=64, description="Another provider (by name).")
    parameters: dict[str, Any] = Field(
        default_factory=dict, max_length=64, description="Request parameters to set (null removes one)."
    )

    @field_validator("template")
    @classmethod
    def _template(cls, value: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        if value is None:
            return None
        try:
            return check_template(value)
        except TemplateError as exc:
            raise invalid(f"template: {exc}") from None

    @field_validator("messages")
    @classmethod
    def _messages(cls, value: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        for index, message in enumerate(value or ()):
            if not isinstance(message.get("role"), str) or not message["role"]:
                raise invalid(f"message {index} needs a 'role' (system, user, assistant or tool)")
        return value

    @field_validator("parameters")
    @classmethod
    def _parameters(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name, setting in value.items():
            if not _PARAMETER_NAME.fullmatch(name):
                raise invalid(f"parameter name {name[:70]!r} is not valid: use letters, digits and '_'")
            if name in RESERVED_PARAMETERS:
                raise invalid(f"{name!r} cannot be a replay parameter: {RESERVED_PARAMETERS[name]}")
            if name == "tools" and not (setting is None or _is_list_of_objects(setting)):
                raise invalid("parameter 'tools' must be a list of tool objects, or null to send none")
            if name == "response_format" and not (setting is None or isinstance(setting, dict)):
                raise invalid("parameter 'response_format' must be an object, or null to send none")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ReplayOverrides:
        chosen = [name for name in ("prompt", "template", "messages") if getattr(self, name) is not None]
        if len(chosen) > 1:
            raise invalid(f"give at most one of prompt, template and messages (got {' and '.join(chosen)})")
        if self.messages is not None and self.variables is not None:
            raise invalid("variables fill a template: they cannot go with literal messages")
        if len(orjson.dumps(self.model_dump())) > MAX_OVERRIDES_BYTES:
            raise invalid(f"overrides must encode to at most {MAX_OVERRIDES_BYTES} bytes of JSON")
        return self


def parse_parameter(text: str) -> tuple[str, Any]:
    """``"temperature=0"`` → ``("temperature", 0)``: the value is JSON when it parses, else the text itself
    (so ``stop=END`` is the string ``"END"``, ``seed=7`` the number 7, ``max_tokens=null`` removes it).
    Raises ``ValueError`` without a ``=`` or with a malformed name."""
    name, sep, raw = text.partition("=")
    name = name.strip()
    if not sep:
        raise ValueError(f"parameter {text[:70]!r} must look like name=value, e.g. temperature=0")
    if not _PARAMETER_NAME.fullmatch(name):
        raise ValueError(f"parameter name {name[:70]!r} is not valid: use letters, digits and '_'")
    try:
        return name, json.loads(raw)
    except ValueError:
        return name, raw


def _is_list_of_objects(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, dict) for item in value)
