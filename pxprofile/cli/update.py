"""`pxprofile update`, and the update that runs after `pxprofile ingest`."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from . import DbOption, JsonOption, app, fail, print_json, stderr_console

NO_MODEL_HINT = (
    "No model configured: run `pxprofile model use gemma3-270m` (offline, for trying it out) or "
    "`pxprofile model pull qwen3-4b && pxprofile model use qwen3-4b`, then `pxprofile update`."
)


@app.command()
def update(
    model: Annotated[
        str | None,
        typer.Option("--model", "-m", help="Model to use (default: `pxprofile model use`)."),
    ] = None,
    budget: Annotated[
        int,
        typer.Option(
            "--budget",
            min=1,
            help="Evidence tokens to read when there is more than that (strongest first).",
        ),
    ] = 6000,
    read_all: Annotated[
        bool, typer.Option("--all", help="Read all new evidence, in as many batches as it takes.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the proposed diff; change nothing.")
    ] = False,
    review: Annotated[
        bool, typer.Option("--review", help="Accept or reject each proposed change.")
    ] = False,
    profile: Annotated[str | None, typer.Option("--profile", help="Profile name.")] = None,
    gpu_layers: Annotated[
        int | None,
        typer.Option(
            "--gpu-layers",
            help="Layers to offload to the GPU (-1 all; default: all when available).",
        ),
    ] = None,
    ctx: Annotated[
        int | None, typer.Option("--ctx", "--n-ctx", min=256, help="Context window in tokens.")
    ] = None,
    threads: Annotated[int | None, typer.Option("--threads", min=1, help="CPU threads.")] = None,
    backend: Annotated[
        str, typer.Option("--backend", help="llama (in-process) or openai (a server).")
    ] = "llama",
    base_url: Annotated[
        str | None, typer.Option("--base-url", help="openai backend: http://HOST:PORT/v1.")
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            help="openai backend: the server's API key (default: $PXPROFILE_API_KEY; "
            "$OPENAI_API_KEY only for api.openai.com).",
        ),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show rejected changes and llama.cpp logs.")
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress or summary on stderr.")
    ] = False,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Learn from new chats: propose and apply changes to your profile.

    Reads what was not read before (strongest evidence first, within --budget tokens),
    asks the model for changes citing that evidence, and applies the valid ones. Lines you
    wrote or edited are never changed.
    """
    from pxprofile import infer
    from pxprofile.store import open_db

    if dry_run and review:
        raise typer.BadParameter("give --dry-run or --review, not both", param_hint="--review")
    review_fn = _review_fn() if review else None
    database = open_db(db)
    console = stderr_console()
    say = (
        (lambda msg: None)
        if quiet or as_json
        else (lambda msg: console.print(msg, markup=False, soft_wrap=True))
    )
    from pxprofile.cli.firstrun import offer_download  # issue 14: first-run download question

    model = offer_download(database, model, backend=backend, quiet=quiet or as_json)
    result = infer.update(
        database,
        model=model,
        engine_options=_engine_options(
            gpu_layers, ctx, threads, backend, base_url, verbose, api_key
        ),
        profile=profile,
        budget=budget,
        read_all=read_all,
        dry_run=dry_run,
        review=review_fn,
        progress=say,
    )
    if verbose:
        for op, reason in result.rejected:
            console.print(f"Rejected {_describe(op)}: {reason}", markup=False, soft_wrap=True)
    if as_json:
        print_json(_as_dict(result))
    elif dry_run and result.diff:
        typer.echo(result.diff, nl=False)
    say(result.summary())
    if result.status == "failed":
        fail(
            "the model's output could not be used, so nothing was changed. Run `pxprofile update` "
            "again, or use a larger model (`pxprofile model use qwen3-4b`)"
        )


def _engine_options(gpu_layers, ctx, threads, backend, base_url, verbose, api_key=None) -> dict:
    opts = {
        "n_ctx": ctx,
        "n_threads": threads,
        "gpu_layers": gpu_layers,
        "verbose": verbose,
        "backend": backend,
        "base_url": base_url,
        "api_key": api_key,
    }
    return {
        k: v for k, v in opts.items() if v is not None and not (k == "backend" and v == "llama")
    }


def _describe(op: dict) -> str:
    action = op.get("op", "?")
    if action == "add":
        return f"add to {op.get('section')!s}: {op.get('text')!r}"
    where = op.get("line") if op.get("line") is not None else op.get("line_id")
    return f"{action} line {where}" + (f": {op.get('text')!r}" if op.get("text") else "")


def _as_dict(result) -> dict:
    return {
        "status": result.status,
        "update_id": result.update_id,
        "model": result.model,
        "messages_read": result.messages_read,
        "messages_available": result.messages_available,
        "messages_left": result.messages_left,
        "evidence": result.evidence,
        "batches": result.batches,
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.completion_tokens,
        "version": result.version,
        "applied": [
            {
                "op": c.action,
                "section": c.section,
                "line_id": c.line_id,
                "text": c.text,
                "evidence": list(c.evidence),
            }
            for c in result.applied
        ],
        "rejected": [{"op": op, "reason": reason} for op, reason in result.rejected],
        "diff": result.diff,
        "dry_run": result.dry_run,
    }


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
    """Called by `pxprofile ingest` unless --no-update. Must never make the ingest fail."""
    console = stderr_console()

    def say(msg: str) -> None:
        if not quiet:
            console.print(msg, markup=False, soft_wrap=True)

    try:
        from pxprofile import infer, signals
        from pxprofile.cli.firstrun import offer_download

        if signals.pending(db) == 0:
            return
        name = offer_download(db, model, quiet=quiet)
        if not name or not _model_available(name):
            console.print(NO_MODEL_HINT, markup=False, soft_wrap=True)
            return
        result = infer.update(db, model=name, progress=say)
        say(result.summary())
    except Exception as e:  # the ingest already succeeded; an update problem is a warning
        from pxprofile.errors import PxprofileError

        msg = str(e) if isinstance(e, PxprofileError) else f"{type(e).__name__}: {e}"
        msg = " ".join(msg.split()).rstrip(".")
        console.print(
            f"Warning: the update after ingest did not run: {msg}. "
            "Run `pxprofile update` to retry.",
            markup=False,
            soft_wrap=True,
        )


def _model_available(name: str) -> bool:
    """The model's GGUF is on this machine (or ships in an installed package): no download."""
    import importlib.util

    from pxprofile.errors import ModelError
    from pxprofile.models import get_model, local_path

    try:
        spec = get_model(name)
    except ModelError:
        return False
    if spec.kind == "package":
        return importlib.util.find_spec(spec.package) is not None
    return local_path(spec) is not None
