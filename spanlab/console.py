"""The ``spanlab`` command's entry point: the CLI is imported when the command runs, not when this module is.

``multiprocessing`` starts the collector's normalizer workers (the ``spawn`` start method) by running the
command's script again in each of them, as ``__mp_main__``. With the CLI imported at the top of the script, every
worker loaded typer, rich, the REST server and the ``openai`` package — about 60 MiB and a second of start-up it
never uses.
"""

from __future__ import annotations

__all__ = ["main"]


def main() -> None:
    """Run the ``spanlab`` command line."""
    from spanlab.cli import app

    app()
