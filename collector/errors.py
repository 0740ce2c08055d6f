"""The collector's errors.

CollectorError
├── InvalidExport          an OTLP request that cannot be decoded (HTTP 400, gRPC INVALID_ARGUMENT)
├── ExportTooLarge         past the message size limit after decompression (HTTP 413, RESOURCE_EXHAUSTED)
├── UnsupportedMediaType   neither protobuf nor JSON (HTTP 415)
├── Overloaded             the ingest queue is full; retry later (HTTP 503 + Retry-After, UNAVAILABLE)
├── NotFound               no such trace, span or project (HTTP 404)
├── InvalidQuery           a bad filter, cursor or SQL text (HTTP 400)
└── StoreClosed            the store is shutting down (HTTP 503)
"""

from __future__ import annotations

__all__ = [
    "CollectorError",
    "ExportTooLarge",
    "InvalidExport",
    "InvalidQuery",
    "NotFound",
    "Overloaded",
    "StoreClosed",
    "UnsupportedMediaType",
]


class CollectorError(Exception):
    """Base of every error the collector raises on purpose."""

    status_code = 500


class InvalidExport(CollectorError):
    status_code = 400


class ExportTooLarge(CollectorError):
    status_code = 413


class UnsupportedMediaType(CollectorError):
    status_code = 415


class Overloaded(CollectorError):
    status_code = 503

    def __init__(self, message: str, *, retry_after_seconds: int = 1) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class NotFound(CollectorError):
    status_code = 404


class InvalidQuery(CollectorError):
    status_code = 400


class StoreClosed(CollectorError):
    status_code = 503
