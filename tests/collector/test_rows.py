"""Building the Arrow tables of a group of exports (worker side), and handing them back through the spool."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector.ingest.handoff import build_spooled, clear_spool
from collector.ingest.otlp import ExportKind
from collector.ingest.rows import build_batch, search_text
from collector.normalize import CanonicalFields
from collector.store.schema import SPAN_COLUMNS
from tests.otlp_helpers import encode, llm_spans


def _request(project: str, count: int, *, content: str = "hello") -> bytes:
    return encode(llm_spans(project, count, content=content))


def test_every_span_column_is_built_with_its_values() -> None:
    batch = build_batch([(ExportKind.TRACES, _request("rows", 3))])
    table = batch.spans
    assert set(table.column_names) == set(SPAN_COLUMNS)
    rows = sorted(table.to_pylist(), key=lambda row: row["input_tokens"])
    first = rows[0]
    assert (first["project"], first["model"], first["kind"], first["source_convention"]) == (
        "rows",
        "gpt-4o",
        "LLM",
        "otel_genai",
    )
    assert json.loads(first["input_messages"]) == [{"role": "user", "content": "hello 0"}]
    assert json.loads(first["attributes"])["gen_ai.usage.input_tokens"] == 10
    assert json.loads(first["resource"])["service.name"] == "rows"
    assert first["events"] is None and first["prompt_variables"] is None
    assert first["search_text"] == "chat gpt-4o #0\nhello 0\nreply 0"


def test_a_span_sent_twice_in_one_group_is_built_once_the_last_copy_winning() -> None:
    older = ExportTraceServiceRequest.FromString(_request("dup", 2, content="old"))
    newer = ExportTraceServiceRequest.FromString(_request("dup", 1, content="new"))
    newer.resource_spans[0].scope_spans[0].spans[0].trace_id = older.resource_spans[0].scope_spans[0].spans[0].trace_id
    newer.resource_spans[0].scope_spans[0].spans[0].span_id = older.resource_spans[0].scope_spans[0].spans[0].span_id
    batch = build_batch(
        [(ExportKind.TRACES, older.SerializeToString()), (ExportKind.TRACES, newer.SerializeToString())]
    )
    assert batch.spans.num_rows == 2
    assert sorted(json.loads(m)[0]["content"] for m in batch.spans.column("input_messages").to_pylist()) == [
        "new 0",
        "old 1",
    ]


def test_a_token_count_past_64_bits_is_dropped_without_failing_the_group() -> None:
    request = ExportTraceServiceRequest.FromString(_request("big", 2))
    span = request.resource_spans[0].scope_spans[0].spans[0]
    kv = next(kv for kv in span.attributes if kv.key == "gen_ai.usage.input_tokens")
    kv.value.string_value = "123456789012345678901234567890"
    batch = build_batch([(ExportKind.TRACES, request.SerializeToString())])
    assert sorted(batch.spans.column("input_tokens").to_pylist(), key=str) == [11, None]


def test_search_text_leaves_out_system_prompts() -> None:
    fields = CanonicalFields(
        input_messages=[
            {"role": "system", "content": "You are a Helpful bank assistant"},
            {"role": "developer", "content": "Never mention fees"},
            {"role": "user", "content": "Where is my CARD?"},
        ],
        output_messages=[{"role": "assistant", "content": "On its way"}],
    )
    assert search_text(fields, "chat") == "chat\nwhere is my card?\non its way"


def test_spooled_batch_loads_the_same_tables_and_leaves_no_file(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    clear_spool(spool)
    records = [(int(ExportKind.TRACES), _request("spool", 4))]
    spooled = build_spooled(records, str(spool))
    assert Path(spooled.path).exists()
    loaded = spooled.load()
    assert list(spool.iterdir()) == []
    expected = build_batch(records)
    for name in ("spans", "logs"):
        got, want = getattr(loaded, name), getattr(expected, name)
        assert got.drop_columns(["ingested_at"]).equals(want.drop_columns(["ingested_at"])), name


def test_clear_spool_removes_what_a_crashed_run_left(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    clear_spool(spool)
    build_spooled([(int(ExportKind.TRACES), _request("left", 1))], str(spool))
    assert len(list(spool.iterdir())) == 1
    clear_spool(spool)
    assert list(spool.iterdir()) == []


def test_a_discarded_batch_removes_its_file(tmp_path: Path) -> None:
    spooled = build_spooled([(int(ExportKind.TRACES), _request("gone", 1))], str(tmp_path))
    spooled.discard()
    spooled.discard()  # twice is fine
    with pytest.raises(FileNotFoundError):
        spooled.load()
