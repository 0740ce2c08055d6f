"""The prompt SDK: fetch prompt versions from the spanlab hub inside the application, with caches.

::

    from spanlab import prompts

    prompt = prompts.get("support-triage")                  # the version tagged "production"
    prompt = prompts.get("support-triage", tag="staging")
    prompt = prompts.get("support-triage", version=3)
    messages = prompt.format(question="I lost my card")     # MissingVariable names any variable not given
    client.chat.completions.create(messages=messages, **prompt.openai_kwargs())

The LLM span of that call carries the prompt's name, version, template and variables: ``format`` returns
:class:`~instrumentation.context.PromptMessages`, which the instrumentor reads.

Caching contract of :meth:`PromptClient.get`:

1. **Memory.** A version fetched within the last ``ttl`` seconds (default 60) is returned without a request.
   Past ``ttl`` the cached version is still returned at once, and one background thread refreshes it
   (stale-while-revalidate); a failed refresh keeps the old version. A version asked for by *number* never
   goes stale: versions are immutable.
2. **Server.** On a memory miss the hub is asked (``GET /api/v1/prompts/{name}/versions/{tag|version}``,
   timeout ``timeout`` seconds); the answer is written to memory and to the disk cache.
3. **Disk.** When the server cannot be reached (connection error, timeout, HTTP 5xx), the last version
   written to the disk cache (``cache_dir``, default ``~/.cache/spanlab/prompts``; ``None`` turns it off) is
   used, and kept in memory so the server is retried only after ``ttl``.
4. **Fallback.** When neither server nor cache has it — also when the hub answers that the prompt or tag
   does not exist — ``fallback`` (a :class:`PromptVersion` or a chat template, i.e. a list of messages) is
   used. Without one, :class:`PromptNotFound` (the hub has no such prompt/tag/version) or
   :class:`PromptUnavailable` (no server and no cache) is raised.

:attr:`PromptVersion.origin` says where a version came from: ``server``, ``disk`` or ``fallback``.

This module runs inside the user's application: it imports the standard library, ``httpx`` and the
instrumentation package only.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import httpx

from instrumentation.config import client_settings
from instrumentation.context import PromptInfo, PromptMessages
from instrumentation.errors import InstrumentationError
from instrumentation.template import MissingVariable, TemplateError, check_template, render_messages

__all__ = [
    "DEFAULT_CACHE_DIR",
    "DEFAULT_TTL",
    "MissingVariable",
    "PromptClient",
    "PromptNotFound",
    "PromptUnavailable",
    "PromptVersion",
    "configure",
    "get",
]

DEFAULT_TTL = 60.0
DEFAULT_CACHE_DIR = Path.home() / ".cache" / "spanlab" / "prompts"
Origin = Literal["server", "disk", "fallback"]
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,199}")
logger = logging.getLogger("spanlab.prompts")


class PromptNotFound(InstrumentationError, LookupError):
    """The hub answered that the prompt, tag or version does not exist, and no fallback was given."""


class PromptUnavailable(InstrumentationError):
    """The hub could not be reached (or failed), no cache holds the prompt, and no fallback was given."""


@dataclass(frozen=True)
class PromptVersion:
    """A prompt version as the application sees it (``version`` is None for a fallback built from a template)."""

    name: str
    version: int | None
    template: list[dict[str, Any]]
    model_provider: str | None = None
    model_name: str | None = None
    invocation_parameters: dict[str, Any] = field(default_factory=dict)
    tools: list[dict[str, Any]] | None = None
    response_format: dict[str, Any] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    content_hash: str | None = None
    origin: Origin = "server"

    def format(self, **variables: Any) -> PromptMessages:
        """The messages with ``variables`` filled in, ready for the openai client, marked with this prompt.

        Raises :class:`MissingVariable` naming every variable the template needs but was not given.
        """
        messages = render_messages(self.template, variables)
        info = PromptInfo(self.name, None if self.version is None else str(self.version), self.template, variables)
        return PromptMessages(messages, info)

    def openai_kwargs(self) -> dict[str, Any]:
        """``model``, the invocation parameters, ``tools`` and ``response_format`` for ``chat.completions.create``."""
        kwargs: dict[str, Any] = dict(self.invocation_parameters)
        if self.model_name:
            kwargs["model"] = self.model_name
        if self.tools is not None:
            kwargs["tools"] = self.tools
        if self.response_format is not None:
            kwargs["response_format"] = self.response_format
        return kwargs

    @classmethod
    def from_api(cls, data: Mapping[str, Any], *, origin: Origin = "server") -> PromptVersion:
        """A version from the hub's JSON (``GET /api/v1/prompts/{name}/versions/{ref}``)."""
        return cls(
            name=data["prompt_name"],
            version=int(data["version"]),
            template=check_template(data["template"]),
            model_provider=data.get("model_provider"),
            model_name=data.get("model_name"),
            invocation_parameters=dict(data.get("invocation_parameters") or {}),
            tools=data.get("tools"),
            response_format=data.get("response_format"),
            metadata=dict(data.get("metadata") or {}),
            tags=tuple(data.get("tags") or ()),
            content_hash=data.get("content_hash"),
            origin=origin,
        )

    def to_api(self) -> dict[str, Any]:
        """The hub's JSON shape (what the disk cache stores)."""
        return {
            "prompt_name": self.name,
            "version": self.version,
            "template": self.template,
            "model_provider": self.model_provider,
            "model_name": self.model_name,
            "invocation_parameters": self.invocation_parameters,
            "tools": self.tools,
            "response_format": self.response_format,
            "metadata": self.metadata,
            "tags": list(self.tags),
            "content_hash": self.content_hash,
        }


