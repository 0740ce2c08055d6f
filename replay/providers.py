"""Model providers: the OpenAI-compatible endpoints a replay can call, and how one is chosen.

Three kinds, all reached through the ``openai`` package (see :mod:`replay.model_call`; experiments post the
same requests with aiohttp, see :mod:`replay.experiments.chat_client`):

- ``openai`` — configured by the standard environment: ``OPENAI_API_KEY`` and/or ``OPENAI_BASE_URL``
  (without ``OPENAI_BASE_URL`` the ``openai`` package's own default endpoint is used). Absent when neither is set.
- named providers — ``SPANLAB_PROVIDERS``, a JSON object ``{"name": {"base_url", "api_key_env",
  "default_model"}}``: any OpenAI-compatible ``base_url`` (vLLM, Ollama, llama.cpp server, a LiteLLM proxy);
  ``api_key_env`` names the environment variable holding its key (none: the server needs no key).
- ``local`` — the embedded model served by ``spanlab serve`` itself at ``/llm/v1`` (model ``smollm2-135m``).

How a replay picks its provider (:meth:`ProviderRegistry.resolve`), first match wins:

1. the one the caller asked for (``--provider``); an unknown or unconfigured name is an error;
2. the provider a prompt version names, when it is configured;
3. the span's own endpoint: a provider whose ``base_url`` has the origin (scheme, host, port) of the span's
   recorded ``base_url`` (named providers before ``openai``), else the provider whose name the span recorded
   (``openai`` when configured);
4. the default: ``openai`` when configured, else ``local`` — so replay works offline with nothing configured.

Only in case 3 is the span's own model kept by default; elsewhere the provider's ``default_model`` is preferred
(the span's model name may mean nothing to another endpoint), see :meth:`ResolvedProvider.pick_model`.

This module is light on purpose (pydantic only): the settings import :class:`ProviderConfig`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from replay.errors import ProviderNotConfigured, UnknownProvider

__all__ = [
    "DEFAULT_LOCAL_MODEL",
    "LOCAL",
    "OPENAI",
    "Provider",
    "ProviderConfig",
    "ProviderRegistry",
    "ResolvedProvider",
    "check_provider_names",
    "same_origin",
]

OPENAI = "openai"
LOCAL = "local"
DEFAULT_LOCAL_MODEL = "smollm2-135m"
_NAME = re.compile(r"[a-z0-9][a-z0-9_.\-]{0,63}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# The openai client refuses to start without a key; servers that need none ignore whatever is sent.
_NO_KEY = "no-key"


class ProviderConfig(BaseModel):
    """One named OpenAI-compatible provider of ``SPANLAB_PROVIDERS``."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(description="The API root, e.g. http://localhost:8000/v1 (http or https).")
    api_key_env: str | None = Field(None, description="The environment variable holding its API key, if any.")
    default_model: str | None = Field(None, min_length=1, description="Model used when a replay names none.")

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"base_url {value!r} must be an http:// or https:// URL with a host")
        return value.strip().rstrip("/")

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not _ENV_NAME.fullmatch(value):
            raise ValueError(f"api_key_env {value!r} must be an environment variable name")
        return value


def check_provider_names(providers: Mapping[str, ProviderConfig]) -> Mapping[str, ProviderConfig]:
    """``providers`` unchanged, or ``ValueError`` for a malformed or built-in name."""
    for name in providers:
        if not _NAME.fullmatch(name):
            raise ValueError(f"provider name {name!r} must be 1-64 lower-case letters, digits, '_', '.' or '-'")
        if name in (OPENAI, LOCAL):
            raise ValueError(
                f"provider name {name!r} is built in: configure 'openai' with OPENAI_API_KEY/OPENAI_BASE_URL; "
                "'local' is the embedded model"
            )
    return providers


@dataclass(frozen=True, slots=True)
class Provider:
    """An endpoint ready to call. ``base_url`` None means the ``openai`` package's default endpoint;
    ``missing_key_env`` names the unset variable that should have held the key."""

    name: str
    base_url: str | None
    api_key: str
    default_model: str | None = None
    missing_key_env: str | None = None


@dataclass(frozen=True, slots=True)
class ResolvedProvider:
    """The provider chosen for one replay, and why (``reason`` is shown to the user)."""

    provider: Provider
    reason: str
    recorded: bool = False  # the span's own endpoint (case 3 of the module docstring)

    def pick_model(self, *, requested: str | None, preferred: str | None, recorded: str | None) -> str | None:
        """The model to send: the caller's, else the prompt version's, else the span's own when this is the
        span's endpoint, else the provider's default, else the span's."""
        if requested or preferred:
            return requested or preferred
        if self.recorded and recorded:
            return recorded
        return self.provider.default_model or recorded


