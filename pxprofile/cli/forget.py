"""`pxprofile forget`: delete a conversation, an imported file or matching messages everywhere."""

from __future__ import annotations

from typing import Annotated

import typer

from . import app
from .options import DbOption, JsonOption, ProfileOption, YesOption
from .output import interactive, print_json, stderr_console


@app.command()
def forget(
    conversation: Annotated[
        str | None, typer.Option("--conversation", "-c", help="Conversation id (as `chats list`).")
    ] = None,
    source: Annotated[
        str | None, typer.Option("--source", "-s", help="Imported file: its source id or path.")
    ] = None,
    search: Annotated[
        str | None, typer.Option("--search", help="Every message containing these words or text.")
    ] = None,
    yes: YesOption = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would go; delete nothing.")
    ] = False,
    profile: ProfileOption = None,
    json_: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Delete chats from the database and full-text index, and retire profile lines resting on them.

    Shows what will be deleted and the profile diff first; asks for confirmation on a terminal
    (pass --yes otherwise). Profile lines you wrote are never touched; lines a forgotten file
    imported go, unless you changed them.
    """
    from pxprofile import forget as core
    from pxprofile.store import open_db

    database = open_db(db)
    plan = core.plan_forget(
        database, conversation=conversation, source=source, search=search, profile=profile
    )
    if _preview(plan, json_, dry_run):
        return
    _confirm(yes)
    result = core.forget(database, plan, profile=profile)
    if json_:
        return print_json({"deleted": True, **result.to_dict()})
    stderr_console().print(result.summary(), markup=False, soft_wrap=True)


def _preview(plan, json_: bool, dry_run: bool) -> bool:
    """Show what would go; True when nothing more is to be done (nothing matches, --dry-run)."""
    if plan.empty:
        _nothing(json_)
        return True
    if not json_:
        _show_plan(plan)
    if dry_run and json_:
        print_json({"deleted": False, **plan.to_dict()})
    return dry_run


def _nothing(json_: bool) -> None:
    from pxprofile.errors import InputError

    if json_:
        return print_json({"deleted": False, "messages": 0})
    raise InputError(
        "nothing matches: no message, conversation or file to forget. Check the id or words."
    )


def _show_plan(plan) -> None:
    err = stderr_console()
    err.print(plan.summary(), markup=False, soft_wrap=True)
    for title in plan.titles[:10]:
        err.print(f"  - {title}", markup=False, soft_wrap=True)
    if plan.diff:
        err.print(plan.diff, markup=False, highlight=False, end="")


def _confirm(yes: bool) -> None:
    """--yes, or a yes on a terminal; else nothing is deleted."""
    from pxprofile.errors import InputError

    if yes:
        return
    if not interactive(prompt_on_stderr=True):
        raise InputError("refusing to delete without confirmation. Pass --yes to delete.")
    if not typer.confirm("Delete them permanently?", default=False, err=True):
        stderr_console().print("Nothing was deleted.", markup=False)
        raise typer.Exit(1)
