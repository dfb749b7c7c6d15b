"""Rendering shared by the commands: JSON documents, rows as JSON or NL, the stderr console."""

from __future__ import annotations

import json
import sys

import typer


def stderr_console():
    """A rich Console on stderr (colour off when not a TTY or NO_COLOR is set)."""
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def say(message: str) -> None:
    """A message for the user (not data): one line on stderr."""
    typer.echo(message, err=True)


def print_json(data) -> None:
    """Write a JSON document to stdout, unstyled."""
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def emit_rows(rows: list[dict], json_: bool, nl: bool) -> bool:
    """Rows as a JSON array (``[]`` when empty) or one object per line; False: neither asked."""
    if nl:
        for r in rows:
            typer.echo(json.dumps(r, ensure_ascii=False, default=str))
        return True
    if json_:
        print_json(rows)
        return True
    return False


def interactive(*, prompt_on_stderr: bool = False) -> bool:
    """Whether to prompt: stdin and stdout (the prompt's stream: stderr when it goes there) are
    terminals."""
    out = sys.stderr if prompt_on_stderr else sys.stdout
    return sys.stdin.isatty() and out.isatty()


def day(ts: str | None) -> str:
    """The date part of a stored timestamp."""
    return ts[:10] if ts else "undated"


def minute(ts: str | None) -> str:
    """A stored timestamp to the minute, ``2026-11-30 01:02``."""
    return (ts or "")[:16].replace("T", " ")