class ProviderRegistry:
    """The configured providers by name, and the default one."""

    def __init__(self, providers: Mapping[str, Provider]) -> None:
        self._providers = dict(providers)

    @classmethod
    def from_environment(cls, configured: Mapping[str, ProviderConfig], environ: Mapping[str, str]) -> ProviderRegistry:
        """Providers from ``SPANLAB_PROVIDERS`` and the ``OPENAI_*`` variables of ``environ`` (read once, at
        start-up). ``local`` is added per server by :meth:`with_local`."""
        providers: dict[str, Provider] = {}
        key, base_url = environ.get("OPENAI_API_KEY"), environ.get("OPENAI_BASE_URL")
        if key or base_url:
            providers[OPENAI] = Provider(OPENAI, base_url.rstrip("/") if base_url else None, key or _NO_KEY)
        for name, config in check_provider_names(configured).items():
            secret = environ.get(config.api_key_env) if config.api_key_env else None
            missing = config.api_key_env if config.api_key_env and not secret else None
            providers[name] = Provider(name, config.base_url, secret or _NO_KEY, config.default_model, missing)
        return cls(providers)

    def with_local(self, base_url: str, *, api_key: str | None = None) -> ProviderRegistry:
        """A copy that also offers the embedded model at ``base_url`` (the server's own ``/llm/v1``)."""
        local = Provider(LOCAL, base_url.rstrip("/"), api_key or _NO_KEY, DEFAULT_LOCAL_MODEL)
        return ProviderRegistry({**self._providers, LOCAL: local})

    def names(self) -> list[str]:
        return sorted(self._providers)

    @property
    def default_name(self) -> str:
        """``openai`` when configured, else ``local``."""
        return OPENAI if OPENAI in self._providers else LOCAL

    def describe(self, name: str) -> Provider:
        """The provider called ``name`` as configured, usable or not (``KeyError`` when unknown)."""
        return self._providers[name]

    def get(self, name: str) -> Provider:
        """The provider called ``name``; :class:`UnknownProvider` or :class:`ProviderNotConfigured` if unusable."""
        provider = self._providers.get(name)
        if provider is None:
            hint = " (set OPENAI_API_KEY or OPENAI_BASE_URL)" if name == OPENAI else ""
            known = ", ".join(self.names()) or "none"
            raise UnknownProvider(f"unknown provider {name!r}{hint}; configured providers: {known}")
        if provider.missing_key_env:
            raise ProviderNotConfigured(
                f"provider {name!r} needs its API key in the environment variable {provider.missing_key_env}, "
                "which was not set when the server started"
            )
        return provider

    def resolve(
        self,
        *,
        requested: str | None = None,
        preferred: str | None = None,
        recorded_provider: str | None = None,
        recorded_base_url: str | None = None,
    ) -> ResolvedProvider:
        """Choose a provider as the module docstring describes."""
        if requested:
            return ResolvedProvider(self.get(requested), f"provider {requested!r} was asked for")
        if preferred and preferred in self._providers:
            return ResolvedProvider(self.get(preferred), f"the prompt version names provider {preferred!r}")
        recorded = self._recorded(recorded_provider, recorded_base_url)
        if recorded is not None:
            return recorded
        default = self.default_name
        what = recorded_provider or "none"
        where = f" at {recorded_base_url}" if recorded_base_url else ""
        reason = f"the span's provider ({what}{where}) is not configured; using the default provider {default!r}"
        if preferred:
            reason = f"the prompt version's provider {preferred!r} is not configured; using {default!r}"
        return ResolvedProvider(self.get(default), reason)

    def _recorded(self, name: str | None, base_url: str | None) -> ResolvedProvider | None:
        if base_url:
            # Named providers first: two may share an origin with OPENAI_BASE_URL, and a named one is explicit.
            candidates = sorted(self._providers.values(), key=lambda p: p.name == OPENAI)
            for provider in candidates:
                if provider.base_url and provider.name != LOCAL and same_origin(provider.base_url, base_url):
                    reason = f"the span was recorded against {base_url}, provider {provider.name!r}"
                    return ResolvedProvider(self.get(provider.name), reason, recorded=True)
        if name and name in self._providers:
            reason = f"the span was recorded with provider {name!r}"
            return ResolvedProvider(self.get(name), reason, recorded=True)
        return None


def same_origin(a: str, b: str) -> bool:
    """Whether two URLs have the same scheme, host and port (paths differ: instrumentations drop ``/v1``)."""
    return _origin(a) == _origin(b)


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url if "://" in url else f"https://{url}")
    try:
        port = parts.port
    except ValueError:
        port = None
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port or default
