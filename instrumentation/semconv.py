"""Attribute names spanlab reads and writes on LLM spans.

One place for every attribute key of the three conventions spanlab understands, plus spanlab's
own few extras. The collector's normalizer and the in-app instrumentation both import from here,
so a key is spelled once.

- OTel GenAI: the OpenTelemetry GenAI semantic conventions, current (``gen_ai.input.messages``,
  ``gen_ai.provider.name``, ...) and the legacy names still emitted by deployed SDKs
  (``gen_ai.system``, ``gen_ai.usage.prompt_tokens``, span events ``gen_ai.content.*``, log events
  ``gen_ai.*.message`` / ``gen_ai.choice``).
- OpenInference (Arize Phoenix): flattened ``llm.input_messages.{i}.message.*`` keys.
- OpenLLMetry (Traceloop): flattened ``gen_ai.prompt.{i}.*`` / ``gen_ai.completion.{i}.*`` keys plus
  ``llm.*`` and ``traceloop.*`` extras.

This module ships inside the user's application: it must import nothing but the standard library
(it imports nothing at all).
"""

from __future__ import annotations

# --- spanlab's own attributes (set by spanlab's prompt context in the user's app) ---------------
SPANLAB_PROMPT_NAME = "spanlab.prompt.name"
SPANLAB_PROMPT_VERSION = "spanlab.prompt.version"
# A text template as-is, or a chat template (list of messages) as a JSON string or structured value.
SPANLAB_PROMPT_TEMPLATE = "spanlab.prompt.template"
# A JSON object string, or a structured (kvlist) value.
SPANLAB_PROMPT_VARIABLES = "spanlab.prompt.variables"
# What an exact replay needs beyond the GenAI conventions (set by spanlab's openai instrumentor):
# every request parameter as sent, OpenAI names, as a JSON object (no model, messages, tools or
# response_format: those have their own attributes)...
SPANLAB_REQUEST_INVOCATION_PARAMETERS = "spanlab.request.invocation_parameters"
# ...the complete response_format (a JSON schema included) as JSON...
SPANLAB_REQUEST_RESPONSE_FORMAT = "spanlab.request.response_format"
# ...and the client's full base URL (path included, credentials and query removed).
SPANLAB_REQUEST_BASE_URL = "spanlab.request.base_url"
# On the span of a replay's model call (project "replay"): the span it replays (also an OTel link).
SPANLAB_REPLAY_SOURCE_TRACE_ID = "spanlab.replay.source_trace_id"
SPANLAB_REPLAY_SOURCE_SPAN_ID = "spanlab.replay.source_span_id"

# --- generic OpenTelemetry attributes any convention may carry ---------------------------------
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
SESSION_ID = "session.id"  # also OpenInference's session attribute
USER_ID = "user.id"  # also OpenInference's user attribute
ENDUSER_ID = "enduser.id"
ERROR_TYPE = "error.type"
EVENT_NAME = "event.name"  # log-record attribute carrying the event name in older SDKs
HTTP_RESPONSE_STATUS_CODE = "http.response.status_code"
SERVICE_NAME = "service.name"  # resource attribute

