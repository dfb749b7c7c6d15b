"""`pxprofile show | edit | history | diff | revert | why`: the profile the user owns."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from . import app
from .options import DbOption, JsonOption, ProfileOption
from .output import day, interactive, minute, print_json, say


def _db(db):
    from pxprofile.store import open_db

    return open_db(db)


@app.command()
def show(profile: ProfileOption = None, db: DbOption = None, json_: JsonOption = False) -> None:
    """Print the profile: rendered on a terminal, the Markdown file itself when piped."""
    from pxprofile import profile as prof

    snap = prof.snapshot(_db(db), profile)
    if snap.missing:
        say(
            f"{snap.path.name} is missing; showing version {snap.version}. "
            f"`pxprofile revert {snap.version}` writes it back."
        )
    if json_:
        print_json(snap.to_dict())
    elif sys.stdout.isatty():
        from rich.console import Console
        from rich.markdown import Markdown

        Console().print(Markdown(snap.text))
    else:
        sys.stdout.write(snap.text)
        sys.stdout.flush()


@app.command()
def edit(profile: ProfileOption = None, db: DbOption = None) -> None:
    """Open the profile in $VISUAL/$EDITOR; your edits are recorded as a version and always win."""
    from pxprofile import profile as prof
    from pxprofile.errors import ProfileError

    database = _db(db)
    path = prof.ensure_file(database, profile)
    before = prof.latest_version(database, profile)
    cmd = prof.editor_command()
    while problem := prof.run_editor(cmd, path):
        if not (interactive() and _edit_again(path.name, problem)):
            raise ProfileError(
                f"{path.name} was saved but cannot be read safely: {problem}. "
                "Your file was kept as you saved it; run `pxprofile edit` to fix it"
            )
    prof.sync(database, profile)
    after = prof.latest_version(database, profile)
    if before and after and after["id"] == before["id"]:
        say("No changes.")
    else:
        say(f"Saved your edit as version {after['id']} ({after['note']}).")


def _edit_again(name: str, problem: str) -> bool:
    say(f"{name} cannot be read safely: {problem}.")
    return typer.confirm("Edit it again?", default=True, err=True)


@app.command()
def history(
    profile: ProfileOption = None,
    db: DbOption = None,
    json_: JsonOption = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="List the lines each version added and removed.")
    ] = False,
) -> None:
    """List the versions of the profile: every update, edit and revert."""
    from pxprofile import profile as prof
    from pxprofile.errors import ProfileError

    database = _db(db)
    try:
        prof.sync(database, profile)
    except ProfileError as e:  # history stays readable while the file is broken
        say(f"Warning: {e}")
    rows = prof.history(database, profile, details=json_ or verbose)
    if json_:
        return print_json(rows)
    if not rows:
        raise prof.no_profile_error()
    if verbose:
        _print_changes(rows)
    else:
        _print_table(rows)


def _print_changes(rows: list[dict]) -> None:
    from pxprofile.text import plural

    for r in rows:
        typer.echo(f"Version {r['version']}  {minute(r['created_at'])}  {r['kind']}  ({r['note']})")
        for a in r["added"]:
            n = len(a["evidence"])
            support = f", {plural(n, 'message')}" if n else ""
            who = "you" if a["author"] == "user" else "pxprofile"
            typer.echo(f'  + "{a["text"]}" [{a["section"]}] by {who}{support}')
        for d in r["removed"]:
            if d["superseded_by"]:
                how = f'replaced by "{d["superseded_by"]}"'
            else:
                how = "deleted by you" if d["status"] == "deleted" else "retired"
            n = len(d["evidence"])
            why = f" ({plural(n, 'message')})" if n else ""
            typer.echo(f'  - "{d["text"]}" [{d["section"]}] {how}{why}')


def _print_table(rows: list[dict]) -> None:
    import shutil

    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for col in ("Version", "Date", "Kind", "Lines", "Changes"):
        table.add_column(col, justify="right" if col in ("Version", "Lines") else "left")
    for r in rows:
        table.add_row(
            str(r["version"]), minute(r["created_at"]), r["kind"], str(r["lines"]), r["note"] or ""
        )
    Console(width=max(100, shutil.get_terminal_size().columns)).print(table)


@app.command()
def diff(
    a: Annotated[
        int | None, typer.Argument(help="Version to compare from (default: the last).")
    ] = None,
    b: Annotated[
        int | None, typer.Argument(help="Version to compare to (default: the file as it is now).")
    ] = None,
    profile: ProfileOption = None,
    db: DbOption = None,
) -> None:
    """Show a unified diff between versions, or between a version and the file now."""
    from pxprofile import profile as prof

    found = prof.compare(_db(db), a, b, profile)
    if found.diff:
        sys.stdout.write(found.diff)
    else:
        say("No differences.")


@app.command()
def revert(
    version: Annotated[
        int, typer.Argument(help="The version to go back to (see `pxprofile history`).")
    ],
    profile: ProfileOption = None,
    db: DbOption = None,
) -> None:
    """Write an earlier version back as a new version; the lines it restores count as yours."""
    from pxprofile import profile as prof

    new = prof.revert(_db(db), version, profile)
    if new is None:
        say(f"The profile already matches version {version}; nothing to do.")
    else:
        say(f"Restored version {version} as version {new}.")


@app.command()
def why(
    text: Annotated[str, typer.Argument(help="Part of a profile line (case does not matter).")],
    profile: ProfileOption = None,
    db: DbOption = None,
    json_: JsonOption = False,
) -> None:
    """Show the messages behind a profile line: conversation, date and your words."""
    from pxprofile import profile as prof
    from pxprofile.errors import InputError
    from pxprofile.imported import annotate

    database = _db(db)
    items = annotate(database, prof.why(database, text, profile))  # imported memories say so
    if json_:
        return print_json(items)
    if not items:
        raise InputError(f"no line in the profile contains {text!r}. See `pxprofile show`")
    for i, item in enumerate(items):
        if i:
            typer.echo("")
        _print_why(item)


_SAID_BY = {"user": "you wrote", "assistant": "the reply said", "tool": "a tool returned"}


def _print_evidence(items: list[dict], indent: str = "  ") -> None:
    for e in items:
        if not e["found"]:
            typer.echo(f"{indent}- message {e['message_id']} (no longer in the database)")
            continue
        title = e["conversation_title"] or "(untitled conversation)"
        said = _SAID_BY.get(e["role"], e["role"] or "the message said")
        typer.echo(f"{indent}- {title}, {day(e['created_at'])}, {said}:")
        typer.echo(f'{indent}  "{e["quote"]}"')


def _print_why(item: dict) -> None:
    status = "" if item["status"] == "active" else f" [{item['status']}]"
    typer.echo(f'"{item["text"]}" ({item["section"]}){status}')
    if item.get("imported"):  # a memory adopted from another tool
        src = item["imported"]
        typer.echo(f"  Imported from {src['origin']}: {src['file']}, {day(src['imported_at'])}.")
    _print_origin(item)
    _print_evidence(item["evidence"])
    if item["status"] != "active":
        _print_retirement(item)
    for prev in item["earlier"]:
        who = "you" if prev["author"] == "user" else "pxprofile"
        typer.echo(f'  Earlier wording (by {who}): "{prev["text"]}"')
        _print_evidence(prev["evidence"], "    ")


def _print_origin(item: dict) -> None:
    from pxprofile.text import plural

    if item["author"] == "user":
        typer.echo(
            "  You wrote this line (no evidence from your chats needed); pxprofile never changes "
            "it."
        )
        if item["evidence"]:
            typer.echo("  Your chats also support it:")
    elif not item["evidence"]:
        typer.echo("  Written by pxprofile; no evidence was recorded for it.")
    else:
        span = ""
        if item["first_supported"]:
            span = f", supported {day(item['first_supported'])}"
            if day(item["last_supported"]) != day(item["first_supported"]):
                span += f" to {day(item['last_supported'])}"
        typer.echo(f"  Written by pxprofile from {plural(len(item['evidence']), 'message')}{span}:")


def _print_retirement(item: dict) -> None:
    when = day(item["retired_at"])
    if item["superseded_by"]:
        typer.echo(f'  Replaced on {when} by: "{item["superseded_by"]["text"]}"')
    elif item["status"] == "deleted":
        typer.echo(f"  You deleted it on {when}; pxprofile will not add it again.")
    else:
        typer.echo(f"  Retired on {when}.")
    if item["retired_by_evidence"]:
        typer.echo("  Evidence that retired it:")
        _print_evidence(item["retired_by_evidence"], "    ")
