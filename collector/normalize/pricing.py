"""A small cost table for well-known models, used when a span does not carry its own cost.

Prices are list prices in USD per 1M tokens (input, output) for standard, non-batch, non-cached
usage, as published by OpenAI and Anthropic (checked late 2025). They are an estimate for
dashboards, not an invoice: cached-input discounts, batch pricing, reasoning-token surcharges
and regional prices are ignored.

A model name matches the longest table entry it starts with, provided the next character ends
the name or starts a suffix (``-``, ``:``, ``@``), so dated snapshots such as
``gpt-4o-mini-2024-07-18`` resolve to ``gpt-4o-mini`` while ``gpt-4.5`` does not fall back to
``gpt-4``. A routing prefix (``openai/gpt-4o``) is ignored.
"""

from __future__ import annotations

from functools import lru_cache

# (input, output) USD per 1M tokens.
PRICES_PER_MILLION: dict[str, tuple[float, float]] = {
    # OpenAI chat / reasoning models
    "gpt-5": (1.25, 10.00),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5-nano": (0.05, 0.40),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-2024-05-13": (5.00, 15.00),  # the first gpt-4o snapshot kept its launch price
    "chatgpt-4o-latest": (5.00, 15.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4-turbo": (10.00, 30.00),
    "gpt-4": (30.00, 60.00),
    "gpt-3.5-turbo": (0.50, 1.50),
    "o1": (15.00, 60.00),
    "o1-mini": (1.10, 4.40),
    "o1-pro": (150.00, 600.00),
    "o3": (2.00, 8.00),
    "o3-pro": (20.00, 80.00),
    "o3-mini": (1.10, 4.40),
    "o4-mini": (1.10, 4.40),
    # OpenAI embeddings (no output tokens)
    "text-embedding-3-small": (0.02, 0.0),
    "text-embedding-3-large": (0.13, 0.0),
    "text-embedding-ada-002": (0.10, 0.0),
    # Anthropic
    "claude-opus-4": (15.00, 75.00),
    "claude-opus-4-5": (5.00, 25.00),
    "claude-haiku-4-5": (1.00, 5.00),
    "claude-sonnet-4": (3.00, 15.00),
    "claude-3-7-sonnet": (3.00, 15.00),
    "claude-3-5-sonnet": (3.00, 15.00),
    "claude-3-5-haiku": (0.80, 4.00),
    "claude-3-opus": (15.00, 75.00),
    "claude-3-haiku": (0.25, 1.25),
    # spanlab's built-in local model runs on the user's machine.
    "smollm2-135m": (0.0, 0.0),
}

_BY_LENGTH = sorted(PRICES_PER_MILLION, key=len, reverse=True)
_SUFFIX_STARTS = frozenset("-:@")


@lru_cache(maxsize=1024)
def price_of(model: str) -> tuple[float, float] | None:
    """(input, output) USD per 1M tokens for ``model``, or None when it is not in the table."""
    name = model.strip().lower().rpartition("/")[2]
    for known in _BY_LENGTH:
        if name.startswith(known) and (len(name) == len(known) or name[len(known)] in _SUFFIX_STARTS):
            return PRICES_PER_MILLION[known]
    return None


def estimate_cost(model: str | None, input_tokens: int | None, output_tokens: int | None) -> float | None:
    """Estimated USD cost of one call; None when the model is unknown or no tokens are known."""
    if not model or (input_tokens is None and output_tokens is None):
        return None
    prices = price_of(model)
    if prices is None:
        return None
    return ((input_tokens or 0) * prices[0] + (output_tokens or 0) * prices[1]) / 1_000_000
