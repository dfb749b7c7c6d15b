"""`pxprofile mcp`: the profile for MCP clients (Claude Desktop, Cursor, VS Code) over stdio."""

from __future__ import annotations

from typing import Annotated

import typer

from . import DbOption, app


@app.command("mcp")
def mcp_(
    profile: Annotated[str | None, typer.Option("--profile", help="Profile name.")] = None,
    db: DbOption = None,
) -> None:
    """Serve your profile to MCP clients over stdio (read-only); see the README for the config.

    Started by the client (Claude Desktop's claude_desktop_config.json: "command": "pxprofile",
    "args": ["mcp"]), not by hand: stdout carries the protocol.
    """
    import signal
    import sys

    from pxprofile.mcpserver import serve

    if sys.stdin.isatty():  # started by hand: say what it is waiting for
        typer.echo(
            "pxprofile mcp speaks the Model Context Protocol on stdin/stdout: let an MCP client "
            "start it (see the README). Ctrl-C stops it.",
            err=True,
        )
    # the SDK's stdin reader thread would keep a plain KeyboardInterrupt waiting for a line
    signal.signal(signal.SIGINT, _interrupted)
    serve(db=db, profile=profile)


def _interrupted(signum, frame) -> None:
    """Ctrl-C: stop at once (the server writes nothing; SQLite keeps any open read consistent)."""
    import os

    os.write(2, b"Interrupted.\n")
    os._exit(130)
