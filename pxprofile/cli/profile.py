"""`pxprofile show | edit | history | diff | revert | why`: the profile the user owns."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from typing import Annotated

import typer

from . import DbOption, JsonOption, app, fail, print_json

ProfileOption = Annotated[
    str | None,
    typer.Option(
        "--profile", "-p", help="Profile name (default: profile.md; NAME: profile-NAME.md)."
    ),
]


def _db(db):
    from pxprofile.store import open_db

    return open_db(db)


def _say(message: str) -> None:
    typer.echo(message, err=True)


def _no_profile() -> None:
    fail(
        "there is no profile yet. Run `pxprofile ingest EXPORT` to build one, "
        "or `pxprofile edit` to write it yourself"
    )


def _line_json(line) -> dict:
    return {
        "id": line.id,
        "section": line.section,
        "text": line.text,
        "author": line.author,
        "editable": line.editable,
        "evidence": line.evidence,
        "first_supported": line.first_supported,
        "last_supported": line.last_supported,
    }


@app.command()
def show(
    profile: ProfileOption = None,
    db: DbOption = None,
    json_: JsonOption = False,
) -> None:
    """Print the profile: rendered on a terminal, the Markdown file itself when piped."""
    from pxprofile import profile as prof

    database = _db(db)
    lines = prof.current_lines(database, profile)
    latest = prof.latest_version(database, profile)
    text = prof.file_text(profile)
    if text is None and latest is None:
        _no_profile()
    if text is None:
        text = latest["text"]
        _say(
            f"{prof.profile_file(profile).name} is missing; showing version {latest['id']}. "
            f"`pxprofile revert {latest['id']}` writes it back."
        )
    if json_:
        print_json(
            {
                "profile": profile or prof.DEFAULT_PROFILE,
                "path": str(prof.profile_file(profile)),
                "version": latest["id"] if latest else None,
                "lines": [_line_json(ln) for ln in lines],
            }
        )
    elif sys.stdout.isatty():
        from rich.console import Console
        from rich.markdown import Markdown

        Console().print(Markdown(text))
    else:
        sys.stdout.write(text)
        sys.stdout.flush()


def _editor() -> list[str]:
    for var in ("VISUAL", "EDITOR"):
        value = os.environ.get(var, "").strip()
        if value:
            try:
                cmd = shlex.split(value)
            except ValueError as e:
                fail(f"${var} cannot be parsed ({e}). Fix it, e.g. `export {var}=nano`")
            if cmd:
                return cmd
    for name in ("vi", "nano"):
        found = shutil.which(name)
        if found:
            return [found]
    fail(
        "no editor found. Set $EDITOR (for example `export EDITOR=nano`) and run `pxprofile edit` "
        "again"
    )
    raise AssertionError  # unreachable


def _interactive() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


@app.command()
def edit(
    profile: ProfileOption = None,
    db: DbOption = None,
) -> None:
    """Open the profile in $VISUAL/$EDITOR; your edits are recorded as a version and always win."""
    from pxprofile import document
    from pxprofile import profile as prof

    database = _db(db)
    path = prof.ensure_file(database, profile)
    before = prof.latest_version(database, profile)
    cmd = _editor()
    while True:
        try:
            status = subprocess.run([*cmd, str(path)]).returncode
        except FileNotFoundError:
            fail(f"the editor {cmd[0]!r} was not found. Set $EDITOR to an editor on your PATH")
        except PermissionError:
            fail(f"the editor {cmd[0]!r} cannot be run. Set $EDITOR to an editor on your PATH")
        if status != 0:
            fail(
                f"the editor exited with status {status}; nothing was recorded. "
                "Your file is kept as it is; run `pxprofile edit` again"
            )
        try:
            text = path.read_bytes().decode("utf-8")
            problems = document.problems(text)
        except UnicodeDecodeError:
            problems = ["it is not UTF-8 text"]
        if not problems:
            break
        reason = "; ".join(problems)
        if _interactive():
            _say(f"{path.name} cannot be read safely: {reason}.")
            if typer.confirm("Edit it again?", default=True, err=True):
                continue
        fail(
            f"{path.name} was saved but cannot be read safely: {reason}. "
            "Your file was kept as you saved it; run `pxprofile edit` to fix it"
        )
    prof.sync(database, profile)
    after = prof.latest_version(database, profile)
    if before and after and after["id"] == before["id"]:
        _say("No changes.")
    else:
        _say(f"Saved your edit as version {after['id']} ({after['note']}).")


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
        _say(f"Warning: {e}")
    rows = prof.history(database, profile, details=json_ or verbose)
    if json_:
        print_json(rows)
        return
    if not rows:
        _no_profile()
    if verbose:
        for r in rows:
            when = r["created_at"].replace("T", " ")[:16]
            typer.echo(f"Version {r['version']}  {when}  {r['kind']}  ({r['note']})")
            for a in r["added"]:
                n = len(a["evidence"])
                support = f", {n} message{'s' if n != 1 else ''}" if n else ""
                who = "you" if a["author"] == "user" else "pxprofile"
                typer.echo(f'  + "{a["text"]}" [{a["section"]}] by {who}{support}')
            for d in r["removed"]:
                if d["superseded_by"]:
                    how = f'replaced by "{d["superseded_by"]}"'
                else:
                    how = "deleted by you" if d["status"] == "deleted" else "retired"
                n = len(d["evidence"])
                why = f" ({n} message{'s' if n != 1 else ''})" if n else ""
                typer.echo(f'  - "{d["text"]}" [{d["section"]}] {how}{why}')
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for col in ("Version", "Date", "Kind", "Lines", "Changes"):
        table.add_column(col, justify="right" if col in ("Version", "Lines") else "left")
    for r in rows:
        table.add_row(
            str(r["version"]),
            r["created_at"].replace("T", " ")[:16],
            r["kind"],
            str(r["lines"]),
            r["note"] or "",
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

    database = _db(db)
    versions = prof.history(database, profile)
    if not versions:
        _no_profile()
    now = prof.file_text(profile)
    name = prof.profile_file(profile).name
    if a is None:
        last = versions[-1]
        if now is not None and now != prof.version_text(database, last["version"], profile):
            a_text, a_label, b_text, b_label = (
                prof.version_text(database, last["version"], profile),
                f"version {last['version']}",
                now,
                f"{name} (now)",
            )
        else:
            prev = versions[-2] if len(versions) > 1 else None
            a_text = prof.version_text(database, prev["version"], profile) if prev else ""
            a_label = f"version {prev['version']}" if prev else "(empty)"
            b_text, b_label = (
                prof.version_text(database, last["version"], profile),
                f"version {last['version']}",
            )
    else:
        a_text, a_label = prof.version_text(database, a, profile), f"version {a}"
        if b is None:
            if now is None:
                fail(f"{name} does not exist. Compare two versions: `pxprofile diff {a} N`")
            b_text, b_label = now, f"{name} (now)"
        else:
            b_text, b_label = prof.version_text(database, b, profile), f"version {b}"
    out = prof.unified_diff(a_text, b_text, a_label, b_label)
    if out:
        sys.stdout.write(out)
    else:
        _say("No differences.")


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

    database = _db(db)
    new = prof.revert(database, version, profile)
    if new is None:
        _say(f"The profile already matches version {version}; nothing to do.")
    else:
        _say(f"Restored version {version} as version {new}.")


def _day(ts: str | None) -> str:
    return ts[:10] if ts else "undated"


_SAID_BY = {"user": "you wrote", "assistant": "the reply said", "tool": "a tool returned"}


def _print_evidence(items: list[dict], indent: str = "  ") -> None:
    for e in items:
        if not e["found"]:
            typer.echo(f"{indent}- message {e['message_id']} (no longer in the database)")
            continue
        title = e["conversation_title"] or "(untitled conversation)"
        said = _SAID_BY.get(e["role"], e["role"] or "the message said")
        typer.echo(f"{indent}- {title}, {_day(e['created_at'])}, {said}:")
        typer.echo(f'{indent}  "{e["quote"]}"')


def _print_why(item: dict) -> None:
    status = "" if item["status"] == "active" else f" [{item['status']}]"
    typer.echo(f'"{item["text"]}" ({item["section"]}){status}')
    if item.get("imported"):  # issue 14: a memory adopted from another tool
        src = item["imported"]
        typer.echo(f"  Imported from {src['origin']}: {src['file']}, {_day(src['imported_at'])}.")
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
        n = len(item["evidence"])
        span = ""
        if item["first_supported"]:
            span = f", supported {_day(item['first_supported'])}"
            if _day(item["last_supported"]) != _day(item["first_supported"]):
                span += f" to {_day(item['last_supported'])}"
        typer.echo(f"  Written by pxprofile from {n} message{'s' if n != 1 else ''}{span}:")
    _print_evidence(item["evidence"])
    if item["status"] != "active":
        when = _day(item["retired_at"])
        if item["superseded_by"]:
            typer.echo(f'  Replaced on {when} by: "{item["superseded_by"]["text"]}"')
        elif item["status"] == "deleted":
            typer.echo(f"  You deleted it on {when}; pxprofile will not add it again.")
        else:
            typer.echo(f"  Retired on {when}.")
        if item["retired_by_evidence"]:
            typer.echo("  Evidence that retired it:")
            _print_evidence(item["retired_by_evidence"], "    ")
    for prev in item["earlier"]:
        who = "you" if prev["author"] == "user" else "pxprofile"
        typer.echo(f'  Earlier wording (by {who}): "{prev["text"]}"')
        _print_evidence(prev["evidence"], "    ")


@app.command()
def why(
    text: Annotated[str, typer.Argument(help="Part of a profile line (case does not matter).")],
    profile: ProfileOption = None,
    db: DbOption = None,
    json_: JsonOption = False,
) -> None:
    """Show the messages behind a profile line: conversation, date and your words."""
    from pxprofile import profile as prof
    from pxprofile.imported import annotate

    database = _db(db)
    items = annotate(database, prof.why(database, text, profile))  # issue 14: imported from
    if json_:
        print_json(items)
        return
    if not items:
        fail(f"no line in the profile contains {text!r}. See `pxprofile show`")
    for i, item in enumerate(items):
        if i:
            typer.echo("")
        _print_why(item)
