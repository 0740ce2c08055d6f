"""What of an LLM call's content is recorded: the capture switch and the redaction hook.

``redact`` is either a callable ``str -> str`` or regular expressions (strings or compiled patterns)
whose matches become ``[REDACTED]``. It runs on every text before it is put on a span: message
contents, tool-call arguments and results, system instructions, replies and prompt variables.
Structural data (tool definitions, response formats, parameters, prompt templates) is recorded as
is. If the hook raises, the call's content is left out entirely — never recorded unredacted. When the
spans are exported in batches, the hook runs on the thread that finishes them
(:mod:`instrumentation.background`), not on the one that made the call: it must not depend on that
thread's state.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from instrumentation.errors import ConfigurationError

__all__ = ["REDACTED", "ContentPolicy", "Redaction", "redactor"]

REDACTED = "[REDACTED]"

Redaction = Callable[[str], str] | str | re.Pattern[str] | Iterable[str | re.Pattern[str]]
"""A redaction hook as :func:`redactor` accepts it."""


def _keep(text: str) -> str:
    return text


def redactor(redact: Redaction | None) -> Callable[[str], str]:
    """A ``str -> str`` function from a hook: a callable as is, patterns as one compiled alternation.

    Raises :class:`ConfigurationError` for a pattern that does not compile or a value of another type.
    """
    if redact is None:
        return _keep
    if callable(redact) and not isinstance(redact, re.Pattern):
        return redact
    patterns = [redact] if isinstance(redact, str | re.Pattern) else list(redact)
    sources = []
    for pattern in patterns:
        if isinstance(pattern, re.Pattern):
            sources.append(pattern.pattern)
        elif isinstance(pattern, str):
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ConfigurationError(f"redaction pattern {pattern!r} does not compile: {exc}") from None
            sources.append(pattern)
        else:
            raise ConfigurationError(f"redact takes a callable or regular expressions, not {type(pattern).__name__}")
    if not sources:
        return _keep
    combined = re.compile("|".join(f"(?:{source})" for source in sources))
    return lambda text: combined.sub(REDACTED, text)


@dataclass(frozen=True, slots=True)
class ContentPolicy:
    """Whether content is captured, and the redaction every captured text goes through."""

    capture: bool = True
    redact: Callable[[str], str] = _keep

    def value(self, value: Any) -> Any:
        """``value`` with every string inside (dict values, list items) redacted."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict):
            return {key: self.value(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(item) for item in value]
        return value
