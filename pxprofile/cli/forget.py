"""`pxprofile forget`: delete a conversation, an imported file or matching messages everywhere."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from . import DbOption, JsonOption, app, fail, print_json, stderr_console


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
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would go; delete nothing.")
    ] = False,
    profile: Annotated[str | None, typer.Option("--profile", help="Profile name.")] = None,
    json_: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Delete chats from the database and full-text index, and retire profile lines resting on them.

    Shows what will be deleted and the profile diff first; asks for confirmation on a terminal
    (pass --yes otherwise). Profile lines you wrote are never touched.
    """
    from pxprofile.forget import forget as do_forget
    from pxprofile.forget import plan_forget
    from pxprofile.store import open_db

    if sum(x is not None for x in (conversation, source, search)) != 1:
        raise typer.BadParameter("give exactly one of --conversation, --source or --search")
    database = open_db(db)
    plan = plan_forget(
        database, conversation=conversation, source=source, search=search, profile=profile
    )
    err = stderr_console()
    if plan.empty:
        if json_:
            print_json({"deleted": False, "messages": 0})
            return
        fail("nothing matches: no message, conversation or file to forget. Check the id or words.")
    if not json_:
        err.print(plan.summary(), markup=False, soft_wrap=True)
        for title in plan.titles[:10]:
            err.print(f"  - {title}", markup=False, soft_wrap=True)
        if plan.diff:
            err.print(plan.diff, markup=False, highlight=False, end="")
    if dry_run:
        if json_:
            print_json({"deleted": False, **_plan_dict(plan)})
        return
    if not yes:
        if not (sys.stdin.isatty() and sys.stderr.isatty()):
            fail("refusing to delete without confirmation. Pass --yes to delete.")
        if not typer.confirm("Delete them permanently?", default=False, err=True):
            err.print("Nothing was deleted.", markup=False)
            raise typer.Exit(1)
    result = do_forget(database, plan, profile=profile)
    if json_:
        print_json({"deleted": True, **result.to_dict()})
        return
    err.print(
        f"Deleted {_n(result.messages, 'message')} ({_n(result.conversations, 'conversation')}, "
        f"{_n(result.pairs, 'pair')}, {result.feedback} feedback); retired "
        f"{_n(result.lines_retired, 'profile line')}.",
        markup=False,
        soft_wrap=True,
    )


def _n(k: int, word: str) -> str:
    return f"{k} {word}{'' if k == 1 else 's'}"


def _plan_dict(plan) -> dict:
    return {
        "conversations": len(plan.conversations),
        "messages": len(plan.messages),
        "pairs": len(plan.pairs),
        "feedback": len(plan.feedback),
        "sources": len(plan.sources),
        "lines_retired": len(plan.lines),
        "lines": [ln.text for ln in plan.lines],
    }
