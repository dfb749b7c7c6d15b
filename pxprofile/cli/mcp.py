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
    from pxprofile.mcpserver import serve

    serve(db=db, profile=profile)
