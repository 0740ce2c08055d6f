"""Datasets: named, versioned lists of examples ``{input, expected_output, metadata, source_span_id}``.

Every change to a dataset (examples added, edited or deleted, a file imported, spans promoted) makes a new
dataset version; older versions stay readable, so an experiment can pin one. An example keeps its ``id``
across versions: an edit makes a new revision of the same example, visible from the version of the edit on.
A change that would change nothing (e.g. promoting only spans already present) makes no version.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from collector.queries.filters import invalid
from replay.prompts.models import NAME_PATTERN

__all__ = [
    "MAX_EXAMPLES_PER_CHANGE",
    "MAX_EXAMPLE_BYTES",
    "Dataset",
    "DatasetChange",
    "DatasetInput",
    "DatasetVersion",
    "Example",
    "ExampleInput",
    "ExampleUpdate",
    "ExamplesInput",
    "check_dataset_name",
]

MAX_EXAMPLE_BYTES = 1024 * 1024
MAX_EXAMPLES_PER_CHANGE = 100_000


def check_dataset_name(name: str) -> str:
    """``name`` unchanged, or ``ValueError`` unless it is 1 to 200 letters, digits, ``_``, ``.`` or ``-``."""
    if not re.fullmatch(NAME_PATTERN, name):
        raise ValueError(
            f"dataset name {name[:50]!r} is not valid: use 1 to 200 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    return name


class Example(BaseModel):
    """One example as stored in a dataset version.

    ``source_span_id``/``source_trace_id`` link a promoted example back to its span (null for examples made
    by hand or imported without a link).
    """

    id: str = Field(description="A UUID4, stable across versions.")
    input: dict[str, Any]
    expected_output: Any | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    source_span_id: str | None = None
    source_trace_id: str | None = None
    created_at: datetime | None = Field(None, description="When the example was first added.")
    updated_at: datetime | None = Field(None, description="When this revision of it was made.")


class ExampleInput(BaseModel):
    """A new example: ``input`` (a JSON object) is required; everything else is optional."""

    model_config = ConfigDict(extra="forbid")

    input: dict[str, Any] = Field(description="The example's input, e.g. the prompt variables.")
    expected_output: Any | None = Field(None, description="What a good answer is (any JSON); null to label later.")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Any JSON object.")
    source_span_id: str | None = Field(None, pattern=r"^[0-9a-fA-F]{16}$", description="The span it came from.")
    source_trace_id: str | None = Field(None, pattern=r"^[0-9a-fA-F]{32}$", description="That span's trace.")

    @field_validator("source_span_id", "source_trace_id")
    @classmethod
    def _lower(cls, value: str | None) -> str | None:
        return None if value is None else value.lower()

    @model_validator(mode="after")
    def _size(self) -> ExampleInput:
        if len(orjson.dumps(self.model_dump())) > MAX_EXAMPLE_BYTES:
            raise invalid(f"an example must encode to at most {MAX_EXAMPLE_BYTES} bytes of JSON")
        return self


class ExamplesInput(BaseModel):
    """Examples to add in one change (one new version)."""

    model_config = ConfigDict(extra="forbid")

    examples: list[ExampleInput] = Field(min_length=1, max_length=10_000)


class ExampleUpdate(BaseModel):
    """An edit of an example: only the fields given are changed (``expected_output: null`` clears it)."""

    model_config = ConfigDict(extra="forbid")

    input: dict[str, Any] | None = Field(None, description="A new input (replaces the old one).")
    expected_output: Any | None = Field(None, description="The new expected output; null clears it.")
    metadata: dict[str, Any] | None = Field(None, description="New metadata (replaces the old one).")

    @model_validator(mode="after")
    def _something(self) -> ExampleUpdate:
        if not self.model_fields_set:
            raise invalid("give at least one of input, expected_output or metadata")
        if "input" in self.model_fields_set and self.input is None:
            raise invalid("input cannot be null: give a JSON object")
        if "metadata" in self.model_fields_set and self.metadata is None:
            raise invalid("metadata cannot be null: give a JSON object ({} to clear it)")
        if len(orjson.dumps(self.model_dump())) > MAX_EXAMPLE_BYTES:
            raise invalid(f"an example must encode to at most {MAX_EXAMPLE_BYTES} bytes of JSON")
        return self


class DatasetInput(BaseModel):
    """A new, empty dataset."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Unique: 1 to 200 letters, digits, '_', '.' or '-'.")
    description: str | None = Field(None, max_length=10_000)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        try:
            return check_dataset_name(value)
        except ValueError as exc:
            raise invalid(str(exc)) from None


class Dataset(BaseModel):
    """A dataset and its current version (0 while it has never changed)."""

    name: str
    description: str | None = None
    version: int = Field(ge=0)
    example_count: int = Field(ge=0, description="Examples in the current version.")
    created_at: datetime
    updated_at: datetime


class DatasetVersion(BaseModel):
    """One version of a dataset: when it was made, by what change, and how many examples it holds."""

    dataset: str
    version: int
    created_at: datetime
    note: str
    example_count: int


class DatasetChange(BaseModel):
    """The result of a change: the dataset's new version and the examples written by it."""

    dataset: str
    version: int
    examples: list[Example]
