"""Splitting a dataset: exact, disjoint, seeded, stratified by label; explicit parts; no split; refusals."""

from __future__ import annotations

from collections import Counter

import pytest

from optimizer.errors import OptimizerInvalid
from optimizer.split import DEFAULT_FRACTIONS, DatasetSplit, split_dataset
from replay.datasets.models import Example
from tests.optimizer.support import examples


def labels(split: DatasetSplit, part: str, data: list[Example]) -> Counter[str]:
    expected = {example.id: str(example.expected_output) for example in data}
    return Counter(expected[example_id] for example_id in split.ids(part))  # type: ignore[arg-type]


def test_parts_are_disjoint_cover_everything_and_keep_each_labels_share() -> None:
    data = examples(40) + [
        Example(id=f"rare{i}", input={"question": f"r{i}"}, expected_output="rare") for i in range(4)
    ]
    split = split_dataset(data, (0.5, 0.25, 0.25), seed=11)
    ids = split.train + split.validation + split.test
    assert sorted(ids) == sorted(example.id for example in data) and len(set(ids)) == len(ids)
    assert split.method == "stratified" and split.sizes() == {"train": 22, "validation": 11, "test": 11}
    for part, share in zip(("train", "validation", "test"), (0.5, 0.25, 0.25), strict=True):
        counts = labels(split, part, data)
        for label, total in {"card": 14, "loan": 13, "fee": 13, "rare": 4}.items():
            assert abs(counts[label] - total * share) < 1.01, (part, label, counts)


def test_the_seed_alone_decides_the_split() -> None:
    data = examples(30)
    first = split_dataset(data, seed=5)
    assert split_dataset(list(reversed(data)), seed=5) == first, "the dataset's order does not matter"
    assert split_dataset(data, seed=6) != first
    assert first.fractions == DEFAULT_FRACTIONS


def test_unlabeled_or_all_distinct_outputs_give_a_seeded_shuffle() -> None:
    data = [Example(id=f"e{i}", input={"q": str(i)}, expected_output={"answer": i}) for i in range(10)]
    split = split_dataset(data, (0.6, 0.2, 0.2), seed=1)
    assert split.method == "shuffled" and split.sizes() == {"train": 6, "validation": 2, "test": 2}


def test_three_examples_split_three_ways_and_a_zero_test_fraction_leaves_test_empty() -> None:
    assert split_dataset(examples(3), seed=0).sizes() == {"train": 1, "validation": 1, "test": 1}
    assert split_dataset(examples(9), (0.7, 0.3, 0.0), seed=0).sizes() == {"train": 6, "validation": 3, "test": 0}


def test_explicit_parts_and_no_split() -> None:
    data = examples(6)
    split = split_dataset(data, [data[:3], ["ex03", "ex04"], [data[5]]])
    assert (split.method, split.train, split.validation, split.test) == (
        "explicit", ["ex00", "ex01", "ex02"], ["ex03", "ex04"], ["ex05"]
    )  # fmt: skip
    none = split_dataset(data, False)
    assert none.method == "none" and none.train == none.validation == [e.id for e in data] and none.test == []


@pytest.mark.parametrize(
    ("split", "count", "message"),
    [
        ((0.5, 0.3, 0.3), 10, "must add up to 1"),
        ((1.0, 0.0, 0.0), 10, "train and validation fractions must be above 0"),
        ((-0.5, 1.0, 0.5), 10, "finite and not negative"),
        (True, 2, "a split into 3 parts needs at least 3"),
        ([["ex00"], ["ex00"], []], 4, "repeats or shares examples"),
        ([["ex00"], ["nope"], []], 4, "names example\\(s\\) not in the dataset: nope"),
        ([["ex00"], [], []], 4, "need at least one example each"),
        ("half", 4, "dataset_split must be True, False, three fractions"),
        (False, 0, "the dataset is empty"),
    ],
)
def test_impossible_splits_are_refused_with_the_reason(split: object, count: int, message: str) -> None:
    with pytest.raises(OptimizerInvalid, match=message):
        split_dataset(examples(count), split)  # type: ignore[arg-type]