# --- OTel GenAI: current conventions ------------------------------------------------------------
GEN_AI_PREFIX = "gen_ai."
GEN_AI_OPERATION_NAME = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
GEN_AI_RESPONSE_MODEL = "gen_ai.response.model"
GEN_AI_RESPONSE_ID = "gen_ai.response.id"
GEN_AI_RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
GEN_AI_CONVERSATION_ID = "gen_ai.conversation.id"
GEN_AI_INPUT_MESSAGES = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES = "gen_ai.output.messages"
GEN_AI_SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions"
GEN_AI_TOOL_DEFINITIONS = "gen_ai.tool.definitions"
GEN_AI_OUTPUT_TYPE = "gen_ai.output.type"
GEN_AI_REQUEST_TEMPERATURE = "gen_ai.request.temperature"
GEN_AI_REQUEST_TOP_P = "gen_ai.request.top_p"
GEN_AI_REQUEST_TOP_K = "gen_ai.request.top_k"
GEN_AI_REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_STOP_SEQUENCES = "gen_ai.request.stop_sequences"
GEN_AI_REQUEST_SEED = "gen_ai.request.seed"
GEN_AI_REQUEST_FREQUENCY_PENALTY = "gen_ai.request.frequency_penalty"
GEN_AI_REQUEST_PRESENCE_PENALTY = "gen_ai.request.presence_penalty"
GEN_AI_REQUEST_CHOICE_COUNT = "gen_ai.request.choice.count"
GEN_AI_REQUEST_STREAM = "gen_ai.request.stream"
GEN_AI_REQUEST_ENCODING_FORMATS = "gen_ai.request.encoding_formats"
GEN_AI_REQUEST_REASONING_LEVEL = "gen_ai.request.reasoning.level"
GEN_AI_EMBEDDINGS_DIMENSION_COUNT = "gen_ai.embeddings.dimension.count"
GEN_AI_USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_TOTAL_TOKENS = "gen_ai.usage.total_tokens"  # not in OTel; newer OpenLLMetry sets it
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK = "gen_ai.response.time_to_first_chunk"  # seconds, streams only
GEN_AI_PROMPT_NAME = "gen_ai.prompt.name"
GEN_AI_PROMPT_VERSION = "gen_ai.prompt.version"
GEN_AI_PROMPT_VARIABLE_PREFIX = "gen_ai.prompt.variable."
GEN_AI_TOOL_NAME = "gen_ai.tool.name"
GEN_AI_TOOL_CALL_ID = "gen_ai.tool.call.id"
GEN_AI_TOOL_CALL_ARGUMENTS = "gen_ai.tool.call.arguments"
GEN_AI_TOOL_CALL_RESULT = "gen_ai.tool.call.result"
GEN_AI_RETRIEVAL_QUERY_TEXT = "gen_ai.retrieval.query.text"
GEN_AI_RETRIEVAL_DOCUMENTS = "gen_ai.retrieval.documents"
GEN_AI_AGENT_NAME = "gen_ai.agent.name"
OPENAI_REQUEST_SERVICE_TIER = "openai.request.service_tier"
OPENAI_RESPONSE_SERVICE_TIER = "openai.response.service_tier"
OPENAI_RESPONSE_SYSTEM_FINGERPRINT = "openai.response.system_fingerprint"

# --- OTel GenAI: legacy names still emitted by deployed SDKs -----------------------------------
GEN_AI_SYSTEM = "gen_ai.system"
GEN_AI_USAGE_PROMPT_TOKENS = "gen_ai.usage.prompt_tokens"
GEN_AI_USAGE_COMPLETION_TOKENS = "gen_ai.usage.completion_tokens"
GEN_AI_OPENAI_REQUEST_RESPONSE_FORMAT = "gen_ai.openai.request.response_format"
GEN_AI_OPENAI_REQUEST_SEED = "gen_ai.openai.request.seed"
GEN_AI_OPENAI_REQUEST_SERVICE_TIER = "gen_ai.openai.request.service_tier"
GEN_AI_OPENAI_API_BASE = "gen_ai.openai.api_base"  # set by OpenLLMetry
# Span events (semconv <= 1.27): the prompt/completion as JSON in an event attribute.
GEN_AI_CONTENT_PROMPT_EVENT = "gen_ai.content.prompt"
GEN_AI_CONTENT_COMPLETION_EVENT = "gen_ai.content.completion"
GEN_AI_PROMPT = "gen_ai.prompt"
GEN_AI_COMPLETION = "gen_ai.completion"
# Event attribute some SDKs use to carry a log-event body on a span event.
GEN_AI_EVENT_CONTENT = "gen_ai.event.content"

