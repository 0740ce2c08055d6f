"""Splitting a dataset into train / validation / test, seeded and stratified by label.

Reflection and few-shot selection see only *train*; candidates are compared on *validation*; *test* is scored
once, at the end, for the starting prompt and the winner. :class:`DatasetSplit` holds the example ids of each
part and is persisted with the run, so which examples were held out is on record.

``dataset_split`` is one of:

- ``True`` — fractions :data:`DEFAULT_FRACTIONS` (train, validation, test);
- three fractions ``(train, validation, test)`` adding up to 1 (test may be 0: no held-out score);
- three explicit lists of examples (or example ids): used as given, they must not overlap;
- ``False`` — no split: every example is both train and validation, and there is no test.

Stratification: examples are grouped by their label (:func:`default_label`: the expected output when it is a
short scalar such as an intent name; or the caller's ``label_of``), each group is shuffled with ``seed``, and
each part takes its share of every group. Part sizes are exact (largest remainder, at least one example for a
part with a non-zero fraction), and the leftover of each group goes where the group's remainder is largest.
When examples have no label, or almost every label is unique, the split is a seeded shuffle. The split depends
on the seed, the fractions and the examples' ids and labels — not on the order the dataset lists them in.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from optimizer.errors import OptimizerInvalid
from replay.datasets.models import Example

__all__ = ["DEFAULT_FRACTIONS", "PARTS", "DatasetSplit", "Part", "SplitSpec", "default_label", "split_dataset"]

DEFAULT_FRACTIONS = (0.5, 0.25, 0.25)
PARTS = ("train", "validation", "test")
Part = Literal["train", "validation", "test"]
SplitSpec = bool | tuple[float, float, float] | Sequence[Any]
_MAX_LABEL_CHARS = 200


class DatasetSplit(BaseModel):
    """Which examples (by id) are train, validation and test, and how the split was made."""

    model_config = ConfigDict(extra="forbid")

    seed: int
    method: Literal["stratified", "shuffled", "explicit", "none"]
    fractions: tuple[float, float, float] | None = None
    train: list[str]
    validation: list[str]
    test: list[str] = Field(default_factory=list)

    def ids(self, part: Part) -> list[str]:
        return list(getattr(self, part))

    def take(self, examples: Sequence[Example], part: Part) -> list[Example]:
        """The examples of ``part``, in the split's order."""
        by_id = {example.id: example for example in examples}
        return [by_id[example_id] for example_id in self.ids(part)]

    def sizes(self) -> dict[str, int]:
        return {part: len(self.ids(part)) for part in PARTS}  # type: ignore[arg-type]


def default_label(example: Example) -> str | None:
    """The expected output as a label when it is a short text, number or boolean; else None."""
    value = example.expected_output
    if isinstance(value, bool | int | float | str) and len(str(value)) <= _MAX_LABEL_CHARS:
        return str(value)
    return None


def split_dataset(
    examples: Sequence[Example],
    split: SplitSpec = True,
    *,
    seed: int = 0,
    label_of: Callable[[Example], str | None] = default_label,
) -> DatasetSplit:
    """Split ``examples`` as ``split`` says (see the module docstring); :class:`OptimizerInvalid` when impossible."""
    ids = [example.id for example in examples]
    if len(set(ids)) != len(ids):
        raise OptimizerInvalid("the dataset holds the same example id twice")
    if split is False:
        if not ids:
            raise OptimizerInvalid("the dataset is empty: nothing to optimize on")
        return DatasetSplit(seed=seed, method="none", train=ids, validation=list(ids))
    if split is True:
        return _split_by_fractions(examples, DEFAULT_FRACTIONS, seed, label_of)
    if isinstance(split, tuple | list) and len(split) == 3:
        if all(isinstance(part, int | float) and not isinstance(part, bool) for part in split):
            return _split_by_fractions(examples, _check_fractions(split), seed, label_of)
        if all(isinstance(part, list | tuple) for part in split):
            return _explicit(ids, split, seed)
    raise OptimizerInvalid(
        "dataset_split must be True, False, three fractions (train, validation, test) or three lists of examples"
    )


def _check_fractions(split: Sequence[Any]) -> tuple[float, float, float]:
    train, validation, test = (float(part) for part in split)
    if min(train, validation, test) < 0 or not all(map(math.isfinite, (train, validation, test))):
        raise OptimizerInvalid(f"split fractions must be finite and not negative, not {tuple(split)}")
    if abs(train + validation + test - 1) > 1e-6:
        raise OptimizerInvalid(f"split fractions must add up to 1; {train:g} + {validation:g} + {test:g} do not")
    if train == 0 or validation == 0:
        raise OptimizerInvalid("the train and validation fractions must be above 0")
    return train, validation, test


