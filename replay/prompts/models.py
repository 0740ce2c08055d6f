"""The prompt hub's objects: prompts, their immutable versions, tags and the history of tag moves.

A *prompt* is a unique name with a description. Its *versions* are numbered 1, 2, 3… and never change once
made. A version's content is its chat template (OpenAI-format messages with ``{{variable}}`` placeholders),
model provider and name, invocation parameters, tools, ``response_format`` and metadata; the commit message
and creation time describe the version but are not content. ``content_hash`` is the SHA-256 of the canonical
JSON of the content (keys sorted, no whitespace), so pushing content identical to an existing version of the
prompt returns that version instead of making a new one.

A *tag* (``production``, ``staging``, any name) points at one version and can move; every move is kept as a
:class:`TagMove`. Tag names cannot be all digits (``NAME@3`` means version 3) and ``latest`` is reserved
(``NAME@latest`` is the newest version).
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Any

import orjson
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

from collector.queries.filters import invalid
from instrumentation.template import MissingVariable, TemplateError, check_template, render_messages
from replay.errors import TemplateInvalid, VariablesMissing

__all__ = [
    "MAX_CONTENT_BYTES",
    "NAME_PATTERN",
    "RESERVED_PARAMETERS",
    "FieldChange",
    "Prompt",
    "PromptDiff",
    "PromptPushResult",
    "PromptTag",
    "PromptVersion",
    "PromptVersionInput",
    "TagMove",
    "TagMoveInput",
    "check_prompt_name",
    "check_tag_name",
    "content_hash",
]

NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,199}"
MAX_CONTENT_BYTES = 1024 * 1024
# Parameters a version may not carry: they are fields of their own, or belong to the call, not the prompt.
RESERVED_PARAMETERS = frozenset({"messages", "model", "tools", "response_format", "stream"})
_NAME = re.compile(NAME_PATTERN)


def check_prompt_name(name: str) -> str:
    """``name`` unchanged, or ``ValueError`` unless it is 1 to 200 letters, digits, ``_``, ``.`` or ``-``."""
    if not _NAME.fullmatch(name):
        raise ValueError(
            f"prompt name {name[:50]!r} is not valid: use 1 to 200 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    return name


def check_tag_name(tag: str) -> str:
    """``tag`` unchanged, or ``ValueError`` when it is malformed, all digits or ``latest``."""
    if not _NAME.fullmatch(tag) or tag.isdigit() or tag == "latest":
        raise ValueError(
            f"tag {tag[:50]!r} is not valid: use 1 to 200 letters, digits, '_', '.' or '-', not all digits "
            "and not 'latest'"
        )
    return tag


class PromptVersionInput(BaseModel):
    """What ``push`` takes (and what a prompt file holds): the prompt's name and the new version's content.

    ``messages`` is accepted for ``template`` and ``parameters`` for ``invocation_parameters``. A
    ``description`` updates the prompt's description; it is not part of the version.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True, protected_namespaces=())

    name: str = Field(description="The prompt's unique name.")
    description: str | None = Field(None, max_length=10_000, description="What the prompt is for.")
    template: list[dict[str, Any]] = Field(
        validation_alias=AliasChoices("template", "messages"),
        description="OpenAI-format messages with {{variable}} placeholders in their text.",
    )
    model_provider: str | None = Field(None, min_length=1, max_length=200, description="e.g. openai, local.")
    model_name: str | None = Field(None, min_length=1, max_length=500, description="e.g. gpt-4o-mini.")
    invocation_parameters: dict[str, Any] = Field(
        default_factory=dict,
        validation_alias=AliasChoices("invocation_parameters", "parameters"),
        description="Chat-completion parameters: temperature, max_tokens, top_p, seed, stop, …",
    )
    tools: list[dict[str, Any]] | None = Field(None, description="OpenAI tool definitions.")
    response_format: dict[str, Any] | None = Field(None, description="OpenAI response_format, e.g. a JSON schema.")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Any JSON object.")
    commit_message: str | None = Field(None, max_length=10_000, description="Why this version was made.")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        try:
            return check_prompt_name(value)
        except ValueError as exc:
            raise invalid(str(exc)) from None

    @field_validator("template")
    @classmethod
    def _template(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        try:
            return check_template(value)
        except TemplateError as exc:
            raise invalid(str(exc)) from None

    @field_validator("invocation_parameters")
    @classmethod
    def _parameters(cls, value: dict[str, Any]) -> dict[str, Any]:
        reserved = sorted(RESERVED_PARAMETERS & value.keys())
        if reserved:
            raise invalid(f"{', '.join(reserved)} cannot be an invocation parameter: give it its own field or none")
        return value

    @field_validator("tools")
    @classmethod
    def _tools(cls, value: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        for index, tool in enumerate(value or []):
            if not isinstance(tool.get("type"), str):
                raise invalid(f"tool {index} needs a 'type' (e.g. 'function')")
        return value

    @field_validator("response_format")
    @classmethod
    def _response_format(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and not isinstance(value.get("type"), str):
            raise invalid("response_format needs a 'type': text, json_object or json_schema")
        return value

    @model_validator(mode="after")
    def _size(self) -> PromptVersionInput:
        if len(orjson.dumps(self.content())) > MAX_CONTENT_BYTES:
            raise invalid(f"the version's content must encode to at most {MAX_CONTENT_BYTES} bytes of JSON")
        return self

    def content(self) -> dict[str, Any]:
        """The fields that make a version what it is (and its hash)."""
        return {
            "template": self.template,
            "model_provider": self.model_provider,
            "model_name": self.model_name,
            "invocation_parameters": self.invocation_parameters,
            "tools": self.tools,
            "response_format": self.response_format,
            "metadata": self.metadata,
        }


def content_hash(content: dict[str, Any]) -> str:
    """``sha256:`` + hex digest of the canonical JSON of a version's content."""
    canonical = orjson.dumps(content, option=orjson.OPT_SORT_KEYS)
    return "sha256:" + hashlib.sha256(canonical).hexdigest()


class Prompt(BaseModel):
    """A prompt: its name, description, when it was made, its tags (tag → version) and its newest version."""

    name: str
    description: str | None = None
    created_at: datetime
    tags: dict[str, int] = Field(default_factory=dict)
    latest_version: int | None = None


class PromptVersion(BaseModel):
    """One immutable version of a prompt."""

    model_config = ConfigDict(protected_namespaces=())

    prompt_name: str
    version: int = Field(ge=1, description="1, 2, 3… per prompt.")
    template: list[dict[str, Any]]
    model_provider: str | None = None
    model_name: str | None = None
    invocation_parameters: dict[str, Any] = Field(default_factory=dict)
    tools: list[dict[str, Any]] | None = None
    response_format: dict[str, Any] | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    commit_message: str | None = None
    created_at: datetime
    content_hash: str
    tags: list[str] = Field(default_factory=list, description="The tags pointing at this version now.")

    def render(self, variables: dict[str, Any]) -> list[dict[str, Any]]:
        """The template's messages with ``variables`` filled in.

        Raises :class:`VariablesMissing` naming every variable not given, :class:`TemplateInvalid` for a
        malformed template.
        """
        try:
            return render_messages(self.template, variables)
        except MissingVariable as exc:
            raise VariablesMissing(exc.missing) from None
        except TemplateError as exc:
            raise TemplateInvalid(f"prompt {self.prompt_name} version {self.version}: {exc}") from None

    @property
    def ref(self) -> str:
        """``NAME@VERSION``."""
        return f"{self.prompt_name}@{self.version}"


class PromptPushResult(BaseModel):
    """The answer to a push: the version, and whether it was made now (false: identical content existed)."""

    created: bool
    prompt_version: PromptVersion


class PromptTag(BaseModel):
    """Where a tag points now."""

    tag: str
    version: int
    updated_at: datetime


class TagMoveInput(BaseModel):
    """Move (or create) a tag: the version it should point at, and an optional note for the history."""

    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1, description="The version the tag points at after the move.")
    note: str | None = Field(None, max_length=10_000, description="Why, e.g. 'rollback: v3 hallucinates'.")


class TagMove(BaseModel):
    """One move of a tag (``from_version`` is null when the tag was created by the move)."""

    prompt_name: str
    tag: str
    from_version: int | None
    to_version: int
    moved_at: datetime
    note: str | None = None


class FieldChange(BaseModel):
    """One changed field between two versions; ``path`` is dotted, e.g. ``invocation_parameters.temperature``."""

    path: str
    before: Any = None
    after: Any = None


class PromptDiff(BaseModel):
    """What changed from version ``a`` to version ``b``.

    ``template_diff`` is a unified diff of the messages (one ``role: content`` block per message);
    ``changes`` lists every other changed field, parameters and metadata key by key.
    """

    prompt_name: str
    a: int
    b: int
    identical: bool
    template_diff: list[str]
    changes: list[FieldChange]
