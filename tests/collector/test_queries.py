"""The query layer on a real DuckDB store: trace/span listings, filters, cursors, trees, annotations, SQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest
from pydantic import ValidationError

from collector.annotations import AnnotationInput, add_annotation, list_annotations
from collector.errors import InvalidQuery, NotFound
from collector.queries.filters import AmbiguousSpan, SpanFilters, SpanListFilters, encode_cursor
from collector.queries.projects import list_projects
from collector.queries.spans import get_span, list_spans
from collector.queries.sql import QueryTimeout, SqlLimits, json_value, run_sql
from collector.queries.traces import SpanNode, build_tree, get_trace, list_traces
from collector.store.database import Store
from collector.store.schema import SPAN_COLUMNS

T0 = datetime(2025, 3, 1, 12, 0, 0)
_ARROW = {
    "VARCHAR": pa.string(),
    "JSON": pa.string(),
    "TIMESTAMP": pa.timestamp("us"),
    "BIGINT": pa.int64(),
    "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(),
}
_JSON = {name for name, kind in SPAN_COLUMNS.items() if kind.startswith("JSON")}


def tid(n: int) -> str:
    return f"{n:032x}"


def sid(n: int) -> str:
    return f"{n:016x}"


def span_row(trace: int, span: int, *, parent: int | None = None, seconds: float = 0, **fields: Any) -> dict[str, Any]:
    """A full ``spans`` row (every column of SPAN_COLUMNS) with sensible defaults; ``fields`` override."""
    start = T0 + timedelta(seconds=seconds)
    latency = fields.pop("latency_ms", 100.0)
    row: dict[str, Any] = dict.fromkeys(SPAN_COLUMNS)
    row.update(
        trace_id=tid(trace),
        span_id=sid(span),
        parent_span_id=None if parent is None else sid(parent),
        project="demo",
        name=f"span-{span}",
        kind="CHAIN",
        start_time=start,
        end_time=start + timedelta(milliseconds=latency),
        latency_ms=latency,
        status_code="OK",
        source_convention="openinference",
        otel_kind="INTERNAL",
        legacy_events=False,
        ingested_at=start,
    )
    row.update(fields)
    if row["search_text"] is None:
        texts = (row["name"], row["input_value"], row["output_value"])
        row["search_text"] = "\n".join(str(v) for v in texts if v).lower()
    return row


def insert_spans(store: Store, rows: list[dict[str, Any]]) -> None:
    """Bulk-insert rows through the store's writer, as ingest does (a registered Arrow table)."""
    arrays = []
    for name, kind in SPAN_COLUMNS.items():
        values = [r[name] for r in rows]
        if name in _JSON:
            values = [None if v is None else orjson.dumps(v).decode() for v in values]
        arrays.append(pa.array(values, type=_ARROW[kind.split()[0]]))
    table = pa.Table.from_arrays(arrays, names=list(SPAN_COLUMNS))

    def insert(con: Any) -> None:
        con.register("_test_spans", table)
        con.execute("INSERT INTO spans BY NAME SELECT * FROM _test_spans")
        con.unregister("_test_spans")

    store.write(insert).result(timeout=30)


def llm(trace: int, span: int, parent: int | None, seconds: float, **fields: Any) -> dict[str, Any]:
    defaults = dict(
        kind="LLM",
        provider="openai",
        model="gpt-4o-mini",
        input_tokens=10,
        output_tokens=5,
        total_tokens=15,
        cost=0.001,
        input_messages=[{"role": "user", "content": "hi"}],
        output_messages=[{"role": "assistant", "content": "hello"}],
    )
    return span_row(trace, span, parent=parent, seconds=seconds, **{**defaults, **fields})


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(tmp_path / "q.duckdb")
    yield store
    store.close()