# --- OTel GenAI log events ----------------------------------------------------------------------
GEN_AI_SYSTEM_MESSAGE_EVENT = "gen_ai.system.message"
GEN_AI_USER_MESSAGE_EVENT = "gen_ai.user.message"
GEN_AI_ASSISTANT_MESSAGE_EVENT = "gen_ai.assistant.message"
GEN_AI_TOOL_MESSAGE_EVENT = "gen_ai.tool.message"
GEN_AI_CHOICE_EVENT = "gen_ai.choice"
# Current convention: one event carrying the whole exchange as structured attributes.
GEN_AI_INFERENCE_DETAILS_EVENT = "gen_ai.client.inference.operation.details"

# --- OpenInference ------------------------------------------------------------------------------
OI_SPAN_KIND = "openinference.span.kind"
OI_PROJECT_NAME = "openinference.project.name"  # resource attribute: the project spanlab files spans under
OI_INPUT_VALUE = "input.value"
OI_INPUT_MIME_TYPE = "input.mime_type"
OI_OUTPUT_VALUE = "output.value"
OI_OUTPUT_MIME_TYPE = "output.mime_type"
OI_LLM_PROVIDER = "llm.provider"
OI_LLM_SYSTEM = "llm.system"
OI_LLM_MODEL_NAME = "llm.model_name"
OI_LLM_REQUEST_MODEL_NAME = "llm.request.model_name"
OI_LLM_RESPONSE_MODEL_NAME = "llm.response.model_name"
OI_LLM_INVOCATION_PARAMETERS = "llm.invocation_parameters"
OI_LLM_INPUT_MESSAGES = "llm.input_messages"
OI_LLM_OUTPUT_MESSAGES = "llm.output_messages"
OI_LLM_TOOLS = "llm.tools"
OI_LLM_PROMPTS = "llm.prompts"
OI_LLM_CHOICES = "llm.choices"
OI_LLM_FINISH_REASON = "llm.finish_reason"
OI_LLM_TOKEN_COUNT_PROMPT = "llm.token_count.prompt"
OI_LLM_TOKEN_COUNT_COMPLETION = "llm.token_count.completion"
OI_LLM_TOKEN_COUNT_TOTAL = "llm.token_count.total"
OI_LLM_COST_TOTAL = "llm.cost.total"
OI_LLM_COST_PROMPT = "llm.cost.prompt"
OI_LLM_COST_COMPLETION = "llm.cost.completion"
OI_LLM_PROMPT_TEMPLATE = "llm.prompt_template.template"
OI_LLM_PROMPT_TEMPLATE_VARIABLES = "llm.prompt_template.variables"
OI_LLM_PROMPT_TEMPLATE_VERSION = "llm.prompt_template.version"
OI_EMBEDDING_MODEL_NAME = "embedding.model_name"
OI_EMBEDDING_INVOCATION_PARAMETERS = "embedding.invocation_parameters"
OI_EMBEDDING_EMBEDDINGS = "embedding.embeddings"
OI_RETRIEVAL_DOCUMENTS = "retrieval.documents"
OI_METADATA = "metadata"
OI_TAG_TAGS = "tag.tags"
# Keys inside one flattened message / tool call / content part / tool / embedding / document.
OI_MESSAGE_ROLE = "message.role"
OI_MESSAGE_CONTENT = "message.content"
OI_MESSAGE_CONTENTS = "message.contents"
OI_MESSAGE_NAME = "message.name"
OI_MESSAGE_TOOL_CALL_ID = "message.tool_call_id"
OI_MESSAGE_TOOL_CALLS = "message.tool_calls"
OI_MESSAGE_FUNCTION_CALL_NAME = "message.function_call_name"
OI_MESSAGE_FUNCTION_CALL_ARGUMENTS = "message.function_call_arguments_json"
OI_TOOL_CALL_ID = "tool_call.id"
OI_TOOL_CALL_FUNCTION_NAME = "tool_call.function.name"
OI_TOOL_CALL_FUNCTION_ARGUMENTS = "tool_call.function.arguments"
OI_CONTENT_TYPE = "message_content.type"
OI_CONTENT_TEXT = "message_content.text"
OI_CONTENT_IMAGE_URL = "message_content.image.image.url"
OI_TOOL_JSON_SCHEMA = "tool.json_schema"
OI_TOOL_NAME = "tool.name"
OI_TOOL_DESCRIPTION = "tool.description"
OI_TOOL_PARAMETERS = "tool.parameters"
OI_PROMPT_TEXT = "prompt.text"
OI_COMPLETION_TEXT = "completion.text"
OI_EMBEDDING_TEXT = "embedding.text"
OI_DOCUMENT_CONTENT = "document.content"

