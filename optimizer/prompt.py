"""What the optimizer changes in a prompt: its instruction text and its demonstrations.

A starting prompt is a chat template (a prompt-hub version's, or a list of messages) or a plain text, which is
taken as the system instruction. :class:`PromptFrame` keeps everything of it that stays fixed; a
:class:`CandidatePrompt` holds what varies:

- ``instruction`` — the text of the template's first ``system``/``developer`` message; in a template without
  one, the text of its first ``user`` message (``"Classify: {{question}}"``). It must keep the
  ``{{variables}}`` that message used and may use only the variables the template already used: the dataset's
  inputs fill exactly those.
- ``demos`` — few-shot :class:`Demonstration` s, inserted as user/assistant turns after the leading system
  messages, before the first real turn (for a template: its own user messages rendered with the demo's input,
  then the expected output as the assistant's answer) or, for a text prompt, as an ``Examples:`` block after
  the instruction.

:meth:`PromptFrame.template` gives a candidate as one self-contained chat template — what a custom task gets as
``config["prompt"]`` (a text prompt gets the text) and what the winner is saved as.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from instrumentation.template import MissingVariable, TemplateError, check_template, render_messages, template_variables
from optimizer.errors import OptimizerInvalid

__all__ = ["INSTRUCTION_ROLES", "CandidatePrompt", "Demonstration", "PromptFrame", "as_text"]

INSTRUCTION_ROLES = ("system", "developer")


class Demonstration(BaseModel):
    """One worked example shown to the model: a training example's input and its expected output."""

    model_config = ConfigDict(extra="forbid")

    example_id: str
    input: dict[str, Any]
    output: Any
    label: str | None = None


class CandidatePrompt(BaseModel):
    """The varying part of a prompt: the instruction and the demonstrations."""

    model_config = ConfigDict(extra="forbid")

    instruction: str
    demos: list[Demonstration] = Field(default_factory=list)


def as_text(value: Any) -> str:
    """A value as prompt text: strings as they are, one-key objects by their value, anything else as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        return as_text(next(iter(value.values())))
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


class PromptFrame:
    """The fixed part of the starting prompt, and how a candidate becomes a template or messages."""

    def __init__(self, prompt: str | list[dict[str, Any]]) -> None:
        self.text_mode = isinstance(prompt, str)
        if isinstance(prompt, str):
            if not prompt.strip():
                raise OptimizerInvalid("the starting prompt is empty: give the instruction to optimize")
            self.base: list[dict[str, Any]] = [{"role": "system", "content": prompt}]
            self.index: int | None = 0
        else:
            try:
                self.base = check_template(prompt)
            except TemplateError as exc:
                raise OptimizerInvalid(f"the starting prompt is not a usable chat template: {exc}") from None
            self.index = _instruction_index(self.base)
        self.instruction_variables = set(template_variables(self.starting().instruction))
        self.variables = set(template_variables(self.base))

    def starting(self) -> CandidatePrompt:
        """The starting prompt as a candidate (no demonstrations)."""
        if self.index is None:
            return CandidatePrompt(instruction="")
        content = self.base[self.index].get("content")
        return CandidatePrompt(instruction=content if isinstance(content, str) else "")

    def check_instruction(self, text: str) -> str:
        """``text`` as a new instruction, or ``ValueError`` saying why it cannot be one."""
        try:
            used = set(template_variables(text))
        except TemplateError as exc:
            raise ValueError("has a " + str(exc).removeprefix("text: ")) from None
        dropped = sorted(self.instruction_variables - used)
        if dropped:
            raise ValueError("drops the variable(s) " + ", ".join(f"{{{{{name}}}}}" for name in dropped))
        unknown = sorted(used - self.variables)
        if unknown:
            raise ValueError("uses unknown variable(s) " + ", ".join(f"{{{{{name}}}}}" for name in unknown))
        return text

    # -- a candidate as a template ----------------------------------------------------------------------------
    def template(self, candidate: CandidatePrompt) -> list[dict[str, Any]]:
        """The candidate as a chat template: the instruction in place, the demonstrations after it."""
        if self.text_mode:
            return [{"role": "system", "content": self.text(candidate)}]
        messages = [dict(message) for message in self.base]
        if self.index is None:
            if candidate.instruction:
                messages.insert(0, {"role": "system", "content": candidate.instruction})
        else:
            messages[self.index]["content"] = candidate.instruction
        # Demonstrations go right after the leading system messages, before the first real turn.
        at = next((i for i, m in enumerate(messages) if m.get("role") not in INSTRUCTION_ROLES), len(messages))
        return messages[:at] + self.demo_turns(candidate.demos, messages) + messages[at:]

    def text(self, candidate: CandidatePrompt) -> str:
        """The candidate as one text: the instruction, then an ``Examples:`` block when it has demonstrations."""
        if not candidate.demos:
            return candidate.instruction
        blocks = [f"Input: {as_text(demo.input)}\nOutput: {as_text(demo.output)}" for demo in candidate.demos]
        return candidate.instruction + "\n\nExamples:\n\n" + "\n\n".join(blocks)

    def for_task(self, candidate: CandidatePrompt) -> str | list[dict[str, Any]]:
        """What a task gets as ``config["prompt"]``: the text for a text prompt, else the template."""
        return self.text(candidate) if self.text_mode else self.template(candidate)

    def messages(self, candidate: CandidatePrompt, variables: dict[str, Any]) -> list[dict[str, Any]]:
        """The messages to send for one input (a text prompt sends the input as the user's message)."""
        if self.text_mode:
            return [
                {"role": "system", "content": self.text(candidate)},
                {"role": "user", "content": as_text(variables)},
            ]
        return render_messages(self.template(candidate), variables)

    def demo_turns(
        self, demos: list[Demonstration], messages: list[dict[str, Any]] | None = None
    ) -> list[dict[str, Any]]:
        """Each demonstration as the user turns of ``messages`` (default: the starting template) filled with its
        input, then the expected output as the assistant's answer."""
        turns: list[dict[str, Any]] = []
        asks = [message for message in messages or self.base if message.get("role") == "user"]
        for demo in demos:
            try:
                users = (
                    render_messages(asks, demo.input) if asks else [{"role": "user", "content": as_text(demo.input)}]
                )
            except (MissingVariable, TemplateError):
                continue  # an example without the template's variables cannot be shown as a turn
            answer = {"role": "assistant", "content": as_text(demo.output)}
            if "{{" in json.dumps([*users, answer]):
                continue  # its text would be read as placeholders when the template is rendered
            turns += [*users, answer]
        return turns

    def length(self, candidate: CandidatePrompt) -> int:
        """The prompt's size in characters (instruction and demonstrations): what a tie is broken by."""
        return len(self.text(candidate)) if self.text_mode else len(json.dumps(self.template(candidate)))


def _instruction_index(template: list[dict[str, Any]]) -> int | None:
    """The first system/developer message; else the first user message (a one-message template's text is its
    instruction); None when neither exists (the instruction then becomes a new system message)."""
    for roles in (INSTRUCTION_ROLES, ("user",)):
        for index, message in enumerate(template):
            if message.get("role") in roles:
                if not isinstance(message.get("content"), str):
                    raise OptimizerInvalid(f"message {index} holds the instruction but its content is not a text")
                return index
    return None
