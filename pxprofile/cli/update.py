"""`pxprofile update`, and the update that runs after `pxprofile ingest`."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from . import DbOption, JsonOption, app, fail, print_json, stderr_console
from .firstrun import offer_download
from .options import (
    Backend,
    BackendOption,
    BaseUrlOption,
    CtxOption,
    GpuLayersOption,
    ModelOption,
    ProfileOption,
    QuietOption,
    ThreadsOption,
    engine_options,
)

NO_MODEL_HINT = (
    "No model configured: run `pxprofile model use gemma3-270m` (offline, for trying it out) or "
    "`pxprofile model pull qwen3-4b && pxprofile model use qwen3-4b`, then `pxprofile update`."
)


def _one_mode(ctx: typer.Context, value: bool) -> bool:
    """--dry-run and --review exclude each other: whichever of them is parsed second says so."""
    if value and (ctx.params.get("dry_run") or ctx.params.get("review")):
        raise typer.BadParameter("give --dry-run or --review, not both", param_hint="--review")
    return value


Opt = typer.Option
BudgetOpt = Annotated[
    int, Opt("--budget", min=1, help="Tokens of chat one update reads (most informative first).")
]
AllOpt = Annotated[bool, Opt("--all", help="Read everything not read yet, however long it takes.")]
DryRunOpt = Annotated[
    bool, Opt("--dry-run", callback=_one_mode, help="Print the proposed diff; change nothing.")
]
ReviewOpt = Annotated[
    bool, Opt("--review", callback=_one_mode, help="Accept or reject each proposed change.")
]
ApiKeyOpt = Annotated[
    str | None,
    Opt(
        "--api-key",
        help="openai backend: the server's API key (default: $PXPROFILE_API_KEY; "
        "$OPENAI_API_KEY only for api.openai.com).",
    ),
]
ParallelOpt = Annotated[
    int, Opt("--parallel", min=1, help="openai backend: reading steps at once (server slots).")
]
VerboseOpt = Annotated[
    bool, Opt("--verbose", "-v", help="Say what was read and why, rejections, llama.cpp logs.")
]


@app.command()
def update(
    model: ModelOption = None,
    budget: BudgetOpt = 20_000,
    read_all: AllOpt = False,
    dry_run: DryRunOpt = False,
    review: ReviewOpt = False,
    profile: ProfileOption = None,
    gpu_layers: GpuLayersOption = None,
    ctx: CtxOption = None,
    threads: ThreadsOption = None,
    backend: BackendOption = Backend.llama,
    base_url: BaseUrlOption = None,
    api_key: ApiKeyOpt = None,
    parallel: ParallelOpt = 1,
    verbose: VerboseOpt = False,
    quiet: QuietOption = False,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Learn from new chats: read them with the model and update your profile.

    Every message you wrote is read by the model, in its context (what the assistant had said,
    what you chose, regenerated or rated). A plain update reads the most informative
    conversations first, within --budget tokens, and the next one continues; --all reads the
    rest. Lines you wrote or edited are never changed.
    """
    from pxprofile import infer
    from pxprofile.store import open_db

    options = engine_options(gpu_layers, ctx, threads, backend, base_url, verbose, api_key)
    database = open_db(db)
    model = offer_download(database, model, backend=backend, quiet=quiet or as_json)
    with _Bar(silent=quiet or as_json) as bar:
        result = infer.update(
            database, model=model, engine_options=options, profile=profile, budget=budget,
            read_all=read_all, dry_run=dry_run, review=_review_fn() if review else None,
            progress=bar.say, on_step=bar, parallel=parallel,
        )  # fmt: skip
    _render(result, bar, verbose=verbose, as_json=as_json)


def _render(result, bar: _Bar, *, verbose: bool, as_json: bool) -> None:
    if verbose:
        for line in result.explain():
            bar.console.print(line, markup=False, soft_wrap=True)
    if as_json:
        print_json(result.as_dict())
    elif result.dry_run and result.diff:
        typer.echo(result.diff, nl=False)
    bar.say(result.summary())
    if result.status == "failed":
        fail(
            "the model's output could not be used, so nothing was changed. Run `pxprofile update` "
            "again, or use a larger model (`pxprofile model use qwen3-4b`)"
        )


class _Bar:
    """Reading progress on stderr: the bar (conversations read of total, tokens/s, ETA) when
    stderr is a terminal, and progress lines (``say``); both silent under --quiet or --json."""

    def __init__(self, *, silent: bool):
        self.console, self.silent, self.progress, self.task = stderr_console(), silent, None, None
        self.enabled = not silent and sys.stderr.isatty()

    def say(self, msg: str) -> None:
        if not self.silent:
            self.console.print(msg, markup=False, soft_wrap=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.progress is not None:
            self.progress.stop()
        return False

    def __call__(self, step) -> None:
        if not self.enabled:
            return
        if self.progress is None:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

            self.progress = Progress(
                "[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                "{task.fields[rate]}", TimeRemainingColumn(), console=self.console, transient=True,
            )  # fmt: skip
            self.progress.start()
        what = "Reading conversations" if step.phase == "reading" else "Updating the profile"
        if self.task is None or self.progress.tasks[self.task].description != what:
            self.task = self.progress.add_task(what, total=step.total, rate="")
        elapsed = self.progress.tasks[self.task].elapsed or 0
        rate = f"{step.tokens / elapsed:,.0f} tokens/s" if elapsed > 0.5 and step.tokens else ""
        self.progress.update(self.task, completed=step.done, total=step.total, rate=rate)


def _review_fn():
    """Ask about each change on the terminal (prompt-toolkit); only when both ends are TTYs."""
    from pxprofile.errors import InputError

    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise InputError(
            "--review needs a terminal to ask on. Use --dry-run to see the changes instead."
        )

    from pxprofile.cli.review import make_review  # y/n/all/reject-rest per change (issue 5)

    return make_review()


def after_ingest(db, *, quiet: bool = False, model: str | None = None) -> None:
    """Called by `pxprofile ingest` unless --no-update. Without a model on this machine nothing
    is read (read means read by a model): one hint says how to get one."""
    from pxprofile import infer

    model = offer_download(db, model, quiet=quiet)  # the first-run download question
    with _Bar(silent=quiet) as bar:
        result = infer.after_ingest(db, model=model, progress=bar.say, on_step=bar)
    if result is not None and result.status == "no-model":
        bar.console.print(NO_MODEL_HINT, markup=False, soft_wrap=True)
    elif result is not None and not quiet:
        bar.say(result.summary())