@pytest.fixture
def seeded(store: Store) -> Store:
    """Five traces in two projects, newest = trace 5.

    1: chain root + LLM child (gpt-4o-mini), OK.
    2: root + LLM (gpt-4o, prompt 'router' v2) + ERROR tool.
    3: single LLM root in project 'other', 2000 ms.
    4: root whose child's parent is missing (orphan).
    5: root + two LLM children with "Refund" text, 500 tokens.
    """
    rows = [
        span_row(1, 10, seconds=0, input_value="what is my balance?", output_value="it is 10"),
        llm(1, 11, 10, 0.01),
        span_row(2, 20, seconds=10, input_value="route me"),
        llm(2, 21, 20, 10.01, model="gpt-4o", prompt_name="router", prompt_version="2"),
        span_row(2, 22, parent=20, seconds=10.02, kind="TOOL", status_code="ERROR", status_message="boom"),
        llm(3, 30, None, 20, project="other", latency_ms=2000.0, provider="local", model="smollm2-135m"),
        span_row(4, 40, seconds=30),
        span_row(4, 41, parent=99, seconds=30.5, name="orphan"),
        span_row(5, 50, seconds=40, input_value="please refund me", output_value="ok"),
        llm(5, 51, 50, 40.01, total_tokens=250, input_value="Refund request"),
        llm(5, 52, 50, 40.02, total_tokens=250),
    ]
    insert_spans(store, rows)
    return store


def ids(page: Any) -> list[str]:
    return [row.trace_id[-1] if hasattr(row, "root_span_id") else row.span_id for row in page.data]


# -- traces -------------------------------------------------------------------------------------------------
def test_list_traces_newest_first_with_aggregates(seeded: Store) -> None:
    page = list_traces(seeded, SpanFilters())
    assert ids(page) == ["5", "4", "3", "2", "1"]
    assert page.next_cursor is None
    two = page.data[3]
    assert (two.span_count, two.llm_span_count, two.error_count, two.status_code) == (3, 1, 1, "ERROR")
    assert two.models == ["gpt-4o"] and two.total_tokens == 15 and two.cost == pytest.approx(0.001)
    assert two.start_time == datetime(2025, 3, 1, 12, 0, 10, tzinfo=UTC)
    one = page.data[4]
    assert (one.name, one.input_preview, one.output_preview, one.status_code) == (
        "span-10",
        "what is my balance?",
        "it is 10",
        "OK",
    )
    assert page.data[0].total_tokens == 500


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"project": "other"}, ["3"]),
        ({"status": "ERROR"}, ["2"]),
        ({"status": "OK"}, ["5", "4", "3", "1"]),
        ({"status": "UNSET"}, []),
        ({"model": "gpt-4o"}, ["2"]),
        ({"provider": "local"}, ["3"]),
        ({"prompt_name": "router", "prompt_version": "2"}, ["2"]),
        ({"prompt_version": "3"}, []),
        ({"min_latency_ms": 1000}, ["3"]),
        ({"min_tokens": 100}, ["5"]),
        ({"q": "REFUND"}, ["5"]),
        ({"q": "balance"}, ["1"]),
        ({"q": "%"}, []),
        ({"start": T0 + timedelta(seconds=10), "end": T0 + timedelta(seconds=30)}, ["3", "2"]),
        ({"start": "2025-03-01T13:00:30+01:00"}, ["5", "4"]),
    ],
)
def test_trace_filters(seeded: Store, filters: dict[str, Any], expected: list[str]) -> None:
    assert ids(list_traces(seeded, SpanFilters(**filters))) == expected


def test_trace_cursor_pages_through_everything_once(seeded: Store) -> None:
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        page = list_traces(seeded, SpanFilters(), limit=2, cursor=cursor)
        seen += ids(page)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == ["5", "4", "3", "2", "1"]


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "not-a-cursor",
        "!!!!",
        encode_cursor("span", T0, tid(1), sid(1)),
        encode_cursor("trace", T0, "zz"),
        "WyJ0cmFjZSIsIm5vdC1hLWRhdGUiLCIwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMSJd",
        "x" * 900,
    ],
)
def test_bad_trace_cursor_is_invalid_query(seeded: Store, cursor: str) -> None:
    with pytest.raises(InvalidQuery, match="cursor is not valid"):
        list_traces(seeded, SpanFilters(), cursor=cursor)


def test_get_trace_builds_the_tree(seeded: Store) -> None:
    trace = get_trace(seeded, tid(2).upper())
    assert [n.span_id for n in trace.spans] == [sid(20)]
    assert [c.span_id for c in trace.spans[0].children] == [sid(21), sid(22)]
    assert trace.status_code == "ERROR" and trace.span_count == 3 and not trace.truncated
    orphaned = get_trace(seeded, tid(4))
    assert [n.name for n in orphaned.spans] == ["span-40", "orphan"]


