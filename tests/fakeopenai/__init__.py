"""A small OpenAI-compatible fake model provider for the test suite (see README.md).

`FakeOpenAI` serves it on 127.0.0.1; `fixtures.py` is the pytest plugin with the `fake_openai`
fixture. Replies are scripted with `ChatReply`, `ToolCall`, `Usage`, `ErrorReply` and `StreamError`.
"""

from __future__ import annotations

from .recorder import RecordedRequest
from .replies import ChatReply, ErrorReply, StreamError, ToolCall, Usage
from .script import Script
from .server import FakeOpenAI, create_app

__all__ = [
    "ChatReply",
    "ErrorReply",
    "FakeOpenAI",
    "RecordedRequest",
    "Script",
    "StreamError",
    "ToolCall",
    "Usage",
    "create_app",
]
