"""``replay.datasets.store.DatasetStore`` on a real store: every change a version, old versions readable."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from collector.store.database import Store
from replay.datasets.models import DatasetInput, ExampleInput, ExampleUpdate
from replay.datasets.store import DatasetStore
from replay.errors import Conflict, InvalidInput, NotFound

SPAN, TRACE = "ab" * 8, "cd" * 16


@pytest.fixture
def datasets(tmp_path: Path) -> Iterator[DatasetStore]:
    store = Store(tmp_path / "datasets.duckdb")
    yield DatasetStore(store)
    store.close()


def questions(*texts: str) -> list[ExampleInput]:
    return [ExampleInput(input={"question": text}) for text in texts]


def inputs(datasets: DatasetStore, version: int | None = None) -> list[str]:
    return [e.input["question"] for e in datasets.get_examples("intents", version=version)]


def test_every_change_is_a_version_and_old_versions_stay_readable(datasets: DatasetStore) -> None:
    made = datasets.create(DatasetInput(name="intents", description="banking77 subset"))
    assert (made.version, made.example_count) == (0, 0)
    added = datasets.add_examples("intents", questions("lost card", "card declined"))
    assert added.version == 1 and [e.input for e in added.examples] == [
        {"question": "lost card"},
        {"question": "card declined"},
    ]
    first = added.examples[0]
    edited = datasets.update_example("intents", first.id, ExampleUpdate(expected_output="lost_or_stolen_card"))
    assert edited.id == first.id and edited.expected_output == "lost_or_stolen_card"
    assert (
        edited.created_at == first.created_at
        and edited.updated_at is not None
        and first.created_at is not None
        and edited.updated_at >= first.created_at
    )
    datasets.delete_example("intents", added.examples[1].id)
    datasets.add_examples("intents", questions("top up failed"))

    assert inputs(datasets, 0) == []
    assert inputs(datasets, 1) == ["lost card", "card declined"]
    assert datasets.get_example("intents", first.id, version=1).expected_output is None
    assert datasets.get_example("intents", first.id, version=2).expected_output == "lost_or_stolen_card"
    assert inputs(datasets, 3) == ["lost card"]
    assert inputs(datasets) == inputs(datasets, 4) == ["lost card", "top up failed"]
    history = datasets.versions("intents")
    assert [(v.version, v.example_count) for v in history] == [(4, 2), (3, 1), (2, 2), (1, 2)]
    assert [v.note for v in history] == [
        "added 1 example",
        f"deleted example {added.examples[1].id}",
        f"edited example {first.id}",
        "added 2 examples",
    ]
    listed = datasets.list_datasets()[0]
    assert (listed.name, listed.version, listed.example_count, listed.description) == (
        "intents",
        4,
        2,
        "banking77 subset",
    )


def test_an_edit_changes_only_the_fields_given_and_a_no_op_makes_no_version(datasets: DatasetStore) -> None:
    datasets.create(DatasetInput(name="intents"))
    example = datasets.add_examples(
        "intents", [ExampleInput(input={"question": "q"}, expected_output={"label": "a"}, metadata={"k": 1})]
    ).examples[0]
    same = datasets.update_example("intents", example.id, ExampleUpdate(expected_output={"label": "a"}))
    assert same == example and datasets.get_dataset("intents").version == 1
    datasets.update_example("intents", example.id, ExampleUpdate(metadata={"k": 2}))
    cleared = datasets.update_example("intents", example.id, ExampleUpdate.model_validate({"expected_output": None}))
    assert cleared.expected_output is None and cleared.metadata == {"k": 2} and cleared.input == {"question": "q"}
    assert datasets.get_dataset("intents").version == 3


def test_promoted_sources_are_not_added_twice(datasets: DatasetStore) -> None:
    linked = ExampleInput(input={"question": "q"}, source_span_id=SPAN.upper(), source_trace_id=TRACE)
    first = datasets.add_examples("intents", [linked, linked], create=True, skip_known_spans=True)
    assert first.version == 1 and len(first.examples) == 1 and first.examples[0].source_span_id == SPAN
    again = datasets.add_examples("intents", [linked], skip_known_spans=True)
    assert again.version == 1 and again.examples == [], "nothing new: no version"
    datasets.delete_example("intents", first.examples[0].id)
    assert len(datasets.add_examples("intents", [linked], skip_known_spans=True).examples) == 1


def test_errors_store_nothing(datasets: DatasetStore) -> None:
    with pytest.raises(NotFound, match="no dataset named 'intents'"):
        datasets.add_examples("intents", questions("q"))
    with pytest.raises(NotFound, match="no dataset named 'intents'"):
        datasets.get_examples("intents")
    datasets.create(DatasetInput(name="intents"))
    with pytest.raises(Conflict, match="a dataset named 'intents' already exists"):
        datasets.create(DatasetInput(name="intents"))
    with pytest.raises(InvalidInput, match="at least one example"):
        datasets.add_examples("intents", [])
    with pytest.raises(NotFound, match="has no example 'nope'"):
        datasets.update_example("intents", "nope", ExampleUpdate(expected_output="x"))
    with pytest.raises(NotFound, match="has no example 'nope'"):
        datasets.delete_example("intents", "nope")
    with pytest.raises(NotFound, match=r"has no version 5 \(versions 0 to 0\)"):
        datasets.get_examples("intents", version=5)
    with pytest.raises(InvalidInput, match="dataset name 'bad name' is not valid"):
        datasets.add_examples("bad name", questions("q"), create=True)
    assert datasets.versions("intents") == [] and datasets.get_dataset("intents").version == 0
    assert [d.name for d in datasets.list_datasets()] == ["intents"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "give at least one of input, expected_output or metadata"),
        ({"input": None}, "input cannot be null"),
        ({"metadata": None}, "metadata cannot be null"),
        ({"input": "text"}, "Input should be a valid dictionary"),
        ({"id": "x"}, "Extra inputs are not permitted"),
    ],
)
def test_bad_updates(data: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ExampleUpdate.model_validate(data)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "input\n  Field required"),
        ({"input": [1]}, "Input should be a valid dictionary"),
        ({"input": {}, "source_span_id": "xyz"}, "String should match pattern"),
        ({"input": {"blob": "x" * (1024 * 1024)}}, "at most 1048576 bytes"),
        ({"input": {}, "extra": 1}, "Extra inputs are not permitted"),
    ],
)
def test_bad_examples(data: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ExampleInput.model_validate(data)