# --- OpenLLMetry (Traceloop) --------------------------------------------------------------------
# Flattened messages: gen_ai.prompt.{i}.role|content|tool_call_id|tool_calls.{j}.id|name|arguments
# and gen_ai.completion.{i}.role|content|finish_reason|refusal|tool_calls.{j}.*.
OPENLLMETRY_PROMPT_PREFIX = "gen_ai.prompt."
OPENLLMETRY_COMPLETION_PREFIX = "gen_ai.completion."
OPENLLMETRY_REQUEST_TYPE = "llm.request.type"
OPENLLMETRY_REQUEST_FUNCTIONS = "llm.request.functions"
OPENLLMETRY_REQUEST_STRUCTURED_OUTPUT_SCHEMA = "llm.request.structured_output_schema"
OPENLLMETRY_REQUEST_REPETITION_PENALTY = "llm.request.repetition_penalty"
OPENLLMETRY_USAGE_TOTAL_TOKENS = "llm.usage.total_tokens"
OPENLLMETRY_USER = "llm.user"
OPENLLMETRY_HEADERS = "llm.headers"
OPENLLMETRY_TOP_K = "llm.top_k"
OPENLLMETRY_IS_STREAMING = "llm.is_streaming"
OPENLLMETRY_FREQUENCY_PENALTY = "llm.frequency_penalty"
OPENLLMETRY_PRESENCE_PENALTY = "llm.presence_penalty"
OPENLLMETRY_CHAT_STOP_SEQUENCES = "llm.chat.stop_sequences"
# Oldest OpenLLMetry releases used llm.* names for the basics.
OPENLLMETRY_LEGACY_REQUEST_MODEL = "llm.request.model"
OPENLLMETRY_LEGACY_RESPONSE_MODEL = "llm.response.model"
OPENLLMETRY_LEGACY_VENDOR = "llm.vendor"
OPENLLMETRY_LEGACY_PROMPT_TOKENS = "llm.usage.prompt_tokens"
OPENLLMETRY_LEGACY_COMPLETION_TOKENS = "llm.usage.completion_tokens"
TRACELOOP_PREFIX = "traceloop."
TRACELOOP_SPAN_KIND = "traceloop.span.kind"
TRACELOOP_WORKFLOW_NAME = "traceloop.workflow.name"
TRACELOOP_ENTITY_NAME = "traceloop.entity.name"
TRACELOOP_ENTITY_INPUT = "traceloop.entity.input"
TRACELOOP_ENTITY_OUTPUT = "traceloop.entity.output"
TRACELOOP_ASSOCIATION_PROPERTIES_PREFIX = "traceloop.association.properties."
TRACELOOP_PROMPT_KEY = "traceloop.prompt.key"
TRACELOOP_PROMPT_VERSION = "traceloop.prompt.version"
TRACELOOP_PROMPT_TEMPLATE = "traceloop.prompt.template"
TRACELOOP_PROMPT_TEMPLATE_VARIABLES_PREFIX = "traceloop.prompt.template_variables."
