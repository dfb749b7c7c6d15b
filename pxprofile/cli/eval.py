"""`pxprofile eval`: how well the profile predicts the user's own choices."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from . import DbOption, JsonOption, app, print_json, stderr_console
from .options import (
    Backend,
    BackendOption,
    BaseUrlOption,
    CtxOption,
    GpuLayersOption,
    ModelOption,
    ProfileOption,
    ThreadsOption,
    engine_options,
)


@app.command("eval")
def eval_(
    model: ModelOption = None,
    profile: ProfileOption = None,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Score at most N choices (newest first).")
    ] = None,
    per_line: Annotated[
        bool,
        typer.Option("--per-line", help="Also leave each line out in turn: which lines help."),
    ] = False,
    gpu_layers: GpuLayersOption = None,
    ctx: CtxOption = None,
    threads: ThreadsOption = None,
    backend: BackendOption = Backend.llama,
    base_url: BaseUrlOption = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar on stderr.")
    ] = False,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Measure how well your profile predicts your own choices.

    Scores each recorded choice (a reply you kept over one you regenerated away, an A/B
    comparison, a thumbs up against a thumbs down) with the profile and without it, from the
    model's probabilities. Choices that are evidence for a profile line are left out.
    """
    from pxprofile.evaluate import evaluate
    from pxprofile.store import open_db

    opts = engine_options(gpu_layers, ctx, threads, backend, base_url, False)
    with _Bar(quiet) as progress:
        result = evaluate(
            open_db(db), model=model, engine_options=opts, profile=profile, limit=limit,
            per_line=per_line, progress=progress,
        )  # fmt: skip
    if as_json:
        print_json(result.to_dict())
    else:
        typer.echo("\n".join(result.summary()))


class _Bar:
    """A rich progress bar on stderr while choices are scored; silent under --quiet or when
    stderr is not a terminal."""

    def __init__(self, quiet: bool):
        self.bar = None
        if quiet or not sys.stderr.isatty():
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        self.bar = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=stderr_console(),
            transient=True,
        )
        self.task = self.bar.add_task("Scoring choices", total=None)

    def __enter__(self):
        if self.bar is None:
            return None
        self.bar.start()
        return lambda done, total: self.bar.update(self.task, completed=done, total=total)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.stop()
        return False
