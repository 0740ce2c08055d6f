"""Building an experiment's (or an online rule's) evaluators from specs, with judge clients for its providers.

A spec is the CLI text (``regex:pattern=^\\d+$``) or the same thing as JSON, ``{"name": "regex", "options":
{"pattern": "^\\d+$"}}`` — the form to use over REST, where a comma in a value needs no care. A judge reaches
its model through the configured providers: ``provider=NAME`` in its options, else the default provider, each
through one ``openai.AsyncOpenAI`` client per provider (:class:`JudgeClients`; close it in the event loop that
used it).

Two things a spec may do on the CLI are refused where evaluators are built *for someone else* (the server):
``python:module:function`` (it would import code on the server) and ``@path`` option values (they would read
the server's files). The CLI reads ``@path`` files itself before sending (:func:`inline_files`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import openai
from pydantic import BaseModel, ConfigDict, Field

from replay.errors import EvaluatorInvalid
from replay.evaluators import Evaluator, EvaluatorSpec, build_evaluator, parse_evaluator_spec
from replay.providers import ProviderRegistry

__all__ = ["EvaluatorRequest", "JudgeClients", "build_evaluators", "inline_files", "spec_text"]

MAX_SPEC_CHARS = 100_000
MAX_OPTION_FILE_BYTES = 1024 * 1024


class EvaluatorRequest(BaseModel):
    """An evaluator spec as JSON: its name (``python`` with ``target``), and its options as text."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    options: dict[str, str] = Field(default_factory=dict, max_length=50)
    target: str | None = Field(None, max_length=500, description="module:function, for name 'python'.")

    def spec(self) -> EvaluatorSpec:
        return EvaluatorSpec(name=self.name, options=dict(self.options), target=self.target)


def spec_text(spec: EvaluatorSpec) -> str:
    """A spec as the CLI would write it (for display and records)."""
    head = spec.name if spec.target is None else f"python:{spec.target}"
    options = ",".join(f"{key}={value}" for key, value in spec.options.items())
    return f"{head}:{options}" if options else head


def _parse(item: str | EvaluatorRequest | EvaluatorSpec) -> EvaluatorSpec:
    if isinstance(item, EvaluatorSpec):
        return item
    if isinstance(item, EvaluatorRequest):
        return item.spec()
    if len(item) > MAX_SPEC_CHARS:
        raise EvaluatorInvalid(f"an evaluator spec is longer than {MAX_SPEC_CHARS:,} characters")
    return parse_evaluator_spec(item)


def inline_files(item: str, *, base_dir: Path | None = None) -> EvaluatorSpec:
    """Parse a CLI spec and replace its ``@path`` values by the files' content (``@@`` stays a literal ``@``)."""
    spec = parse_evaluator_spec(item)
    base = base_dir if base_dir is not None else Path.cwd()
    options = {key: _inline(value, key, base) for key, value in spec.options.items()}
    return EvaluatorSpec(name=spec.name, options=options, target=spec.target)


def _inline(value: str, key: str, base: Path) -> str:
    if not value.startswith("@") or value.startswith("@@"):
        return value
    path = base / value[1:]
    try:
        if path.stat().st_size > MAX_OPTION_FILE_BYTES:
            raise EvaluatorInvalid(f"option {key!r}: the file {value[1:]!r} is larger than 1 MiB")
        content = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise EvaluatorInvalid(f"option {key!r}: cannot read the file {value[1:]!r}: {error}") from None
    return "@" + content if content.startswith("@") else content  # '@@' keeps a leading '@' literal


class JudgeClients:
    """One ``openai.AsyncOpenAI`` client per provider a judge uses; close with :meth:`aclose`."""

    def __init__(self, providers: ProviderRegistry, *, timeout: float = 120.0) -> None:
        self._providers = providers
        self._timeout = timeout
        self._clients: dict[str, openai.AsyncOpenAI] = {}

    def client(self, name: str) -> openai.AsyncOpenAI:
        """The client of provider ``name``; the registry's errors for an unknown or unconfigured one."""
        if name not in self._clients:
            provider = self._providers.get(name)
            self._clients[name] = openai.AsyncOpenAI(
                base_url=provider.base_url, api_key=provider.api_key, max_retries=2, timeout=self._timeout
            )
        return self._clients[name]

    def default(self) -> openai.AsyncOpenAI | None:
        try:
            return self.client(self._providers.default_name)
        except Exception:  # no default provider: a judge must then name one
            return None

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.close()
        self._clients.clear()


def build_evaluators(
    items: Sequence[str | EvaluatorRequest | EvaluatorSpec],
    *,
    judges: JudgeClients,
    remote: bool = False,
    base_dir: Path | None = None,
) -> tuple[list[Evaluator], list[str]]:
    """The evaluators of ``items`` and their spec texts; :class:`EvaluatorInvalid` for the first bad one.

    ``remote=True`` (building for a REST caller) refuses ``python:`` evaluators and ``@path`` values.
    """
    built: list[Evaluator] = []
    texts: list[str] = []
    for index, item in enumerate(items):
        spec = _parse(item)
        if remote:
            _check_remote(spec, index)
        default: Any = judges.default() if spec.name == "judge" and "provider" not in spec.options else None
        try:
            evaluator = build_evaluator(spec, judge_client=default, judge_provider=judges.client, base_dir=base_dir)
        except EvaluatorInvalid as exc:
            raise EvaluatorInvalid(f"evaluator {index + 1} ({spec.name}): {exc}") from None
        built.append(evaluator)
        texts.append(spec_text(spec))
    return built, texts


def _check_remote(spec: EvaluatorSpec, index: int) -> None:
    if spec.target is not None or spec.name == "python":
        raise EvaluatorInvalid(
            f"evaluator {index + 1}: python: evaluators run only where your code is; use the Python API or "
            "`spanlab eval`, which can upload their results"
        )
    for key, value in spec.options.items():
        if value.startswith("@") and not value.startswith("@@"):
            raise EvaluatorInvalid(
                f"evaluator {index + 1} ({spec.name}): option {key!r} names a file ({value[:80]}); the server "
                "does not read files: send the content (the CLI does this for you)"
            )