def test_get_trace_errors(seeded: Store) -> None:
    with pytest.raises(NotFound):
        get_trace(seeded, tid(77))
    for bad in ("123", "g" * 32, tid(1) + "0", ""):
        with pytest.raises(InvalidQuery, match="32 hexadecimal"):
            get_trace(seeded, bad)


def test_trace_without_root_is_fetchable_but_not_listed(store: Store) -> None:
    insert_spans(store, [span_row(8, 80, parent=1, seconds=1), span_row(8, 81, parent=80, seconds=2)])
    assert list_traces(store, SpanFilters()).data == []
    trace = get_trace(store, tid(8))
    assert trace.root_span_id == sid(80)
    assert [n.span_id for n in trace.spans] == [sid(80)] and trace.spans[0].children[0].span_id == sid(81)


def test_listing_aggregates_spans_near_the_roots_and_get_trace_all_of_them(store: Store) -> None:
    insert_spans(
        store,
        [
            span_row(9, 90, seconds=60, latency_ms=1000.0),
            span_row(9, 91, parent=90, seconds=30, status_code="ERROR"),  # 30 s before its root: clock skew
            span_row(9, 92, parent=90, seconds=60 + 2 * 3600),  # started two hours after its root ended
        ],
    )
    listed = list_traces(store, SpanFilters()).data
    assert [(t.trace_id, t.span_count, t.error_count, t.status_code) for t in listed] == [(tid(9), 2, 1, "ERROR")]
    assert get_trace(store, tid(9)).span_count == 3


def test_text_search_looks_in_the_newest_part_first_and_then_in_the_rest(store: Store) -> None:
    """160 traces a minute apart, so the first pass covers the newest 10 of them. "needle" is in the child
    of every 7th trace; pages of 3 must come newest first, each trace once, across both passes and with
    cursors, exactly as a plain scan would list them."""
    rows = []
    for n in range(1, 161):
        rows.append(span_row(n, n * 10, seconds=60 * n))
        text = f"a needle in trace {n}" if n % 7 == 0 else f"hay {n}"
        rows.append(llm(n, n * 10 + 1, n * 10, 60 * n + 1, input_value=text))
    insert_spans(store, rows)
    expected = [n for n in range(160, 0, -1) if n % 7 == 0]
    seen: list[int] = []
    cursor = None
    while True:
        page = list_traces(store, SpanFilters(q="NEEDLE"), limit=3, cursor=cursor)
        seen += [int(row.trace_id, 16) for row in page.data]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == expected
    one_page = list_traces(store, SpanFilters(q="needle"), limit=50).data
    assert [int(row.trace_id, 16) for row in one_page] == expected, "a page filled from both passes"
    late = list_traces(store, SpanFilters(q="needle", end=T0 + timedelta(minutes=50)), limit=2).data
    assert [int(row.trace_id, 16) for row in late] == [49, 42], "the window follows the end filter"
    assert list_traces(store, SpanFilters(q="absent")).data == []


def test_build_tree_keeps_spans_on_a_parent_cycle(store: Store) -> None:
    insert_spans(
        store,
        [
            span_row(9, 1, parent=2, seconds=1),
            span_row(9, 2, parent=1, seconds=2),
            span_row(9, 3, parent=3, seconds=3),
        ],
    )
    trace = get_trace(store, tid(9))
    flat: list[SpanNode] = []
    stack = list(trace.spans)
    while stack:
        node = stack.pop()
        flat.append(node)
        stack.extend(node.children)
    assert sorted(n.span_id for n in flat) == [sid(1), sid(2), sid(3)]
    assert build_tree([]) == []