@dataclass
class _Entry:
    version: PromptVersion
    fetched_at: float  # time.monotonic() of the fetch (or of the cache read)


class _ServerDown(Exception):
    """The hub could not be reached or failed (5xx); the message says how."""


class PromptClient:
    """Fetches prompt versions from the hub with a memory cache, a disk cache and fallbacks.

    ``url`` and ``api_key`` default to ``SPANLAB_URL`` / ``SPANLAB_API_KEY`` (see ``instrumentation.config``).
    """

    def __init__(
        self,
        *,
        url: str | None = None,
        api_key: str | None = None,
        ttl: float = DEFAULT_TTL,
        cache_dir: Path | str | None = DEFAULT_CACHE_DIR,
        timeout: float = 5.0,
    ) -> None:
        if ttl < 0:
            raise ValueError("ttl must be 0 or more seconds")
        settings = client_settings()
        self.url = (url or settings.url).rstrip("/")
        self.ttl = ttl
        self.cache_dir = None if cache_dir is None else Path(cache_dir)
        headers = {"Authorization": f"Bearer {api_key or settings.api_key}"} if (api_key or settings.api_key) else {}
        self._http = httpx.Client(base_url=f"{self.url}/api/v1", headers=headers, timeout=timeout)
        self._memory: dict[tuple[str, str], _Entry] = {}
        self._refreshing: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def get(
        self,
        name: str,
        *,
        tag: str | None = None,
        version: int | None = None,
        fallback: PromptVersion | list[dict[str, Any]] | None = None,
    ) -> PromptVersion:
        """The version of ``name`` tagged ``tag`` (default ``production``) or numbered ``version``.

        See the module docstring for the order memory → server → disk → fallback. Raises ``ValueError`` for
        a malformed name, both ``tag`` and ``version``, or a malformed fallback template.
        """
        key = (_check_name(name), _ref(tag, version))
        spare = _fallback(name, fallback)
        with self._lock:
            entry = self._memory.get(key)
        if entry is not None:
            if version is None and time.monotonic() - entry.fetched_at >= self.ttl:
                self._refresh_in_background(key)
            return entry.version
        try:
            return self._fetch(key)
        except PromptNotFound:
            if spare is not None:
                return spare
            raise
        except _ServerDown as exc:
            cached = self._read_disk(key)
            if cached is not None:
                logger.warning("spanlab prompts: %s; using the disk cache for %s@%s", exc, *key)
                self._remember(key, cached)
                return cached
            if spare is not None:
                logger.warning("spanlab prompts: %s; using the fallback for %s@%s", exc, *key)
                return spare
            raise PromptUnavailable(f"{exc}, and no cached copy of {key[0]}@{key[1]} or fallback exists") from None

    def clear_memory(self) -> None:
        """Forget the memory cache (the disk cache stays)."""
        with self._lock:
            self._memory.clear()

    def close(self) -> None:
        self._http.close()

    # -- internals ----------------------------------------------------------------------------------------
    def _fetch(self, key: tuple[str, str]) -> PromptVersion:
        name, ref = key
        path = f"/prompts/{quote(name, safe='')}/versions/{quote(ref, safe='')}"
        try:
            response = self._http.get(path)
        except httpx.HTTPError as exc:
            raise _ServerDown(f"cannot reach the spanlab server at {self.url} ({type(exc).__name__}: {exc})") from None
        if response.status_code >= 500:
            raise _ServerDown(f"the spanlab server at {self.url} failed (HTTP {response.status_code})")
        if response.status_code == 404:
            raise PromptNotFound(f"{name}@{ref}: {_message(response)}")
        if response.is_error:  # e.g. a refused API key: the cache or the fallback keeps the application going
            raise _ServerDown(
                f"the spanlab server at {self.url} refused: HTTP {response.status_code}: {_message(response)}"
            )
        try:
            fetched = PromptVersion.from_api(response.json())
        except (ValueError, KeyError, TypeError, TemplateError) as exc:
            raise _ServerDown(f"the spanlab server at {self.url} answered with an unusable prompt ({exc})") from None
        self._remember(key, fetched)
        self._write_disk(key, fetched)
        return fetched

    def _remember(self, key: tuple[str, str], version: PromptVersion) -> None:
        with self._lock:
            self._memory[key] = _Entry(version, time.monotonic())

    def _refresh_in_background(self, key: tuple[str, str]) -> None:
        with self._lock:
            if key in self._refreshing:
                return
            self._refreshing.add(key)

        def refresh() -> None:
            try:
                self._fetch(key)
            except Exception as exc:  # the stale version stays; the application must not see this
                logger.info("spanlab prompts: refreshing %s@%s failed: %s", *key, exc)
                with self._lock:
                    entry = self._memory.get(key)
                if entry is not None:  # wait another ttl before trying again
                    self._remember(key, entry.version)
            finally:
                with self._lock:
                    self._refreshing.discard(key)

        threading.Thread(target=refresh, name=f"spanlab-prompt-refresh-{key[0]}", daemon=True).start()

    def _disk_path(self, key: tuple[str, str]) -> Path | None:
        return None if self.cache_dir is None else self.cache_dir / key[0] / f"{key[1]}.json"

    def _write_disk(self, key: tuple[str, str], version: PromptVersion) -> None:
        path = self._disk_path(key)
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # write then rename, so a reader never sees half a file
            with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False) as handle:
                json.dump(version.to_api(), handle)
            os.replace(handle.name, path)
        except OSError as exc:
            logger.warning("spanlab prompts: cannot write the disk cache %s: %s", path, exc)

    def _read_disk(self, key: tuple[str, str]) -> PromptVersion | None:
        path = self._disk_path(key)
        if path is None or not path.is_file():
            return None
        try:
            return PromptVersion.from_api(json.loads(path.read_text(encoding="utf-8")), origin="disk")
        except (OSError, ValueError, KeyError, TypeError, TemplateError) as exc:
            logger.warning("spanlab prompts: ignoring the unreadable disk cache %s: %s", path, exc)
            return None


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"prompt name {name!r} is not valid: use letters, digits, '_', '.' or '-'")
    return name


