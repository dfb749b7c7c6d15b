"""`pxprofile ingest FILE... | -`: record chat exports in the database."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from . import DbOption, JsonOption, app, print_json, stderr_console

BIG_INPUT = 20 * 1024**2  # show a progress bar above this size (when stderr is a terminal)


@app.command()
def ingest(
    files: Annotated[
        list[str] | None,
        typer.Argument(
            help="Export files (zip, JSON, JSONL, llm logs.db, transcript); '-' reads stdin."
        ),
    ] = None,
    format: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            help="Force a format: chatgpt, claude, gemini, openai, sharegpt, openwebui, llm, text.",
        ),
    ] = None,
    json_: JsonOption = False,
    no_update: Annotated[
        bool, typer.Option("--no-update", help="Do not update the profile after ingesting.")
    ] = False,
    model: Annotated[
        str | None, typer.Option("--model", help="Model for the profile update.")
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress or summary on stderr.")
    ] = False,
    redact_storage: Annotated[
        bool,
        typer.Option(
            "--redact-storage", help="Keep only redacted text in the database (no originals)."
        ),
    ] = False,
    db: DbOption = None,
) -> None:
    """Record chat exports (ChatGPT, Claude, Gemini, OpenAI, ShareGPT, Open WebUI, llm, text).

    Formats are detected by content. Ingesting the same export again adds nothing new.
    """
    from pxprofile.errors import PxprofileError
    from pxprofile.importers.detect import check_format
    from pxprofile.ingest import IngestSummary, ingest_path
    from pxprofile.store import open_db

    try:
        check_format(format)
    except PxprofileError as e:
        raise typer.BadParameter(str(e), param_hint="--format") from None
    if not files:
        if sys.stdin.isatty():
            raise typer.BadParameter(
                "give one or more export files, or '-' to read stdin", param_hint="FILES"
            )
        files = ["-"]
    database = open_db(db)
    err = stderr_console()
    summaries: list[IngestSummary] = []
    failed = 0
    for name in files:
        try:
            with _progress(name, quiet or json_, err) as progress:
                summary = ingest_path(
                    database, name, format=format, progress=progress, redact_storage=redact_storage
                )
        except PxprofileError as e:
            if len(files) == 1:
                raise
            failed += 1
            typer.echo("Error: " + " ".join(str(e).split()), err=True)
            continue
        summaries.append(summary)
        if not quiet and not json_:
            err.print(summary.line(), markup=False, soft_wrap=True)
    total = {
        k: sum(getattr(s, k) for s in summaries)
        for k in ("conversations", "messages", "added", "skipped", "pairs", "feedback")
    }
    if json_:
        print_json(
            {
                **total,
                "errors": [e for s in summaries for e in s.errors],
                "files": [s.to_dict() for s in summaries],
            }
        )
    elif len(files) > 1 and not quiet:
        conversations, added, pairs = (
            _plural(total["conversations"], "conversation"),
            _plural(total["added"], "message"),
            _plural(total["pairs"], "pair"),
        )
        err.print(
            f"Total: {len(summaries)} of {len(files)} files, {conversations}, {added} added, "
            f"{total['skipped']} skipped, {pairs}.",
            markup=False,
            soft_wrap=True,
        )
    if summaries and not no_update:
        _after_ingest(database, quiet=quiet or json_, model=model, err=err)
    if failed:
        raise typer.Exit(1)


def _plural(k: int, word: str) -> str:
    return f"{k} {word}{'' if k == 1 else 's'}"


def _after_ingest(database, *, quiet: bool, model: str | None, err) -> None:
    from pxprofile.errors import PxprofileError

    from .update import after_ingest

    try:
        after_ingest(database, quiet=quiet, model=model)
    except PxprofileError as e:  # the ingest succeeded; a model problem is a warning, a bug is not
        err.print(
            f"Warning: the profile was not updated: {e} Run `pxprofile update` to retry.",
            markup=False,
            soft_wrap=True,
        )


class _progress:
    """A rich progress bar on stderr, only for big files when stderr is a terminal."""

    def __init__(self, name: str, quiet: bool, console):
        self.bar = None
        if quiet or name == "-" or not sys.stderr.isatty():
            return
        path = Path(name)
        if not path.is_file() or path.stat().st_size < BIG_INPUT:
            return
        from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

        self.bar = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            DownloadColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self.task = self.bar.add_task(path.name, total=path.stat().st_size)

    def __enter__(self):
        if self.bar is None:
            return None
        self.bar.start()
        return lambda done, total: self.bar.update(self.task, completed=done)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.stop()
        return False
