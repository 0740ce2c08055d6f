"""``spanlab traces list`` and ``spanlab traces show``: read traces from the server over HTTP.

Exit status: 0 on success, 1 when the server fails or cannot be reached (one line on stderr), 2 on usage
errors (bad option values, malformed trace id).
"""

from __future__ import annotations

import json
import re
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from spanlab.client import SpanlabClient, cli_settings, exit_on_client_error

__all__ = ["traces_app", "traces_table"]

traces_app = typer.Typer(no_args_is_help=True, help="List and inspect traces stored by the server.")

MAX_MESSAGE_SPANS = 20
_STATUS_STYLE = {"OK": "green", "ERROR": "bold red", "UNSET": "dim"}


class TraceStatus(StrEnum):
    OK = "OK"
    ERROR = "ERROR"
    UNSET = "UNSET"


def _trace_id(value: str) -> str:
    if not re.fullmatch(r"[0-9a-fA-F]{32}", value):
        raise typer.BadParameter("expected 32 hexadecimal characters")
    return value.lower()


Project = Annotated[str | None, typer.Option(help="Only this project.")]
Status = Annotated[TraceStatus | None, typer.Option(help="Trace status (ERROR if any span failed).")]
Model = Annotated[str | None, typer.Option(help="Only traces with a span calling this model.")]
Search = Annotated[str | None, typer.Option("--q", "-q", help="Case-insensitive text in inputs/outputs.")]
Limit = Annotated[int, typer.Option(min=1, max=500, help="How many traces, newest first.")]
Cursor = Annotated[str | None, typer.Option(help="Continue after a previous page (its next cursor).")]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print the API's JSON instead of a table.")]
TraceId = Annotated[str, typer.Argument(help="The trace id (32 hex characters).", callback=_trace_id)]


@traces_app.command("list")
def list_traces(
    project: Project = None,
    status: Status = None,
    model: Model = None,
    q: Search = None,
    limit: Limit = 20,
    cursor: Cursor = None,
    json_output: JsonFlag = False,
) -> None:
    """List traces, newest first: time, trace id, project, root span, status, latency, tokens, input."""
    settings = cli_settings()
    filters = {
        "project": project,
        "status": status.value if status else None,
        "model": model,
        "q": q,
        "limit": limit,
        "cursor": cursor,
    }
    with exit_on_client_error(), SpanlabClient.from_settings(settings) as client:
        page = client.list_traces(**filters)
    if json_output:
        typer.echo(json.dumps(page, indent=2))
        return
    console = Console()
    console.print(traces_table(page["data"]))
    if page.get("next_cursor"):
        console.print(Text(f"more: --cursor {page['next_cursor']}", style="dim"), soft_wrap=True)


def traces_table(traces: list[dict[str, Any]]) -> Table:
    table = Table(title=f"{len(traces)} trace(s)", title_justify="left")
    widths = {"time (UTC)": 14, "trace": 12, "project": 8, "root": 12, "status": 6, "latency": 8, "tokens": 6}
    for column, width in widths.items():
        table.add_column(column, overflow="ellipsis", no_wrap=True, min_width=width)
    table.add_column("input", overflow="ellipsis", no_wrap=True, max_width=60)
    for trace in traces:
        table.add_row(
            _time(trace["start_time"]),
            trace["trace_id"][:12],
            Text(trace["project"]),
            Text(trace["name"]),
            _status(trace["status_code"]),
            _latency(trace["latency_ms"]),
            str(trace["total_tokens"]),
            Text(_one_line(trace.get("input_preview"), 60)),
        )
    return table


