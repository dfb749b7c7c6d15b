"""`pxprofile sync`: ingest new coding-agent sessions, update, rewrite the managed blocks."""

from __future__ import annotations

from typing import Annotated

import typer

from . import DbOption, app


@app.command()
def sync(
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Model for the profile update.")
    ] = None,
    no_update: Annotated[
        bool, typer.Option("--no-update", help="Only ingest and rewrite; do not update.")
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print only errors (for hooks).")
    ] = False,
    db: DbOption = None,
) -> None:
    """Keep the profile current from your coding agents (for a timer or an agent hook).

    Ingests new Claude Code, Codex and Gemini CLI sessions (and aider histories ingested
    before), updates the profile when something new came in, and rewrites the pxprofile blocks
    that already exist in the agents' instruction files. Prints nothing when nothing changed.
    """
    from pxprofile.store import open_db
    from pxprofile.sync import sync as run_sync

    result = run_sync(open_db(db), model=model, update=not no_update)
    for line in result.lines():
        if not quiet or line.startswith("Error:"):
            typer.echo(line, err=True)
    if result.failed:
        raise typer.Exit(1)