# -- spans --------------------------------------------------------------------------------------------------
def test_list_spans_filters_and_cursor(seeded: Store) -> None:
    llm_spans = list_spans(seeded, SpanListFilters(kind="LLM"))
    assert [s.span_id for s in llm_spans.data] == [sid(52), sid(51), sid(30), sid(21), sid(11)]
    assert ids(list_spans(seeded, SpanListFilters(trace_id=tid(2), status="ERROR"))) == [sid(22)]
    assert ids(list_spans(seeded, SpanListFilters(span_ids=[f"{sid(10)},{sid(40)}"]))) == [sid(40), sid(10)]
    assert ids(list_spans(seeded, SpanListFilters(min_tokens=200))) == [sid(52), sid(51)]
    assert ids(list_spans(seeded, SpanListFilters(q="refund", kind="LLM"))) == [sid(51)]
    first = list_spans(seeded, SpanListFilters(), limit=4)
    rest = list_spans(seeded, SpanListFilters(), limit=100, cursor=first.next_cursor)
    assert len(first.data) == 4 and len(rest.data) == 7 and rest.next_cursor is None
    assert not {s.span_id for s in first.data} & {s.span_id for s in rest.data}
    with pytest.raises(InvalidQuery, match="cursor"):
        list_spans(seeded, SpanListFilters(), cursor=encode_cursor("trace", T0, tid(1)))


def test_span_filter_validation() -> None:
    for bad in (
        {"trace_id": "xyz"},
        {"span_ids": ["123"]},
        {"span_ids": [sid(1)] * 501},
        {"kind": ""},
        {"q": "x" * 1001},
        {"q": ""},
        {"status": "FAILED"},
        {"min_latency_ms": -1},
        {"start": "yesterday"},
        {"start": T0, "end": T0},
        {"min_score": 2, "max_score": 1},
        {"min_score": float("nan")},
        {"limit": 5},
    ):
        with pytest.raises(ValidationError):
            SpanListFilters(**bad)


def test_get_span_detail_with_logs_and_annotations(seeded: Store) -> None:
    seeded.write(
        lambda con: con.execute(
            "INSERT INTO logs VALUES ('l1', ?, ?, 'demo', ?, 'gen_ai.user.message', 'INFO', "
            "'{\"content\": \"hi\"}', '{}', '{}', ?)",
            [tid(1), sid(11), T0, T0],
        )
    ).result()
    detail = get_span(seeded, sid(11))
    assert detail.input_messages == [{"role": "user", "content": "hi"}]
    assert detail.kind == "LLM" and detail.total_tokens == 15 and detail.source_convention == "openinference"
    assert [log.event_name for log in detail.logs] == ["gen_ai.user.message"] and detail.logs[0].body == {
        "content": "hi"
    }
    assert detail.ingested_at.tzinfo is not None


def test_get_span_errors_and_ambiguity(seeded: Store) -> None:
    insert_spans(seeded, [span_row(6, 10, seconds=50)])  # span id 10 now in traces 1 and 6
    with pytest.raises(AmbiguousSpan, match="trace_id"):
        get_span(seeded, sid(10))
    assert get_span(seeded, sid(10), trace_id=tid(6)).trace_id == tid(6)
    with pytest.raises(NotFound):
        get_span(seeded, sid(10), trace_id=tid(3))
    with pytest.raises(NotFound):
        get_span(seeded, sid(12345))
    for bad in ("abc", "z" * 16, sid(1) + "0"):
        with pytest.raises(InvalidQuery, match="16 hexadecimal"):
            get_span(seeded, bad)
    with pytest.raises(InvalidQuery, match="32 hexadecimal"):
        get_span(seeded, sid(10), trace_id="nope")


# -- annotations --------------------------------------------------------------------------------------------
def test_annotations_show_in_reads_and_filter(seeded: Store) -> None:
    first = add_annotation(seeded, sid(21), AnnotationInput(name="correct", score=0.0, label="wrong_intent"))
    add_annotation(seeded, sid(21), AnnotationInput(name="correct", score=1.0, annotator_kind="LLM"))
    add_annotation(seeded, sid(51), AnnotationInput(name="tone", explanation="polite", metadata={"by": "me"}))
    assert first.trace_id == tid(2) and first.annotator_kind == "HUMAN" and len(first.id) == 36
    assert [a.score for a in list_annotations(seeded, sid(21))] == [0.0, 1.0]
    summary = list_traces(seeded, SpanFilters(model="gpt-4o")).data[0].annotations
    assert [(s.name, s.count, s.mean_score, s.labels) for s in summary] == [("correct", 2, 0.5, ["wrong_intent"])]
    tree = get_trace(seeded, tid(2))
    assert len(tree.spans[0].children[0].annotations) == 2
    assert get_span(seeded, sid(51)).annotations[0].metadata == {"by": "me"}
    assert ids(list_traces(seeded, SpanFilters(has_annotation=True))) == ["5", "2"]
    assert ids(list_traces(seeded, SpanFilters(has_annotation=False))) == ["4", "3", "1"]
    assert ids(list_traces(seeded, SpanFilters(annotation_name="tone"))) == ["5"]
    assert ids(list_traces(seeded, SpanFilters(min_score=0.5))) == ["2"]
    assert ids(list_traces(seeded, SpanFilters(max_score=-1))) == []
    assert ids(list_spans(seeded, SpanListFilters(has_annotation=True))) == [sid(51), sid(21)]
    unjudged = SpanListFilters(annotation_name="correct", has_annotation=False, kind="LLM")
    assert ids(list_spans(seeded, unjudged)) == [sid(52), sid(51), sid(30), sid(11)]