def _explicit(ids: list[str], parts: Sequence[Any], seed: int) -> DatasetSplit:
    known = set(ids)
    chosen = [[item.id if isinstance(item, Example) else str(item) for item in part] for part in parts]
    for name, part in zip(PARTS, chosen, strict=True):
        unknown = [example_id for example_id in part if example_id not in known]
        if unknown:
            raise OptimizerInvalid(f"the {name} part names example(s) not in the dataset: {', '.join(unknown[:5])}")
    seen: set[str] = set()
    for name, part in zip(PARTS, chosen, strict=True):
        overlap = seen.intersection(part)
        if overlap or len(set(part)) != len(part):
            raise OptimizerInvalid(f"the {name} part repeats or shares examples with another part")
        seen.update(part)
    if not chosen[0] or not chosen[1]:
        raise OptimizerInvalid("the train and validation parts need at least one example each")
    return DatasetSplit(seed=seed, method="explicit", train=chosen[0], validation=chosen[1], test=chosen[2])


def _split_by_fractions(
    examples: Sequence[Example],
    fractions: tuple[float, float, float],
    seed: int,
    label_of: Callable[[Example], str | None],
) -> DatasetSplit:
    needed = sum(1 for fraction in fractions if fraction > 0)
    if len(examples) < needed:
        raise OptimizerInvalid(
            f"the dataset has {len(examples)} example(s); a split into {needed} parts needs at least {needed}"
        )
    rng = random.Random(seed)
    groups = _groups(examples, label_of)
    for members in groups.values():
        members.sort()  # by id: the order the dataset lists its examples in does not change the split
        rng.shuffle(members)
    targets = _sizes(len(examples), fractions)
    allotted = _allot(groups, fractions, targets, rng)
    parts: list[list[str]] = [[], [], []]
    for label, members in groups.items():
        start = 0
        for part, count in enumerate(allotted[label]):
            parts[part] += members[start : start + count]
            start += count
    for ids in parts:
        rng.shuffle(ids)  # no part lists its examples label by label
    method: Literal["stratified", "shuffled"] = "stratified" if len(groups) > 1 else "shuffled"
    return DatasetSplit(
        seed=seed, method=method, fractions=fractions, train=parts[0], validation=parts[1], test=parts[2]
    )


def _groups(examples: Sequence[Example], label_of: Callable[[Example], str | None]) -> dict[str, list[str]]:
    labels = [label_of(example) for example in examples]
    usable = all(label is not None for label in labels) and len(set(labels)) <= max(1, len(examples) // 2)
    if not usable:
        return {"": [example.id for example in examples]}
    groups: dict[str, list[str]] = {}
    for example, label in zip(examples, labels, strict=True):
        groups.setdefault(str(label), []).append(example.id)
    return dict(sorted(groups.items()))  # the seed alone decides the split, not the order of labels


def _sizes(total: int, fractions: tuple[float, float, float]) -> list[int]:
    """Part sizes adding up to ``total`` (largest remainder), at least 1 for a non-zero fraction."""
    quotas = [total * fraction for fraction in fractions]
    sizes = [math.floor(quota) for quota in quotas]
    order = sorted(range(3), key=lambda part: quotas[part] - sizes[part], reverse=True)
    for part in order[: total - sum(sizes)]:
        sizes[part] += 1
    for part in range(3):
        while fractions[part] > 0 and sizes[part] == 0:
            donor = max(range(3), key=lambda other: sizes[other])
            sizes[donor] -= 1
            sizes[part] += 1
    return sizes


def _allot(
    groups: dict[str, list[str]], fractions: tuple[float, float, float], targets: list[int], rng: random.Random
) -> dict[str, list[int]]:
    """How many of each group go to each part: floors of the group's quotas, then the leftovers by remainder
    until every part has its target size."""
    allotted = {label: [math.floor(len(members) * f) for f in fractions] for label, members in groups.items()}
    remainders = [
        (len(members) * fractions[part] - allotted[label][part], rng.random(), label, part)
        for label, members in groups.items()
        for part in range(3)
    ]
    remainders.sort(reverse=True)
    # One pass suffices: once a (group, part) pair is passed, the group has nothing left or the part is full.
    for _, _, label, part in remainders:
        spare = len(groups[label]) - sum(allotted[label])
        missing = targets[part] - sum(counts[part] for counts in allotted.values())
        allotted[label][part] += max(0, min(spare, missing))
    _rebalance(allotted, targets)
    return allotted


def _rebalance(allotted: dict[str, list[int]], targets: list[int]) -> None:
    """Move single examples from over-full parts to short ones (rare: only when floors overshoot a target)."""
    for part in range(3):
        while sum(counts[part] for counts in allotted.values()) < targets[part]:
            over = next(
                (p for p in range(3) if sum(c[p] for c in allotted.values()) > targets[p]),
                None,
            )
            if over is None:
                return
            label = max(allotted, key=lambda key: allotted[key][over])
            allotted[label][over] -= 1
            allotted[label][part] += 1
