"""Fields every convention fills the same way, applied after the convention's own normalizer.

- ``spanlab.prompt.*`` (set by spanlab's own prompt context) overrides any convention's prompt
  fields: it is the link to spanlab's prompt hub.
- ``spanlab.request.*`` (set by spanlab's openai instrumentor) is the request as sent: its
  invocation parameters replace those pieced together from ``gen_ai.request.*`` (which cannot
  tell ``max_tokens`` from ``max_completion_tokens``), its response_format and base URL win.
- ``metadata`` / ``tag.tags`` (OpenInference's generic keys, also set by spanlab's
  ``using_attributes``) fill ``metadata`` for spans whose convention did not.
- provider, session and user fall back to the generic keys of any convention.
- ``base_url`` comes from ``gen_ai.openai.api_base`` (a full URL, credentials and query removed)
  or from ``server.address``/``server.port`` (scheme and host only: instrumentations do not record
  the path, so ``/v1`` is not guessed; port 443 or none gives https, any other port http).
- ``total_tokens`` defaults to input + output; ``cost`` is estimated from the pricing table for
  LLM and EMBEDDING spans only (parents that sum their children's tokens must not be priced twice).
- ``input_value``/``output_value`` are the last user message / first output message text when
  the span has messages; the convention's own text (``input.value``, tool arguments...) otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from collector.normalize import pricing
from collector.normalize.attrs import INVALID, as_int, as_str, dumps, first, json_object, parse_json
from collector.normalize.canonical import CanonicalFields, run_steps
from collector.normalize.messages import first_output_text, last_user_text
from collector.normalize.openinference import fill_metadata
from instrumentation import semconv as sc

_PROVIDER_KEYS = (
    sc.GEN_AI_PROVIDER_NAME,
    sc.GEN_AI_SYSTEM,
    sc.OI_LLM_PROVIDER,
    sc.OI_LLM_SYSTEM,
    sc.OPENLLMETRY_LEGACY_VENDOR,
)
_SESSION_KEYS = (sc.SESSION_ID, sc.GEN_AI_CONVERSATION_ID)
_USER_KEYS = (sc.USER_ID, sc.ENDUSER_ID, sc.OPENLLMETRY_USER)
# Response model first: a dated snapshot prices more precisely than an alias.
_PRICED_MODEL_KEYS = (
    sc.GEN_AI_RESPONSE_MODEL,
    sc.OI_LLM_RESPONSE_MODEL_NAME,
    sc.OI_LLM_MODEL_NAME,
    sc.OPENLLMETRY_LEGACY_RESPONSE_MODEL,
)
_PRICED_KINDS = frozenset({"LLM", "EMBEDDING"})


def apply_fallbacks(fields: CanonicalFields, attributes: Mapping[str, Any]) -> None:
    """Fill the cross-convention fields of ``fields`` in place (see the module docstring)."""
    run_steps(_STEPS, fields, attributes)


def _fill_spanlab_prompt(fields: CanonicalFields, attributes: Mapping[str, Any]) -> None:
    name = as_str(attributes.get(sc.SPANLAB_PROMPT_NAME))
    if name is not None:
        fields.prompt_name = name
    version = as_str(attributes.get(sc.SPANLAB_PROMPT_VERSION))
    if version is not None:
        fields.prompt_version = version
    template = attributes.get(sc.SPANLAB_PROMPT_TEMPLATE)
    if template is not None:
        # A chat template (list of messages) is stored as its JSON text.
        fields.prompt_template = template if isinstance(template, str) else dumps(template)
    variables = json_object(attributes.get(sc.SPANLAB_PROMPT_VARIABLES))
    if variables is not None:
        fields.prompt_variables = variables


# Keys of a recorded request that have their own canonical field.
_NOT_PARAMETERS = ("model", "messages", "input", "tools", "response_format")


def _fill_spanlab_request(fields: CanonicalFields, attributes: Mapping[str, Any]) -> None:
    params = json_object(attributes.get(sc.SPANLAB_REQUEST_INVOCATION_PARAMETERS))
    if params is not None:
        fields.invocation_parameters = {k: v for k, v in params.items() if k not in _NOT_PARAMETERS} or None
    response_format = parse_json(attributes.get(sc.SPANLAB_REQUEST_RESPONSE_FORMAT))
    if response_format is not None and response_format is not INVALID:
        fields.response_format = response_format
    base_url = as_str(attributes.get(sc.SPANLAB_REQUEST_BASE_URL))
    if base_url is not None:
        fields.base_url = clean_url(base_url)


def _fill_metadata(fields: CanonicalFields, attributes: Mapping[str, Any]) -> None:
    if fields.metadata is None and (sc.OI_METADATA in attributes or sc.OI_TAG_TAGS in attributes):
        fill_metadata(fields, attributes)


def _fill_identity(fields: CanonicalFields, attributes: Mapping[str, Any]) -> None:
    if fields.provider is None:
        provider = as_str(first(attributes, _PROVIDER_KEYS))
        fields.provider = provider.lower() if provider is not None else None
    if fields.session_id is None:
        fields.session_id = as_str(first(attributes, _SESSION_KEYS))
    if fields.user_id is None:
        fields.user_id = as_str(first(attributes, _USER_KEYS))


def _fill_base_url(fields: CanonicalFields, attributes: Mapping[str, Any]) -> None:
    if fields.base_url is not None:
        return
    api_base = as_str(attributes.get(sc.GEN_AI_OPENAI_API_BASE))
    if api_base is not None:
        fields.base_url = clean_url(api_base)
        return
    address = as_str(attributes.get(sc.SERVER_ADDRESS))
    if address is not None:
        fields.base_url = _url_from_address(address, as_int(attributes.get(sc.SERVER_PORT)))


@lru_cache(maxsize=256)
def clean_url(url: str) -> str | None:
    """``url`` without credentials, query or fragment (an API key can hide in any of them)."""
    text = url.strip()
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    if not parts.hostname:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    port = f":{parts.port}" if parts.port is not None else ""
    return f"{parts.scheme}://{host}{port}{parts.path.rstrip('/')}"


def _url_from_address(address: str, port: int | None) -> str:
    host = f"[{address}]" if ":" in address and not address.startswith("[") else address
    if port in (None, 443):
        return f"https://{host}"
    if port == 80:
        return f"http://{host}"
    return f"http://{host}:{port}"


def _fill_totals_and_cost(fields: CanonicalFields, attributes: Mapping[str, Any]) -> None:
    if fields.total_tokens is None and (fields.input_tokens is not None or fields.output_tokens is not None):
        fields.total_tokens = (fields.input_tokens or 0) + (fields.output_tokens or 0)
    if fields.cost is not None or fields.kind not in _PRICED_KINDS:
        return
    priced_model = as_str(first(attributes, _PRICED_MODEL_KEYS))
    for model in (priced_model, fields.model):
        cost = pricing.estimate_cost(model, fields.input_tokens, fields.output_tokens)
        if cost is not None:
            fields.cost = cost
            return


def _fill_display_values(fields: CanonicalFields, attributes: Mapping[str, Any]) -> None:
    input_text = last_user_text(fields.input_messages)
    if input_text is not None:
        fields.input_value = input_text
    output_text = first_output_text(fields.output_messages)
    if output_text is not None:
        fields.output_value = output_text


_STEPS = (
    _fill_spanlab_prompt,
    _fill_spanlab_request,  # before _fill_base_url: the full URL beats one rebuilt from server.address
    _fill_metadata,
    _fill_identity,
    _fill_base_url,
    _fill_totals_and_cost,
    _fill_display_values,
)
