"""JSONL and CSV import/export of dataset examples: the column mapping, round trips, and line-numbered errors."""

from __future__ import annotations

import pytest

from replay.datasets.files import export_csv, export_jsonl, parse_csv, parse_jsonl
from replay.datasets.models import Example
from replay.errors import InvalidInput

EXAMPLES = [
    Example(
        id="e1",
        input={"question": "lost my card, help", "lang": "en"},
        expected_output="lost_or_stolen_card",
        metadata={"source": "banking77"},
        source_span_id="ab" * 8,
        source_trace_id="cd" * 16,
    ),
    Example(id="e2", input={"question": 'quote " and\nnewline'}, expected_output={"label": "x", "score": 1}),
    Example(id="e3", input={"question": "no label yet", "n": 3}),
]


def test_jsonl_round_trip_keeps_types_and_links() -> None:
    text = export_jsonl(EXAMPLES)
    assert len(text.splitlines()) == 3 and text.endswith("\n")
    parsed = parse_jsonl(text)
    assert [p.model_dump() for p in parsed] == [
        {k: v for k, v in e.model_dump().items() if k not in ("id", "created_at", "updated_at")} for e in EXAMPLES
    ]


def test_csv_round_trip_as_text() -> None:
    text = export_csv(EXAMPLES)
    header = text.splitlines()[0]
    assert header == "id,input.question,input.lang,input.n,expected_output,metadata,source_span_id,source_trace_id"
    parsed = parse_csv(text)
    assert parsed[0].input == {"question": "lost my card, help", "lang": "en", "n": ""}
    assert parsed[0].expected_output == "lost_or_stolen_card" and parsed[0].metadata == {"source": "banking77"}
    assert (parsed[0].source_span_id, parsed[0].source_trace_id) == ("ab" * 8, "cd" * 16)
    assert parsed[1].input["question"] == 'quote " and\nnewline'
    assert parsed[1].expected_output == '{"label":"x","score":1}', "CSV carries text"
    assert parsed[2].expected_output is None and parsed[2].input["n"] == "3"


def test_csv_columns_by_default_and_by_choice() -> None:
    text = "text,label,team,note\nlost card,card_lost,ops,first\ntop up,top_up,ops,\n"
    parsed = parse_csv(text)
    assert parsed[0].input == {"text": "lost card", "label": "card_lost", "team": "ops", "note": "first"}
    chosen = parse_csv(text, input_columns=["text"], expected_column="label", metadata_columns=["team", "note"])
    assert [(p.input, p.expected_output, p.metadata) for p in chosen] == [
        ({"text": "lost card"}, "card_lost", {"team": "ops", "note": "first"}),
        ({"text": "top up"}, "top_up", {"team": "ops", "note": ""}),
    ]
    rest = parse_csv(text, expected_column="label", metadata_columns=["team"])
    assert rest[0].input == {"text": "lost card", "note": "first"}


def test_blank_lines_are_skipped() -> None:
    assert len(parse_jsonl('\n{"input": {"a": 1}}\n\n   \n{"input": {"a": 2}}\n')) == 2
    assert parse_csv("a,b\n\n1,2\n,\n")[0].input == {"a": "1", "b": "2"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"input": {"a": 1}}\n{"input": {"a": 2}\n', "data.jsonl, line 2: not valid JSON"),
        ('{"input": {"a": 1}}\n[1, 2]\n', "data.jsonl, line 2: expected a JSON object, found list"),
        ('{"input": {"a": 1}}\n\n{"expected_output": "x"}\n', "data.jsonl, line 3: input: Field required"),
        ('{"input": "text"}\n', "data.jsonl, line 1: input: Input should be a valid dictionary"),
        ('{"input": {}, "colour": "red"}\n', "data.jsonl, line 1: colour: Extra inputs are not permitted"),
        ('{"input": {}, "source_span_id": "nope"}\n', "data.jsonl, line 1: source_span_id: String should match"),
        ("\n\n", "data.jsonl holds no examples"),
    ],
)
def test_jsonl_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_jsonl(text, source="data.jsonl")


@pytest.mark.parametrize(
    ("text", "options", "message"),
    [
        ("", {}, "data.csv has no header row"),
        ("a,b\n1,2\n3\n", {}, "data.csv, line 3: expected 2 cells as in the header, found 1"),
        ('a,b\n1,"2\n', {}, "data.csv, line 2: not valid CSV"),
        ("a,a\n1,2\n", {}, "the header repeats column\\(s\\) a"),
        ("a,b\n1,2\n", {"expected_column": "label"}, "no column\\(s\\) 'label' in the header"),
        ("a,b\n1,2\n", {"input_columns": ["c"]}, "no column\\(s\\) 'c'"),
        ("label\nx\n", {"expected_column": "label"}, "no input columns"),
        ("a,metadata\n1,[1]\n", {}, "data.csv, line 2: the metadata cell must hold a JSON object"),
        ("a,source_span_id\n1,zz\n", {}, "data.csv, line 2: source_span_id: String should match"),
        ("a,b\n", {}, "data.csv holds no examples"),
    ],
)
def test_csv_errors_name_the_line(text: str, options: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_csv(text, source="data.csv", **options)  # type: ignore[arg-type]