def _ref(tag: str | None, version: int | None) -> str:
    if tag is not None and version is not None:
        raise ValueError("give a tag or a version, not both")
    if version is not None:
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise ValueError(f"version must be a positive integer, not {version!r}")
        return str(version)
    tag = "production" if tag is None else tag
    if not _NAME.fullmatch(tag) or tag.isdigit():
        raise ValueError(f"tag {tag!r} is not valid: use letters, digits, '_', '.' or '-', not all digits")
    return tag


def _fallback(name: str, fallback: PromptVersion | list[dict[str, Any]] | None) -> PromptVersion | None:
    if fallback is None:
        return None
    if isinstance(fallback, PromptVersion):
        return replace(fallback, origin="fallback")
    try:
        template = check_template(fallback)
    except TemplateError as exc:
        raise ValueError(f"the fallback for {name!r} is not a valid template: {exc}") from None
    return PromptVersion(name=name, version=None, template=template, origin="fallback")


def _message(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return response.text.strip()[:200] or response.reason_phrase


# -- the process-wide client --------------------------------------------------------------------------------
_default: PromptClient | None = None
_default_lock = threading.Lock()


def configure(
    *,
    url: str | None = None,
    api_key: str | None = None,
    ttl: float = DEFAULT_TTL,
    cache_dir: Path | str | None = DEFAULT_CACHE_DIR,
    timeout: float = 5.0,
) -> PromptClient:
    """Replace the client :func:`get` uses (e.g. another cache directory or TTL) and return it."""
    global _default
    client = PromptClient(url=url, api_key=api_key, ttl=ttl, cache_dir=cache_dir, timeout=timeout)
    with _default_lock:
        previous, _default = _default, client
    if previous is not None:
        previous.close()
    return client


def get(
    name: str,
    *,
    tag: str | None = None,
    version: int | None = None,
    fallback: PromptVersion | list[dict[str, Any]] | None = None,
) -> PromptVersion:
    """:meth:`PromptClient.get` on the process-wide client (made from the environment on first use)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = PromptClient()
        client = _default
    return client.get(name, tag=tag, version=version, fallback=fallback)
