"""The first-run question before an update: download the default model now? [Y/n]."""

from __future__ import annotations

import sys

import typer


def offer_download(db, model: str | None, *, backend: str = "llama", quiet: bool = False):
    """On a terminal, when there is something to read and the model must be downloaded first,
    ask once and pull it (with a progress bar). Returns the model name the update should use.

    Not asked (today's hint or error stays): stdin or stderr not a terminal, --quiet/--json, a
    server backend, HF_HUB_OFFLINE, a "no" given before, nothing new to read.
    """
    from pxprofile.models import chosen_model

    chosen = chosen_model(model)
    if quiet or backend != "llama" or not (sys.stdin.isatty() and sys.stderr.isatty()):
        return chosen
    from pxprofile import firstrun, models, signals

    spec = firstrun.download_offer(model)
    if spec is None or signals.pending(db) == 0:
        return chosen
    question = f"Download {spec.name} ({models.format_size(spec.size)}) from Hugging Face? [Y/n] "
    answer = _yes(question)
    if not answer:
        if answer is False:  # a "no" is remembered; end of input is not an answer
            firstrun.decline()
        typer.echo(
            f"Not downloading; pxprofile will not ask again. Run `pxprofile model pull "
            f"{spec.name}` when you want it, or `pxprofile model use NAME` for another model.",
            err=True,
        )
        return chosen
    typer.echo(f"Pulling {spec.name} from {spec.repo} ({spec.file})...", err=True)
    models.pull(spec.name, progress=True)
    if chosen is None:  # later updates (and the one after each ingest) use it too
        models.set_default(spec.name)
    typer.echo(f"{spec.name} is ready.", err=True)
    return spec.name


def _yes(question: str) -> bool | None:
    """[Y/n]: Enter or y/yes is yes, n/no is no; None at the end of input."""
    while True:
        typer.echo(question, err=True, nl=False)
        line = sys.stdin.readline()
        if not line:
            typer.echo("", err=True)
            return None
        answer = line.strip().lower()
        if answer in ("", "y", "yes"):
            return True
        if answer in ("n", "no"):
            return False
        typer.echo("Answer y or n.", err=True)
