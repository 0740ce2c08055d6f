"""Errors of the in-app instrumentation.

Only set-up raises: instrumented calls and feedback never raise into the application (a failure of
the instrumentation is logged and the application goes on).

    InstrumentationError
    └── ConfigurationError   a bad argument or environment value for register() / the instrumentor
"""

from __future__ import annotations

__all__ = ["ConfigurationError", "InstrumentationError"]


class InstrumentationError(Exception):
    """Base of every error the instrumentation raises."""


class ConfigurationError(InstrumentationError, ValueError):
    """A set-up argument or environment variable is invalid; the message says which and what is accepted."""
