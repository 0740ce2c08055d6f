"""A small HTTP client for the spanlab REST API, used by the CLI (which never opens the DuckDB file itself).

Every failure surfaces as one :class:`SpanlabClientError` with a message meant for a person:

    SpanlabClientError
    ├── the server answered 4xx/5xx        → its ``{"error": {"message"}}`` text, with ``status_code`` set
    ├── the server cannot be reached       → names the URL and suggests ``spanlab serve`` / ``SPANLAB_URL``
    └── it did not answer in time, or the answer was not JSON
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import typer
from pydantic import ValidationError

from spanlab.settings import Settings

__all__ = ["SpanlabClient", "SpanlabClientError", "cli_settings", "exit_on_client_error"]


class SpanlabClientError(Exception):
    """A request to the spanlab server failed; ``str(error)`` says why, ``status_code`` is the HTTP status."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class SpanlabClient:
    """Calls ``/api/v1`` on ``base_url``, sending ``Authorization: Bearer <api_key>`` when a key is set."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        try:
            self._http = httpx.Client(
                base_url=f"{self.base_url}/api/v1", headers=headers, timeout=timeout, transport=transport
            )
        except httpx.InvalidURL as exc:
            raise SpanlabClientError(f"SPANLAB_URL {base_url!r} is not a valid URL: {exc}") from None
        self._has_key = bool(api_key)

    @classmethod
    def from_settings(cls, settings: Settings, *, timeout: float = 30.0) -> SpanlabClient:
        return cls(settings.url, api_key=settings.api_key, timeout=timeout)

    def __enter__(self) -> SpanlabClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- the API --------------------------------------------------------------------------------------------
    def list_traces(self, **filters: Any) -> dict[str, Any]:
        """``GET /traces``; ``None`` filters are left out. Returns ``{"data": [...], "next_cursor"}``."""
        return self.get("/traces", params={k: v for k, v in filters.items() if v is not None})

    def get_trace(self, trace_id: str) -> dict[str, Any]:
        return self.get(f"/traces/{trace_id}")

    def get_span(self, span_id: str, *, trace_id: str | None = None) -> dict[str, Any]:
        return self.get(f"/spans/{span_id}", params={"trace_id": trace_id} if trace_id else None)

    def sql(self, sql: str) -> dict[str, Any]:
        """``POST /sql``: ``{"columns", "types", "rows", "row_count", "truncated"}``."""
        return self.post("/sql", json={"sql": sql})

    def replay(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /replays``: ``{"span_id"|"dataset"+"example_id", "overrides"}`` → the stored replay."""
        return self.post("/replays", json=body)

    def span_replays(self, span_id: str) -> dict[str, Any]:
        """``GET /spans/{span_id}/replays``: ``{"data": [replays, newest first], "next_cursor": null}``."""
        return self.get(f"/spans/{span_id}/replays")

    def start_optimization(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /optimizations``: start an optimization in the background → the run (``running``, its split)."""
        return self.post("/optimizations", json=body)

    def get_optimization(self, run_id: str) -> dict[str, Any]:
        """``GET /optimizations/{id}``: status, live progress, and the result once it ended."""
        return self.get(f"/optimizations/{run_id}")

    def cancel_optimization(self, run_id: str) -> dict[str, Any]:
        """``POST /optimizations/{id}/cancel``."""
        return self.post(f"/optimizations/{run_id}/cancel", json={})

    def optimization_svg(self, run_id: str) -> str:
        """``GET /optimizations/{id}/score-history.svg``: the score history as SVG text."""
        return str(self._send("GET", f"/optimizations/{run_id}/score-history.svg", text=True))

    # -- plumbing -------------------------------------------------------------------------------------------
    def get(self, path: str, *, params: dict[str, Any] | None = None) -> Any:
        return self._send("GET", path, params=params)

    def post(self, path: str, *, json: Any) -> Any:
        return self._send("POST", path, json=json)

    def put(self, path: str, *, json: Any) -> Any:
        return self._send("PUT", path, json=json)

    def patch(self, path: str, *, json: Any) -> Any:
        return self._send("PATCH", path, json=json)

    def delete(self, path: str) -> Any:
        return self._send("DELETE", path)

    def post_content(
        self, path: str, content: bytes, *, content_type: str, params: dict[str, Any] | None = None
    ) -> Any:
        """``POST`` a raw body (e.g. a JSONL or CSV file) and return the JSON answer."""
        return self._send("POST", path, content=content, params=params, headers={"Content-Type": content_type})

    def _send(self, method: str, path: str, *, text: bool = False, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TimeoutException:
            raise SpanlabClientError(
                f"the spanlab server at {self.base_url} did not answer within {self._http.timeout.read} s"
            ) from None
        except (httpx.ConnectError, httpx.RemoteProtocolError) as exc:
            raise SpanlabClientError(
                f"cannot reach the spanlab server at {self.base_url} ({exc}); start it with `spanlab serve` "
                "or point SPANLAB_URL at a running server"
            ) from None
        except httpx.HTTPError as exc:
            raise SpanlabClientError(f"request to {self.base_url} failed: {exc}") from None
        if response.is_error:
            raise SpanlabClientError(self._error_message(response), status_code=response.status_code)
        if text:
            return response.text
        try:
            return response.json()
        except ValueError:
            raise SpanlabClientError(f"{self.base_url} answered with something that is not JSON") from None

    def _error_message(self, response: httpx.Response) -> str:
        try:
            message = str(response.json()["error"]["message"])
        except (ValueError, KeyError, TypeError):
            message = response.text.strip()[:200] or response.reason_phrase
        if response.status_code == 401 and not self._has_key:
            message += " (set SPANLAB_API_KEY)"
        return f"HTTP {response.status_code}: {message}"


def cli_settings() -> Settings:
    """The settings (``SPANLAB_*`` env), read once as a command starts; invalid values exit with status 2."""
    try:
        return Settings(**{})  # ** keeps mypy (no pydantic plugin here) from asking for every field
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        typer.echo(f"error: invalid SPANLAB_* settings: {problems}", err=True)
        raise typer.Exit(2) from None


@contextmanager
def exit_on_client_error() -> Iterator[None]:
    """For CLI commands: print a client error as one line on stderr and exit with status 1."""
    try:
        yield
    except SpanlabClientError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