def test_annotation_input_validation() -> None:
    for bad in (
        {"name": "x"},
        {"name": "", "score": 1},
        {"name": "x" * 201, "score": 1},
        {"name": "x", "explanation": "e" * 10_001},
        {"name": "x", "score": float("inf")},
        {"name": "x", "score": 1, "annotator_kind": "ROBOT"},
        {"name": "x", "score": 1, "metadata": {"a": "b" * 70_000}},
        {"name": "x", "score": 1, "surprise": True},
    ):
        with pytest.raises(ValidationError):
            AnnotationInput(**bad)


def test_annotation_on_unknown_or_malformed_span(seeded: Store) -> None:
    with pytest.raises(NotFound):
        add_annotation(seeded, sid(4242), AnnotationInput(name="x", score=1))
    with pytest.raises(InvalidQuery):
        add_annotation(seeded, "nope", AnnotationInput(name="x", score=1))
    assert seeded.read(lambda con: con.execute("SELECT count(*) FROM annotations").fetchone()) == (0,)


# -- projects -----------------------------------------------------------------------------------------------
def test_projects(seeded: Store) -> None:
    projects = {p.name: p for p in list_projects(seeded)}
    demo = projects["demo"]
    assert (demo.span_count, demo.trace_count, demo.llm_span_count, demo.error_count) == (10, 4, 4, 1)
    assert demo.total_tokens == 15 + 15 + 500 and projects["other"].trace_count == 1
    assert [p.name for p in list_projects(seeded)] == ["demo", "other"]


# -- SQL ----------------------------------------------------------------------------------------------------
def test_sql_select_with_types(seeded: Store) -> None:
    result = run_sql(seeded, "SELECT kind, count(*) AS n FROM spans GROUP BY kind ORDER BY kind")
    assert result.columns == ["kind", "n"] and result.types == ["VARCHAR", "BIGINT"]
    assert result.rows == [["CHAIN", 5], ["LLM", 5], ["TOOL", 1]] and not result.truncated
    values = run_sql(
        seeded,
        "SELECT input_messages, start_time, 1.50::DECIMAL(5,2) AS d, '\\xAA'::BLOB AS b, [1, 2] AS l, "
        "{'k': 'v'} AS s, 'nan'::DOUBLE AS n, now() AS tz, MAP {'a': 1} AS m, INTERVAL 1 DAY AS i, NULL AS z "
        f"FROM spans WHERE span_id = '{sid(11)}'",
    )
    assert values.rows == [
        [
            [{"role": "user", "content": "hi"}],
            "2025-03-01T12:00:00.010000",
            1.5,
            "qg==",
            [1, 2],
            {"k": "v"},
            "NaN",
            values.rows[0][7],
            {"a": 1},
            "P0M1DT0S",
            None,
        ]
    ]
    assert values.rows[0][7].endswith("+00:00")