@traces_app.command("show")
def show_trace(trace_id: TraceId, json_output: JsonFlag = False) -> None:
    """Show one trace as a tree of spans (kind, model, latency, status, tokens, annotations), then the
    messages of its LLM spans."""
    settings = cli_settings()
    with exit_on_client_error(), SpanlabClient.from_settings(settings) as client:
        trace = client.get_trace(trace_id)
        if json_output:
            typer.echo(json.dumps(trace, indent=2))
            return
        llm_spans = [s for s in _walk(trace["spans"]) if s["kind"] == "LLM"]
        details = [client.get_span(s["span_id"], trace_id=trace_id) for s in llm_spans[:MAX_MESSAGE_SPANS]]
    console = Console()
    console.print(_header(trace))
    console.print(_tree(trace))
    for detail in details:
        console.print(_messages_panel(detail))
    if len(llm_spans) > MAX_MESSAGE_SPANS:
        more = len(llm_spans) - MAX_MESSAGE_SPANS
        console.print(Text(f"… {more} more LLM span(s); see --json", style="dim"))


def _header(trace: dict[str, Any]) -> Text:
    cost = f"  ${trace['cost']:.6f}" if trace.get("cost") is not None else ""
    header = Text(f"trace {trace['trace_id']}  ", style="bold")
    header.append(f"{trace['project']}  {_time(trace['start_time'])} UTC  ", style="")
    header.append_text(_status(trace["status_code"]))
    header.append(
        f"  {_latency(trace['latency_ms'])}  {trace['span_count']} spans  {trace['total_tokens']} tokens{cost}"
    )
    return header


def _tree(trace: dict[str, Any]) -> Tree:
    tree = Tree(Text(f"{trace['name']} ({trace['trace_id'][:12]})", style="bold"), guide_style="dim")
    stack: list[tuple[Tree, dict[str, Any]]] = [(tree, span) for span in reversed(trace["spans"])]
    while stack:  # iteratively: traces can be deeper than the recursion limit
        parent, span = stack.pop()
        branch = parent.add(_span_label(span))
        stack.extend((branch, child) for child in reversed(span.get("children", [])))
    return tree


def _walk(spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every span of a tree, depth first, in display order (iteratively: traces can be deep)."""
    out: list[dict[str, Any]] = []
    stack = list(reversed(spans))
    while stack:
        span = stack.pop()
        out.append(span)
        stack.extend(reversed(span.get("children", [])))
    return out


def _span_label(span: dict[str, Any]) -> Text:
    label = Text(f"[{span['kind']}] ", style="cyan")
    label.append(span["name"], style="bold")
    if span.get("model"):
        label.append(f"  {span['model']}", style="magenta")
    label.append(f"  {_latency(span['latency_ms'])}  ")
    label.append_text(_status(span["status_code"]))
    if span.get("total_tokens"):
        label.append(f"  {span['total_tokens']} tok")
    for note in span.get("annotations", []):
        value = note["label"] if note.get("label") is not None else note.get("score")
        label.append(f"  ★ {note['name']}={value}", style="yellow")
    return label


def _messages_panel(span: dict[str, Any]) -> Panel:
    lines: list[Text] = []
    for direction, messages in (("in", span.get("input_messages")), ("out", span.get("output_messages"))):
        for message in messages or []:
            line = Text(f"{direction} {message.get('role', '?')}: ", style="bold")
            line.append(_content(message))
            lines.append(line)
    if not lines:
        lines.append(Text("(no messages recorded)", style="dim"))
    title = f"{span['name']} · {span.get('model') or '?'} · {span['span_id']}"
    return Panel(Group(*lines), title=Text(title), title_align="left")


def _content(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):
        content = " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    parts = [str(content)] if content else []
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        parts.append(f"→ {function.get('name', '?')}({function.get('arguments', '')})")
    return " ".join(parts)


def _status(code: str) -> Text:
    return Text(code, style=_STATUS_STYLE.get(code, ""))


def _latency(ms: float) -> str:
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.2f} s"


def _time(iso: str) -> str:
    return iso.replace("T", " ")[5:19]  # MM-DD HH:MM:SS: the year rarely helps in a list of recent traces


def _one_line(text: str | None, width: int) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"
