"""The REST API's one error handler: every ``CollectorError`` becomes ``{"error": {"type", "message"}}``."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from collector.errors import CollectorError, Overloaded
from replay.errors import ReplayError

__all__ = ["install_error_handlers"]


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(CollectorError)
    async def collector_error(request: Request, exc: CollectorError) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after_seconds)} if isinstance(exc, Overloaded) else None
        body = {"error": {"type": type(exc).__name__, "message": str(exc)}}
        return JSONResponse(body, status_code=exc.status_code, headers=headers)

    @app.exception_handler(ReplayError)
    async def replay_error(request: Request, exc: ReplayError) -> JSONResponse:
        body = {"error": {"type": type(exc).__name__, "message": str(exc)}}
        return JSONResponse(body, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            f"{'.'.join(str(p) for p in err.get('loc', ()) if p != 'body') or 'body'}: {err.get('msg')}"
            for err in exc.errors()
        ]
        body = {
            "error": {
                "type": "InvalidRequest",
                "message": "; ".join(problems),
                "details": jsonable_encoder(exc.errors()),
            }
        }
        return JSONResponse(body, status_code=422)
