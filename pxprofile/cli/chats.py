"""`pxprofile chats list|show|search` and `pxprofile stats`: browse what was recorded."""

from __future__ import annotations

from typing import Annotated

import typer

from . import app
from .options import DbOption, JsonOption, NlOption
from .output import emit_rows, minute, print_json

chats_app = typer.Typer(
    help="Browse the recorded conversations.", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(chats_app, name="chats")


@chats_app.command("list")
def list_(
    limit: Annotated[
        int, typer.Option("--limit", "-n", help="How many, newest first (0: all).")
    ] = 50,
    format: Annotated[str | None, typer.Option("--format", help="Only this source format.")] = None,
    json_: JsonOption = False,
    nl: NlOption = False,
    db: DbOption = None,
) -> None:
    """List conversations, newest first."""
    from pxprofile.chats import list_conversations
    from pxprofile.store import open_db

    rows = list_conversations(open_db(db), limit=limit or None, format=format)
    if emit_rows(rows, json_, nl):
        return
    for r in rows:
        date = (r["updated_at"] or r["created_at"] or "")[:10] or "-"
        typer.echo(f"{r['id']}  {date:<10}  {r['messages']:>5} msgs  {r['title'] or '(untitled)'}")


@chats_app.command()
def show(
    conversation: Annotated[str, typer.Argument(help="Conversation id (or a unique part of it).")],
    all_branches: Annotated[
        bool, typer.Option("--all-branches", help="Also show branches the user did not keep.")
    ] = False,
    hidden: Annotated[
        bool, typer.Option("--hidden", help="Also show hidden messages (system, tools, reasoning).")
    ] = False,
    json_: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Show a conversation: the path the user kept (or every branch)."""
    from pxprofile.chats import show_conversation
    from pxprofile.store import open_db

    conv = show_conversation(open_db(db), conversation, all_branches=all_branches, hidden=hidden)
    if json_:
        return print_json(conv)
    typer.echo(f"# {conv['title'] or '(untitled)'}")
    typer.echo(f"{conv['id']} · {conv['format']} · {minute(conv['created_at'])}")
    for m in conv["messages"]:
        _print_message(m)


def _print_message(m: dict) -> None:
    marks = []
    if not m["on_active_path"]:
        marks.append("other branch")
    if m["hidden"]:
        marks.append("hidden")
    if m["author_name"]:
        marks.append(m["author_name"])
    when = minute(m["created_at"])
    head = f"{'  ' * m['depth']}## {m['role']}" + (f" ({', '.join(marks)})" if marks else "")
    typer.echo(f"\n{head}{'  ' + when if when else ''}\n")
    typer.echo(m["text"])


@chats_app.command()
def search(
    query: Annotated[str, typer.Argument(help="Words to find (full-text search).")],
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many results.")] = 20,
    hidden: Annotated[bool, typer.Option("--hidden", help="Also search hidden messages.")] = False,
    json_: JsonOption = False,
    nl: NlOption = False,
    db: DbOption = None,
) -> None:
    """Search message text (best matches first)."""
    from pxprofile.chats import search_messages
    from pxprofile.store import open_db

    rows = search_messages(open_db(db), query, limit=limit, hidden=hidden)
    if emit_rows(rows, json_, nl):
        return
    for r in rows:
        typer.echo(f"{r['conversation_id']}  {r['role']}: {r['snippet']}")


@app.command()
def stats(json_: JsonOption = False, db: DbOption = None) -> None:
    """Count what is recorded: sources, conversations, messages, pairs, feedback."""
    from pxprofile.chats import stats as get_stats
    from pxprofile.store import open_db

    data = get_stats(open_db(db))
    if json_:
        return print_json(data)
    for key, value in data.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items()) or "-"
        typer.echo(f"{key.replace('_', ' ')}: {value}")
