"""Prompt and request context for the LLM spans an application makes.

The instrumentor reads this context when it starts a span, so everything here is plain
:mod:`contextvars` state: it follows ``asyncio`` tasks and stays apart between threads.

- :func:`using_prompt` names the prompt (name, version, template, variables) behind the LLM calls
  made inside it → ``spanlab.prompt.*`` attributes.
- :func:`using_attributes` attaches the session, user, metadata and tags → ``session.id``,
  ``user.id``, ``metadata``, ``tag.tags``.
- :class:`PromptMessages` is a list of OpenAI-format messages that remembers the prompt it was
  rendered from: passed as ``messages=`` (chat) or ``input=`` (Responses API), it marks the span
  without any context manager. An explicit :func:`using_prompt` around the call wins over it.

Both context helpers work as context managers and as decorators of plain and ``async`` functions::

    with using_prompt("support-triage", version="3", variables={"question": q}):
        client.chat.completions.create(...)

    @using_attributes(session_id="s-1", user_id="u-7", tags=["beta"])
    async def answer(question: str) -> str: ...

Standard library only: the prompt SDK and the instrumentor both import it.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

__all__ = [
    "PromptInfo",
    "PromptMessages",
    "RequestAttributes",
    "current_attributes",
    "current_prompt",
    "prompt_for",
    "using_attributes",
    "using_prompt",
]

F = TypeVar("F", bound=Callable[..., Any])
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class PromptInfo:
    """The prompt behind an LLM call: its name, version, template and the variables it was filled with.

    ``version`` is kept as text (an int such as a hub version number is converted); ``template`` is a
    text template or a chat template (a list of message dicts); ``variables`` maps names to values.
    """

    name: str
    version: str | None = None
    template: object | None = None
    variables: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError("a prompt needs a non-empty name")
        if self.version is not None and not isinstance(self.version, str):
            object.__setattr__(self, "version", str(self.version))
        if self.variables is not None:
            if not isinstance(self.variables, Mapping):
                raise TypeError("prompt variables must be a mapping of names to values")
            object.__setattr__(self, "variables", dict(self.variables))


class PromptMessages(list[Any]):
    """OpenAI-format messages rendered from a prompt; ``prompt`` says which one.

    Behaves as the plain list the ``openai`` client expects. Copies made with ``list(...)`` or slicing
    are plain lists and no longer carry the prompt.
    """

    prompt: PromptInfo | None

    def __init__(self, messages: Iterable[Any] = (), prompt: PromptInfo | None = None) -> None:
        super().__init__(messages)
        self.prompt = prompt


@dataclass(frozen=True, slots=True)
class RequestAttributes:
    """Who and what an LLM call is for: session, user, free-form metadata and tags."""

    session_id: str | None = None
    user_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()

    def merged(self, inner: RequestAttributes) -> RequestAttributes:
        """``inner`` nested in ``self``: its ids win, metadata is merged, tags are added (once each)."""
        return RequestAttributes(
            session_id=inner.session_id if inner.session_id is not None else self.session_id,
            user_id=inner.user_id if inner.user_id is not None else self.user_id,
            metadata={**self.metadata, **inner.metadata},
            tags=tuple(dict.fromkeys((*self.tags, *inner.tags))),
        )


_NO_ATTRIBUTES = RequestAttributes()
_prompt: ContextVar[PromptInfo | None] = ContextVar("spanlab_prompt", default=None)
_attributes: ContextVar[RequestAttributes] = ContextVar("spanlab_attributes", default=_NO_ATTRIBUTES)


def current_prompt() -> PromptInfo | None:
    """The prompt set by the innermost :func:`using_prompt`, if any."""
    return _prompt.get()


def current_attributes() -> RequestAttributes:
    """The merged attributes of every enclosing :func:`using_attributes` (empty when none)."""
    return _attributes.get()


def prompt_for(messages: object) -> PromptInfo | None:
    """The prompt an LLM call with these ``messages``/``input`` was made from.

    An enclosing :func:`using_prompt` wins; otherwise a :class:`PromptMessages` argument names it.
    """
    explicit = _prompt.get()
    if explicit is not None:
        return explicit
    if isinstance(messages, PromptMessages):
        return messages.prompt
    return None


class _Scope(Generic[V]):
    """Sets a context variable for a ``with`` block or for each call of a decorated function."""

    def __init__(self, var: ContextVar[V], value: Callable[[], V]) -> None:
        self._var = var
        self._value = value  # computed on entry, so nesting merges with what is current then
        self._tokens: list[Token[V]] = []

    def __enter__(self) -> None:
        self._tokens.append(self._var.set(self._value()))

    def __exit__(self, *exc: object) -> None:
        self._var.reset(self._tokens.pop())

    async def __aenter__(self) -> None:
        self.__enter__()

    async def __aexit__(self, *exc: object) -> None:
        self.__exit__()

    def __call__(self, func: F) -> F:
        var, value = self._var, self._value
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                token = var.set(value())
                try:
                    return await func(*args, **kwargs)
                finally:
                    var.reset(token)

            return run_async  # type: ignore[return-value]

        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            token = var.set(value())
            try:
                return func(*args, **kwargs)
            finally:
                var.reset(token)

        return run  # type: ignore[return-value]


def using_prompt(
    name: str,
    *,
    version: str | int | None = None,
    template: object | None = None,
    variables: Mapping[str, Any] | None = None,
) -> _Scope[PromptInfo | None]:
    """Mark the LLM calls made inside as coming from prompt ``name`` (context manager or decorator).

    Raises ``ValueError`` for an empty name and ``TypeError`` when ``variables`` is not a mapping,
    at once rather than at the first LLM call. The innermost ``using_prompt`` wins.
    """
    text_version = str(version) if version is not None else None
    info = PromptInfo(name, text_version, template, variables)  # type: ignore[arg-type]  # checked and copied there
    return _Scope(_prompt, lambda: info)


def using_attributes(
    *,
    session_id: str | None = None,
    user_id: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    tags: Iterable[str] | None = None,
) -> _Scope[RequestAttributes]:
    """Attach a session, user, metadata and tags to the LLM calls made inside (context manager or decorator).

    Nested scopes combine: inner ids win, metadata is merged key by key, tags accumulate.
    """
    if isinstance(tags, str):
        raise TypeError("tags must be a list of strings, not one string")
    own = RequestAttributes(
        session_id=str(session_id) if session_id is not None else None,
        user_id=str(user_id) if user_id is not None else None,
        metadata=dict(metadata or {}),
        tags=tuple(str(tag) for tag in tags or ()),
    )
    return _Scope(_attributes, lambda: _attributes.get().merged(own))
