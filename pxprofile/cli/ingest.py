"""`pxprofile ingest FILE... | -`: record chat exports in the database."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Annotated

import typer

from pxprofile.choices import FORMATS

from . import app
from .options import Agent, DbOption, JsonOption, ModelOption, QuietOption
from .output import print_json, stderr_console

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
            "--format",  # no short flag: formats are detected by content (-f is export's --for)
            help=f"Force a format: {', '.join(FORMATS)}.",
        ),
    ] = None,
    json_: JsonOption = False,
    no_update: Annotated[
        bool, typer.Option("--no-update", help="Do not update the profile after ingesting.")
    ] = False,
    model: ModelOption = None,
    quiet: QuietOption = False,
    redact_storage: Annotated[
        bool,
        typer.Option(
            "--redact-storage", help="Keep only redacted text in the database (no originals)."
        ),
    ] = False,
    from_agent: Annotated[
        Agent | None,
        typer.Option(
            "--from",
            help="A coding agent's sessions (FILES: folders or files to read instead of the "
            "agent's own folder).",
        ),
    ] = None,
    db: DbOption = None,
) -> None:
    """Record chat exports (ChatGPT, Claude, Gemini, OpenAI, ShareGPT, Open WebUI, llm, text)
    and coding-agent sessions (Claude Code, Codex, Gemini CLI, aider; see --from).

    Formats are detected by content. Ingesting the same export again adds nothing new.
    """
    from pxprofile.ingest import ingest_files
    from pxprofile.store import open_db

    report = _Report(quiet or json_, model=model, update=not no_update)
    if from_agent is not None:
        return _ingest_agent(from_agent.value, files, db, redact_storage, json_, report, format)
    files = files or _stdin_or_usage_error()
    database = open_db(db)
    run = ingest_files(database, files, format=format, redact_storage=redact_storage, report=report)
    if json_:
        print_json(run.to_dict())
    elif len(files) > 1 and not quiet:
        report.say(run.total_line())
    report.finish(database, run)


def _stdin_or_usage_error() -> list[str]:
    """No FILES: read stdin when something is piped in, else a usage error."""
    if sys.stdin.isatty():
        raise typer.BadParameter(
            "give one or more export files, or '-' to read stdin", param_hint="FILES"
        )
    return ["-"]


def _ingest_agent(agent, paths, db, redact_storage, as_json, report: _Report, format) -> None:
    """`ingest --from AGENT`: the discovery and the per-file ingests are sync.ingest_agent."""
    from pxprofile.importers.detect import check_format
    from pxprofile.store import open_db
    from pxprofile.sync import ingest_agent

    check_format(format)  # not used with --from (agents are detected), but still a wrong name
    database = open_db(db)
    done = ingest_agent(
        database, agent, paths or None, redact_storage=redact_storage, require_files=True
    )
    for line in [s.line() for s in done.summaries] + [f"Error: {f}" for f in done.failures]:
        if not report.quiet or line.startswith("Error:"):
            report.say(line)
    if as_json:
        print_json(done.to_dict())
    elif not report.quiet:
        report.say(done.done_line())
    report.finish(database, done)


class _Report:
    """ingest_files' report on stderr: progress bars, one line per file, the update after."""

    def __init__(self, quiet: bool, *, model: str | None, update: bool):
        self.quiet, self.model, self.update = quiet, model, update

    @cached_property
    def err(self):
        return stderr_console()  # rich loads only when something is said (not with --quiet)

    def say(self, line: str) -> None:
        self.err.print(line, markup=False, soft_wrap=True)

    def progress(self, name: str):
        return _progress(name, self.quiet, lambda: self.err)

    def summary(self, summary) -> None:
        if not self.quiet:
            self.say(summary.line())

    def failure(self, message: str) -> None:
        typer.echo(f"Error: {message}", err=True)

    def finish(self, database, run) -> None:
        """The update after (see after_ingest); exit 1 when a file could not be ingested."""
        self.after_ingest(database, run.summaries)
        if run.failures:
            raise typer.Exit(1)

    def after_ingest(self, database, summaries: list) -> None:
        """Update the profile from what was just recorded (unless --no-update or nothing was).
        An update that cannot run is a warning: it never fails an ingest that succeeded. A bug
        (any other exception) is not hidden."""
        from pxprofile.errors import PxprofileError

        from .update import after_ingest

        if not summaries or not self.update:
            return
        try:
            after_ingest(database, quiet=self.quiet, model=self.model)
        except PxprofileError as e:
            msg = " ".join(str(e).split()).rstrip(".")
            self.say(f"Warning: the profile was not updated: {msg}. Run `pxprofile update` again.")


class _progress:
    """A rich progress bar on stderr, only for big files when stderr is a terminal."""

    def __init__(self, name: str, quiet: bool, console: Callable):
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
            console=console(),
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
