"""``spanlab replay SPAN_ID``: replay a stored span (or a dataset example) with changes, over HTTP, and show
the original and new output side by side with their diff.

Exit status: 0 on success; 1 when the server refuses (unreplayable span, provider error…) or cannot be reached
(one line on stderr); 2 on usage errors (bad options, unreadable or malformed files).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from replay.overrides import parse_parameter
from spanlab.client import SpanlabClient, cli_settings, exit_on_client_error

__all__ = ["replay_command"]

# A replay waits for the model: the local model on a busy CPU can take minutes for a long answer.
REPLAY_TIMEOUT_SECONDS = 600.0
MAX_FILE_BYTES = 1024 * 1024
_DIFF_STYLES = {"+": "green", "-": "red", "@": "cyan"}


def replay_command(
    span_id: Annotated[str | None, typer.Argument(help="The span to replay (16 hex characters).")] = None,
    trace_id: Annotated[str | None, typer.Option(help="The span's trace, when several hold its id.")] = None,
    dataset: Annotated[str | None, typer.Option(help="Replay an example of this dataset instead.")] = None,
    example: Annotated[str | None, typer.Option(help="The example's id (with --dataset).")] = None,
    prompt: Annotated[str | None, typer.Option(help="A prompt-hub version: NAME, NAME@3 or NAME@TAG.")] = None,
    model: Annotated[str | None, typer.Option(help="Another model.")] = None,
    provider: Annotated[str | None, typer.Option(help="Another provider (see GET /api/v1/providers).")] = None,
    param: Annotated[
        list[str] | None, typer.Option(help="A request parameter, name=value (JSON values); repeatable.")
    ] = None,
    var: Annotated[list[str] | None, typer.Option(help="A template variable, name=text; repeatable.")] = None,
    messages_file: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="JSON messages to send instead.")
    ] = None,
    template_file: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="A JSON chat template ({{variables}}).")
    ] = None,
    history: Annotated[bool, typer.Option("--history", help="List the span's past replays instead.")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the API's JSON.")] = False,
) -> None:
    """Replay a span: rebuild its model call, apply the changes, call the model, show old and new side by side."""
    settings = cli_settings()
    if history:
        if span_id is None:
            raise typer.BadParameter("--history needs a SPAN_ID")
        with exit_on_client_error(), SpanlabClient.from_settings(settings) as client:
            page = client.span_replays(span_id)
        _print(page, json_output, lambda: _history_table(page["data"]))
        return
    body: dict[str, Any] = {"overrides": _overrides(prompt, model, provider, param, var, messages_file, template_file)}
    if dataset is not None or example is not None:
        if span_id is not None or dataset is None or example is None:
            raise typer.BadParameter("give a SPAN_ID, or --dataset and --example (not both)")
        body.update(dataset=dataset, example_id=example)
    elif span_id is None:
        raise typer.BadParameter("give a SPAN_ID, or --dataset and --example")
    else:
        body.update(span_id=span_id, trace_id=trace_id)
    with exit_on_client_error(), SpanlabClient.from_settings(settings, timeout=REPLAY_TIMEOUT_SECONDS) as client:
        result = client.replay(body)
    _print(result, json_output, lambda: replay_view(result))


def _overrides(
    prompt: str | None,
    model: str | None,
    provider: str | None,
    params: list[str] | None,
    variables: list[str] | None,
    messages_file: Path | None,
    template_file: Path | None,
) -> dict[str, Any]:
    overrides: dict[str, Any] = {"prompt": prompt, "model": model, "provider": provider}
    try:
        overrides["parameters"] = dict(parse_parameter(item) for item in params or [])
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--param") from None
    if variables:
        pairs = [item.partition("=") for item in variables]
        bad = [name for name, sep, _ in pairs if not sep or not name.strip()]
        if bad:
            raise typer.BadParameter("each --var must look like name=text", param_hint="--var")
        overrides["variables"] = {name.strip(): value for name, _, value in pairs}
    if messages_file is not None:
        overrides["messages"] = _messages(messages_file, "messages", "--messages-file")
    if template_file is not None:
        overrides["template"] = _messages(template_file, "template", "--template-file")
    return {key: value for key, value in overrides.items() if value is not None}


def _messages(path: Path, key: str, option: str) -> list[Any]:
    """A JSON list of messages, or an object holding one under ``key``."""
    if path.stat().st_size > MAX_FILE_BYTES:
        raise typer.BadParameter(f"{path} is larger than {MAX_FILE_BYTES} bytes", param_hint=option)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise typer.BadParameter(f"{path} is not valid JSON: {exc}", param_hint=option) from None
    if isinstance(data, dict) and key in data:
        data = data[key]
    if not isinstance(data, list) or not data or not all(isinstance(item, dict) for item in data):
        raise typer.BadParameter(f"{path} must hold a non-empty JSON list of messages", param_hint=option)
    return data


def _print(data: Any, json_output: bool, view: Any) -> None:
    if json_output:
        typer.echo(json.dumps(data, indent=2))
    else:
        Console().print(view())


def replay_view(result: dict[str, Any]) -> Group:
    """The original and the new output side by side, the field changes, the diff and the notes."""
    request = result["request"]
    source = result.get("source_span_id") or f"example {result.get('example_id')} of {result.get('dataset')}"
    header = Text(f"replay {result['id']}", style="bold")
    header.append(f"  of {source}  ·  {result['provider']} / {result['model']}  ·  from {request['built_from']}")
    if request.get("prompt_name"):
        header.append(f" {request['prompt_name']}@{request.get('prompt_version')}")
    table = Table(show_lines=True, expand=True)
    table.add_column("", style="bold", no_wrap=True)
    table.add_column("original", ratio=1)
    table.add_column("replay", ratio=1)
    table.add_row("output", Text(_output(result["original"])), Text(_output(result["output"])))
    for change in result["diff"]["fields"]:
        if change["original"] is not None or change["new"] is not None:
            style = "yellow" if change["changed"] else ""
            table.add_row(change["field"], _value(change["original"]), Text(_value(change["new"]), style=style))
    if result.get("expected_output") is not None:
        table.add_row("expected", Text(json.dumps(result["expected_output"])), "")
    parts: list[Any] = [header, table, _diff(result["diff"])]
    parts += [Text(f"note: {note}", style="dim") for note in request.get("notes", [])]
    if result.get("replay_trace_id"):
        parts.append(Text(f"traced: spanlab traces show {result['replay_trace_id']}  (project replay)", style="dim"))
    return Group(*parts)


def _diff(diff: dict[str, Any]) -> Text:
    if diff["same_text"] and all(call["status"] == "same" for call in diff["tool_calls"]):
        return Text("same output text", style="green")
    text = Text()
    for line in diff["text_diff"]:
        text.append(line + "\n", style=_DIFF_STYLES.get(line[:1], ""))
    for call in diff["tool_calls"]:
        if call["status"] != "same":
            before = f"{call['name_before']}({call['arguments_before']})" if call["name_before"] else "—"
            after = f"{call['name_after']}({call['arguments_after']})" if call["name_after"] else "—"
            text.append(f"tool call {call['index']} {call['status']}: {before} → {after}\n", style="yellow")
    return text


def _output(output: dict[str, Any]) -> str:
    parts = [output["text"]] if output.get("text") else []
    for call in output.get("tool_calls") or []:
        function = call.get("function") or {}
        parts.append(f"→ {function.get('name', '?')}({function.get('arguments', '')})")
    return "\n".join(parts) or "(no output recorded)"


def _value(value: Any) -> str:
    if value is None:
        return "—"
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _history_table(replays: list[dict[str, Any]]) -> Table:
    table = Table(title=f"{len(replays)} replay(s)", title_justify="left")
    for column in ("created (UTC)", "replay id", "provider / model", "from", "same text", "output"):
        table.add_column(column, overflow="ellipsis", no_wrap=True)
    for item in replays:
        table.add_row(
            item["created_at"].replace("T", " ")[:19],
            item["id"],
            f"{item['provider']} / {item['model']}",
            item["request"]["built_from"],
            "yes" if item["diff"]["same_text"] else "no",
            Text(" ".join((item["output"].get("text") or "").split())[:60]),
        )
    return table
