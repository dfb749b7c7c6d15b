"""`pxprofile export`: the profile as text for another LLM, on stdout."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from . import app
from .options import (
    ChatgptField,
    ClaudeStyle,
    DbOption,
    JsonOption,
    ModelOption,
    ProfileOption,
    Target,
)

TARGET_HELP = "Target (claude-code, codex, gemini-cli: an agent's instruction file, with --write)."


SourceArg = Annotated[
    str | None,
    typer.Argument(help="A profile file to export instead of your profile; - reads stdin."),
]
TargetOption = Annotated[Target, typer.Option("--for", "-f", help=TARGET_HELP)]
StyleOption = Annotated[
    ClaudeStyle | None,
    typer.Option(
        "--style", help="claude only: 'memory' for the dated lines Claude's memory import reads."
    ),
]
FieldOption = Annotated[
    ChatgptField | None,
    typer.Option("--field", help="chatgpt only: print one field, unlabelled."),
]
MaxCharsOption = Annotated[
    int | None,
    typer.Option(
        "--max-chars",
        min=1,
        help="Fit the output (each field for chatgpt; default 1500) in N characters.",
    ),
]
MaxTokensOption = Annotated[
    int | None,
    typer.Option(
        "--max-tokens",
        min=1,
        help="Fit the output in N tokens (the model's tokenizer, else chars/4).",
    ),
]
TaskOption = Annotated[
    str | None,
    typer.Option(
        "--task", help='Keep only what is relevant to a task, e.g. "write a cover letter".'
    ),
]
BaseModelOption = Annotated[
    str | None, typer.Option("--base-model", help="ollama only: the model for the FROM line.")
]
FromOption = Annotated[
    Path | None, typer.Option("--from", help="Read the profile from this file (- for stdin).")
]
ForceOption = Annotated[
    bool, typer.Option("--force", help="Export even lines the egress check refuses.")
]
WriteOption = Annotated[
    bool,
    typer.Option(
        "--write",
        help="claude-code, codex, gemini-cli: update the managed block in the agent's "
        "user-level file (~/.claude/CLAUDE.md, $CODEX_HOME/AGENTS.md, ~/.gemini/GEMINI.md).",
    ),
]


@app.command()
def export(
    source: SourceArg = None,
    target: TargetOption = Target["claude"],
    style: StyleOption = None,
    field: FieldOption = None,
    max_chars: MaxCharsOption = None,
    max_tokens: MaxTokensOption = None,
    task: TaskOption = None,
    model: ModelOption = None,
    base_model: BaseModelOption = None,
    from_file: FromOption = None,
    profile: ProfileOption = None,
    force: ForceOption = False,
    write: WriteOption = False,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print the profile as a prompt for another LLM (only the text goes to stdout).

    pxprofile export --for claude | pbcopy
    """
    from pxprofile.exporter import run_export

    run = run_export(
        source, target.value, style=style and style.value, field=field and field.value,
        from_file=from_file, db=db, profile=profile, max_chars=max_chars, max_tokens=max_tokens,
        task=task, model=model, base_model=base_model, as_json=as_json, force=force, write=write,
    )  # fmt: skip
    _write(run.text)
    for note in run.notes:
        typer.echo(note, err=True)


def _write(text: str) -> None:
    """Write the export to stdout: a closed pipe or a full disk is a clean error (exit 1)."""
    from pxprofile.errors import ExportError

    from . import _silence_stdout

    if not text:
        return
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError as e:
        _silence_stdout()
        raise ExportError(
            "stdout was closed before the export was written. Nothing was lost; run it again."
        ) from e
    except OSError as e:
        _silence_stdout()
        raise ExportError(
            f"cannot write the export to stdout: {e.strerror or e}. Redirect it elsewhere."
        ) from e
