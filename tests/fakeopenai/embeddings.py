"""Embeddings: deterministic vectors by feature hashing of words, and the wire format.

Each lower-cased word adds +/-1 at a position picked by its hash, and the vector is L2-normalised,
so equal texts give equal vectors and texts sharing words have a positive cosine similarity.
A text with no words gets the unit vector along the first axis. `encoding_format="base64"` returns
little-endian float32 bytes, base64-encoded, as OpenAI does.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
import struct
from typing import Any

from .request_view import count_tokens

__all__ = ["embedding_vector", "embeddings_body"]

_WORD = re.compile(r"\w+")
_DIMENSIONS = {"text-embedding-3-large": 3072}
_DEFAULT_DIMENSIONS = 1536


def embedding_vector(text: str, dimensions: int) -> list[float]:
    """The fake embedding of `text`: deterministic, unit length, `dimensions` floats."""
    vector = [0.0] * dimensions
    for word in _WORD.findall(text.lower()):
        digest = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
        vector[digest % dimensions] += 1.0 if digest >> 63 else -1.0
    norm = math.sqrt(sum(x * x for x in vector))
    if norm == 0.0:
        vector[0] = 1.0
        return vector
    return [x / norm for x in vector]


def embeddings_body(texts: list[str], request: dict[str, Any]) -> dict[str, Any]:
    """The `list` body answering an embeddings request for `texts`."""
    model = str(request.get("model", ""))
    dimensions = int(request.get("dimensions") or _DIMENSIONS.get(model, _DEFAULT_DIMENSIONS))
    as_base64 = request.get("encoding_format") == "base64"
    data = []
    for index, text in enumerate(texts):
        vector = embedding_vector(text, dimensions)
        encoded: Any = vector
        if as_base64:
            encoded = base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode("ascii")
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    tokens = sum(count_tokens(text) for text in texts)
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