def test_sql_accepts_read_only_forms(seeded: Store) -> None:
    for sql in (
        "FROM spans LIMIT 1",
        "WITH t AS (SELECT 1 AS x) SELECT * FROM t",
        "SHOW TABLES",
        "DESCRIBE spans",
        "SUMMARIZE SELECT latency_ms FROM spans",
        "EXPLAIN SELECT * FROM spans",
        "EXPLAIN ANALYZE SELECT count(*) FROM spans",
        "SELECT * FROM range(3)",
        "VALUES (1), (2);",
        "select count(*) from information_schema.tables",
        "SELECT 1 -- trailing comment",
    ):
        assert run_sql(seeded, sql).row_count >= 1, sql


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("DELETE FROM spans", "writes are not allowed"),
        ("INSERT INTO annotations SELECT * FROM annotations", "writes are not allowed"),
        ("UPDATE spans SET name = 'x'", "writes are not allowed"),
        ("DROP TABLE spans", "writes are not allowed"),
        ("CREATE TABLE x AS SELECT 1", "writes are not allowed"),
        ("COPY spans TO 'x.csv'", "got COPY"),
        ("ATTACH 'other.duckdb' AS o", "got ATTACH"),
        ("INSTALL httpfs", "got LOAD"),
        ("LOAD httpfs", "got LOAD"),
        ("SET threads = 1", "got SET"),
        ("PRAGMA version", "got PRAGMA"),
        ("CALL pragma_version()", "got CALL"),
        ("EXPLAIN ANALYZE DELETE FROM spans", "got EXPLAIN DELETE"),
        ("SELECT 1; DELETE FROM spans", "exactly one statement"),
        ("SELECT 1; SELECT 2", "exactly one statement"),
        ("SELECT * FROM read_csv('/etc/passwd')", "read_csv() reaches files"),
        ("SELECT * FROM read_parquet('x.parquet')", "read_parquet() reaches files"),
        ("SELECT * FROM read_json_auto('x.json')", "read_json_auto() reaches files"),
        ("SELECT * FROM glob('/*')", "glob() reaches files"),
        ("SELECT content FROM read_text('/etc/hostname')", "read_text() reaches files"),
        ("SELECT * FROM \"read_csv\"('/etc/passwd')", "read_csv() reaches files"),
        ("SELECT (SELECT count(*) FROM read_blob('/etc/hostname'))", "read_blob() reaches files"),
        ("SELECT * FROM query('DELETE FROM spans')", "query() reaches files"),
        ("SELECT * FROM duckdb_secrets()", "duckdb_secrets() is not allowed"),
        ("SELECT * FROM '/etc/passwd'", "no table or view named '/etc/passwd'"),
        ("SELECT * FROM 'data.csv'", "no table or view named"),
        ("SELECT * FROM nope", "no table or view named 'nope'"),
        ("SELECT * FROM (WITH \"/etc/hosts\" AS (SELECT 1) SELECT 1), '/etc/hosts'", "no table or view"),
        ('WITH "x.csv" AS (SELECT 1 AS z) SELECT * FROM "x.csv"', "no table or view named"),
        ("SELEC 1", "does not parse"),
        ("   ", "empty"),
        ("SELECT no_such_column FROM spans", "no_such_column"),
    ],
)
def test_sql_refusals(seeded: Store, sql: str, message: str) -> None:
    with pytest.raises(InvalidQuery, match=re.escape(message)):
        run_sql(seeded, sql)
    assert seeded.read(lambda con: con.execute("SELECT count(*) FROM spans").fetchone()) == (11,)


def test_sql_row_cap_and_timeout(seeded: Store) -> None:
    capped = run_sql(seeded, "SELECT * FROM range(100000)", limits=SqlLimits(max_rows=10))
    assert capped.row_count == 10 and capped.truncated and capped.rows[-1] == [9]
    exact = run_sql(seeded, "SELECT * FROM range(10)", limits=SqlLimits(max_rows=10))
    assert exact.row_count == 10 and not exact.truncated
    with pytest.raises(QueryTimeout, match=r"longer than 0\.2 s"):
        run_sql(seeded, "SELECT count(*) FROM range(1000000000000) a", limits=SqlLimits(timeout_seconds=0.2))
    assert run_sql(seeded, "SELECT 42").rows == [[42]]


def test_json_value_edge_cases() -> None:
    assert json_value(float("inf")) == "Infinity" and json_value(float("-inf")) == "-Infinity"
    assert json_value(10**30) == 10**30 and json_value((1, b"\x00")) == [1, "AA=="]
    assert json_value(timedelta(seconds=90)) == "PT90S" and json_value(object()).startswith("<object")
