"""The ``spanlab`` command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console

from spanlab.cli_datasets import datasets_app
from spanlab.cli_eval import eval_command
from spanlab.cli_experiments import experiments_app
from spanlab.cli_optimize import optimize_command
from spanlab.cli_prompts import prompts_app
from spanlab.cli_replay import replay_command
from spanlab.cli_run import run
from spanlab.cli_sql import sql
from spanlab.cli_traces import traces_app, traces_table
from spanlab.client import SpanlabClient, cli_settings, exit_on_client_error
from spanlab.settings import Settings

app = typer.Typer(no_args_is_help=True, help="spanlab: LLM traces → datasets → experiments → better prompts.")


@app.callback()
def main() -> None:
    """Collect LLM traces over OpenTelemetry and turn them into better prompts."""


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (env SPANLAB_HOST).")] = None,
    http_port: Annotated[int | None, typer.Option(help="OTLP/HTTP + REST API port (env SPANLAB_HTTP_PORT).")] = None,
    grpc_port: Annotated[int | None, typer.Option(help="OTLP/gRPC port (env SPANLAB_GRPC_PORT).")] = None,
    db: Annotated[Path | None, typer.Option(help="DuckDB file (env SPANLAB_DB).")] = None,
    ingest_workers: Annotated[
        int | None, typer.Option(help="Normalizer processes, 0 = none (env SPANLAB_INGEST_WORKERS).")
    ] = None,
) -> None:
    """Run the collector: OTLP/gRPC, OTLP/HTTP, the REST API, the local model and the API docs."""
    from spanlab.server import PortInUse
    from spanlab.server import serve as run_server

    overrides: dict[str, Any] = {
        "host": host,
        "http_port": http_port,
        "grpc_port": grpc_port,
        "db": db,
        "ingest_workers": ingest_workers,
    }
    try:
        settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        typer.echo(f"error: invalid settings: {problems}", err=True)
        raise typer.Exit(2) from None
    try:
        run_server(settings)
    except PortInUse as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


@app.command()
def demo(
    stop: Annotated[bool, typer.Option("--exit", help="Stop after listing instead of serving on.")] = False,
) -> None:
    """Start a collector (unless one answers at SPANLAB_URL), send demo LLM traces over OTLP, list them."""
    from spanlab.demo import DEMO_PROJECT, running_server, send_demo_traces, wait_until_listed

    settings = cli_settings()
    console = Console()
    with running_server(settings) as (url, process):
        console.print(f"collector at [bold]{url}[/] — sending demo traces over OTLP/HTTP…")
        trace_ids = send_demo_traces(url)
        wait_until_listed(url, trace_ids)
        with exit_on_client_error(), SpanlabClient(url, api_key=settings.api_key) as client:
            page = client.list_traces(project=DEMO_PROJECT, limit=len(trace_ids))
        console.print(traces_table(page["data"]))
        console.print(f"inspect one: [bold]spanlab traces show {trace_ids[0]}[/]   API docs: {url}/docs")
        if process is not None and not stop:
            console.print("serving; press Ctrl-C to stop")
            try:
                process.wait()
            except KeyboardInterrupt:
                console.print("stopping…")


app.add_typer(traces_app, name="traces")
app.add_typer(prompts_app, name="prompts")
app.add_typer(datasets_app, name="datasets")
app.add_typer(experiments_app, name="experiments")
app.command("eval")(eval_command)
app.command("optimize")(optimize_command)
app.command("replay")(replay_command)
app.command("sql")(sql)
app.command("run", context_settings={"ignore_unknown_options": True})(run)


if __name__ == "__main__":
    app()
