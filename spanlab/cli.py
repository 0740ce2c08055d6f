"""The ``spanlab`` command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from spanlab.cli_sql import sql
from spanlab.cli_traces import traces_app
from spanlab.settings import Settings

app = typer.Typer(no_args_is_help=True, help="spanlab: LLM traces → datasets → experiments → better prompts.")


@app.callback()
def main() -> None:
    """Collect LLM traces over OpenTelemetry and turn them into better prompts."""


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address [env SPANLAB_HOST].")] = None,
    http_port: Annotated[int | None, typer.Option(help="OTLP/HTTP + API + UI port [env SPANLAB_HTTP_PORT].")] = None,
    grpc_port: Annotated[int | None, typer.Option(help="OTLP/gRPC port [env SPANLAB_GRPC_PORT].")] = None,
    db: Annotated[Path | None, typer.Option(help="DuckDB file [env SPANLAB_DB].")] = None,
    ingest_workers: Annotated[
        int | None, typer.Option(help="Normalizer processes, 0 = none [env SPANLAB_INGEST_WORKERS].")
    ] = None,
) -> None:
    """Run the collector: OTLP/gRPC, OTLP/HTTP, the REST API and the web UI."""
    from spanlab.server import serve as run_server

    overrides: dict[str, Any] = {
        "host": host,
        "http_port": http_port,
        "grpc_port": grpc_port,
        "db": db,
        "ingest_workers": ingest_workers,
    }
    settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    run_server(settings)


app.add_typer(traces_app, name="traces")
app.command("sql")(sql)


if __name__ == "__main__":
    app()
