"""When a failed run is tried again, and after how long.

A run is retried when its task failed for a reason that may pass: the provider answered 408, 409, 429 or a
5xx status, or could not be reached (no connection, no answer in time). Any other failure — a 400 for a bad
request, missing template variables, an exception in the user's own code that is not one of these — is
final at once: retrying would only repeat it.

The delay before retry ``n`` (0-based) is the provider's ``Retry-After`` (or ``retry-after-ms``) when it sent
one, capped at :attr:`Backoff.max_delay`; otherwise exponential backoff with *full jitter*: a uniform draw from
``[0, min(max_delay, base * 2**n)]``, which spreads the retries of many concurrent runs that failed together
(the AWS architecture blog's "Exponential Backoff And Jitter").
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import openai

from replay.errors import ProviderError, ProviderTimeout, ProviderUnreachable
from replay.experiments.chat_client import ProviderHTTPError

__all__ = ["RETRYABLE_STATUSES", "Backoff", "describe_failure", "is_retryable", "retry_after_seconds"]

RETRYABLE_STATUSES = frozenset({408, 409, 429})


@dataclass
class Backoff:
    """Exponential backoff with full jitter (see the module docstring); ``rng`` is seeded for tests."""

    base: float = 0.5
    max_delay: float = 30.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, error: BaseException, attempt: int) -> float:
        """Seconds to wait before retry ``attempt`` (0-based) after ``error``."""
        hinted = retry_after_seconds(error)
        if hinted is not None:
            return min(max(hinted, 0.0), self.max_delay)
        return self.rng.uniform(0.0, min(self.max_delay, self.base * 2**attempt))


def _status(error: BaseException) -> int | None:
    if isinstance(error, openai.APIStatusError):
        return error.status_code
    if isinstance(error, ProviderError):
        return error.provider_status
    status = getattr(getattr(error, "response", None), "status_code", None)
    return status if isinstance(status, int) else None


def is_retryable(error: BaseException) -> bool:
    """Whether a run that failed with ``error`` may succeed if tried again."""
    if isinstance(
        error, openai.APIConnectionError | ProviderUnreachable | ProviderTimeout
    ):  # openai's includes timeouts
        return True
    status = _status(error)
    return status is not None and (status in RETRYABLE_STATUSES or status >= 500)


def retry_after_seconds(error: BaseException) -> float | None:
    """The delay the provider asked for, from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    headers: Any = (
        error.headers
        if isinstance(error, ProviderHTTPError)
        else getattr(getattr(error, "response", None), "headers", None)
    )
    if headers is None:
        return None
    milliseconds = headers.get("retry-after-ms")
    if milliseconds is not None:
        try:
            return float(milliseconds) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def describe_failure(error: BaseException) -> str:
    """A failed task as one line for the run's ``error``: the provider's status and message when it answered."""
    if isinstance(error, openai.APIStatusError):
        body = error.body
        message = body.get("message") if isinstance(body, dict) else None
        text = message if isinstance(message, str) else (error.response.text.strip()[:300] or error.message)
        return f"the provider answered HTTP {error.status_code}: {text}"
    if isinstance(error, openai.APITimeoutError):
        return "the provider did not answer in time"
    if isinstance(error, openai.APIConnectionError):
        return f"cannot reach the provider: {error.__cause__ or error}"
    if isinstance(error, ProviderError):
        return str(error)
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
