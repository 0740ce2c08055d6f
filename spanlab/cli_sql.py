"""``spanlab sql "SELECT …"``: run one read-only query on the server and print the rows.

The server refuses anything but a single SELECT (see ``POST /api/v1/sql``) and applies its row and time
limits. Exit status: 0 on success, 1 when the server refuses or fails or cannot be reached, 2 on usage errors.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from spanlab.client import SpanlabClient, cli_settings, exit_on_client_error

__all__ = ["sql"]

_CELL_CHARS = 200


SqlText = Annotated[str, typer.Argument(metavar="SQL", help="One SELECT, e.g. 'FROM spans LIMIT 5'.")]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print the API's JSON instead of a table.")]


def sql(query: SqlText, json_output: JsonFlag = False) -> None:
    """Run a read-only SQL query over the store (tables: spans, logs, annotations) and print the result."""
    if not query.strip():
        raise typer.BadParameter("the query is empty", param_hint="SQL")
    settings = cli_settings()
    timeout = settings.sql_timeout_seconds + 10  # the server stops the query first and says so
    with exit_on_client_error(), SpanlabClient.from_settings(settings, timeout=timeout) as client:
        result = client.sql(query)
    if json_output:
        typer.echo(json.dumps(result, indent=2))
        return
    console = Console()
    console.print(_table(result))
    note = f"{result['row_count']} row(s)"
    if result["truncated"]:
        note += f" — truncated at the server's limit of {result['row_count']}; add LIMIT or narrow the query"
    console.print(Text(note, style="dim"))


def _table(result: dict[str, Any]) -> Table:
    table = Table()
    for name, kind in zip(result["columns"], result["types"], strict=True):
        table.add_column(Text(f"{name}\n{kind}"), overflow="fold")
    for row in result["rows"]:
        table.add_row(*(_cell(value) for value in row))
    return table


def _cell(value: Any) -> Text:
    if value is None:
        return Text("NULL", style="dim")
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return Text(text if len(text) <= _CELL_CHARS else text[: _CELL_CHARS - 1] + "…")
