"""The model-free strategy: pick few-shot demonstrations from the training examples.

:func:`select_demonstrations` draws up to ``k`` training examples that have an expected output, spread over
labels: the labels are visited round-robin in a seeded random order, so ``k`` at least the number of labels
shows every label once. Within a label, examples the parent prompt already *passed* come first — their
expected output agrees with what the evaluators accept — then the others (a weak model passes few examples,
and an example's expected output is a correct answer either way). Examples whose text holds ``{{`` are never
used: once in the template they would read as placeholders.

Each draw uses the loop's seeded random generator, so every iteration proposes a different set, and the
demonstrations enter the template as extra user/assistant turns (:meth:`optimizer.prompt.PromptFrame.template`).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Collection, Sequence

from optimizer.prompt import Demonstration
from optimizer.split import default_label
from replay.datasets.models import Example

__all__ = ["default_demo_count", "select_demonstrations"]

MAX_DEMOS = 8


def default_demo_count(train: Sequence[Example], label_of: Callable[[Example], str | None] = default_label) -> int:
    """One demonstration per label, between 3 and :data:`MAX_DEMOS`."""
    labels = {label_of(example) for example in train if example.expected_output is not None}
    return max(3, min(MAX_DEMOS, len(labels)))


def select_demonstrations(
    train: Sequence[Example],
    *,
    k: int,
    rng: random.Random,
    passing: Collection[str] = (),
    label_of: Callable[[Example], str | None] = default_label,
) -> list[Demonstration]:
    """Up to ``k`` demonstrations from ``train`` (see the module docstring), in a random order."""
    groups: dict[str, tuple[list[Example], list[Example]]] = {}
    for example in train:
        if example.expected_output is None or "{{" in json.dumps([example.input, example.expected_output]):
            continue
        passed, others = groups.setdefault(str(label_of(example)), ([], []))
        (passed if example.id in passing else others).append(example)
    queues = []
    for label in sorted(groups):
        passed, others = groups[label]
        rng.shuffle(passed)
        rng.shuffle(others)
        queues.append(passed + others)
    rng.shuffle(queues)
    chosen: list[Example] = []
    while len(chosen) < k and any(queues):
        for queue in queues:
            if queue and len(chosen) < k:
                chosen.append(queue.pop(0))
    rng.shuffle(chosen)  # the label order of the turns should not hint at an answer
    return [Demonstration(example_id=e.id, input=e.input, output=e.expected_output, label=label_of(e)) for e in chosen]
