"""The environment the in-app instrumentation reads — in this one place, once per process.

| variable | default | meaning |
|---|---|---|
| ``SPANLAB_URL`` | ``http://127.0.0.1:4318`` | the spanlab server: REST API (feedback, prompts) and OTLP/HTTP |
| ``SPANLAB_API_KEY`` | unset | bearer key for the REST API |
| ``SPANLAB_PROJECT`` | unset | project of the spans :func:`~instrumentation.register.register` exports |
| ``SPANLAB_CAPTURE_CONTENT`` | ``true`` | record message content on LLM spans |

Standard ``OTEL_EXPORTER_OTLP_*`` variables are read by the OpenTelemetry exporters themselves;
:class:`ClientSettings` only notes whether an endpoint or protocol was set there, so that
spanlab's default (the local collector) applies only when it was not.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass

from instrumentation.errors import ConfigurationError

__all__ = ["DEFAULT_URL", "ClientSettings", "client_settings", "parse_bool"]

DEFAULT_URL = "http://127.0.0.1:4318"
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def parse_bool(name: str, value: str) -> bool:
    """``true``/``false`` (also 1/0, yes/no, on/off, any case) or a :class:`ConfigurationError`."""
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigurationError(f"{name}={value!r} is not a boolean: use true or false")


@dataclass(frozen=True, slots=True)
class ClientSettings:
    """What the application's environment says about reaching spanlab."""

    url: str = DEFAULT_URL
    api_key: str | None = None
    project: str | None = None
    capture_content: bool = True
    otlp_endpoint: str | None = None  # OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else OTEL_EXPORTER_OTLP_ENDPOINT
    otlp_endpoint_is_signal_specific: bool = False  # a TRACES endpoint is used as-is, a generic one gets /v1/traces
    otlp_protocol: str | None = None  # OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, else OTEL_EXPORTER_OTLP_PROTOCOL

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ClientSettings:
        """Read the variables of the module docstring; empty values count as unset."""
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        capture = get("SPANLAB_CAPTURE_CONTENT")
        traces_endpoint = get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        return cls(
            url=(get("SPANLAB_URL") or DEFAULT_URL).rstrip("/"),
            api_key=get("SPANLAB_API_KEY"),
            project=get("SPANLAB_PROJECT"),
            capture_content=parse_bool("SPANLAB_CAPTURE_CONTENT", capture) if capture is not None else True,
            otlp_endpoint=traces_endpoint or get("OTEL_EXPORTER_OTLP_ENDPOINT"),
            otlp_endpoint_is_signal_specific=traces_endpoint is not None,
            otlp_protocol=get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or get("OTEL_EXPORTER_OTLP_PROTOCOL"),
        )


@functools.cache
def client_settings() -> ClientSettings:
    """The process's settings, read from the environment on first use (``client_settings.cache_clear()``
    makes the next call read it again)."""
    return ClientSettings.from_env()
