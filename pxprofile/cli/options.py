"""Options shared by several commands, declared once (sqlite-utils' ``output_options`` idea).

Each is an ``Annotated`` type: a command takes ``profile: ProfileOption = None``. Short flags are
the same everywhere they exist: -p --profile, -m --model, -q --quiet, -v --verbose, -f --for
(export; --format has no short flag: formats are detected by content).

Fixed sets of names (pxprofile.choices owns them) are typer choices: an Enum per set, so a wrong
name is a usage error that lists the right ones.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from pxprofile import choices

ProfileOption = Annotated[
    str | None,
    typer.Option(
        "--profile", "-p", help="Profile name (default: profile.md; NAME: profile-NAME.md)."
    ),
]
DbOption = Annotated[
    Path | None,
    typer.Option(
        "--db", help="SQLite database to use (default: pxprofile.db in the data directory)."
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Output JSON.")]
NlOption = Annotated[bool, typer.Option("--nl", help="Output one JSON object per line.")]
ModelOption = Annotated[
    str | None,
    typer.Option("--model", "-m", help="Model to use (default: `pxprofile model use`)."),
]
# how the model runs (`update`, `eval`); engine_options() turns them into load_engine's keywords
GpuLayersOption = Annotated[
    int | None,
    typer.Option(
        "--gpu-layers", help="Layers to offload to the GPU (-1 all; default: all when available)."
    ),
]
CtxOption = Annotated[
    int | None, typer.Option("--ctx", "--n-ctx", min=256, help="Context window in tokens.")
]
ThreadsOption = Annotated[int | None, typer.Option("--threads", min=1, help="CPU threads.")]
BaseUrlOption = Annotated[
    str | None, typer.Option("--base-url", help="openai backend: http://HOST:PORT/v1.")
]
QuietOption = Annotated[
    bool, typer.Option("--quiet", "-q", help="No progress or summary on stderr.")
]
VerboseOption = Annotated[bool, typer.Option("--verbose", "-v", help="Say more.")]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


def engine_options(gpu_layers, ctx, threads, backend, base_url, verbose, api_key=None) -> dict:
    """The model options given, as load_engine's keywords (the default backend left out)."""
    opts = {
        "n_ctx": ctx,
        "n_threads": threads,
        "gpu_layers": gpu_layers,
        "verbose": verbose,
        "backend": str(backend),
        "base_url": base_url,
        "api_key": api_key,
    }
    return {
        k: v for k, v in opts.items() if v is not None and not (k == "backend" and v == "llama")
    }


class Place(StrEnum):
    """What `pxprofile path` locates."""

    home = "home"
    db = "db"
    config = "config"
    profile = "profile"
    models = "models"


def _choice(name: str, values: tuple[str, ...]) -> type[StrEnum]:
    return StrEnum(name, {v: v for v in values})


Format = _choice("Format", choices.FORMATS)
Agent = _choice("Agent", choices.AGENTS)
Target = _choice("Target", choices.TARGETS)
ClaudeStyle = _choice("ClaudeStyle", choices.CLAUDE_STYLES)
ChatgptField = _choice("ChatgptField", choices.CHATGPT_FIELDS)
PromptStyle = _choice("PromptStyle", choices.PROMPT_STYLES)
Backend = _choice("Backend", choices.BACKENDS)
BackendOption = Annotated[
    Backend, typer.Option("--backend", help="llama (in-process) or openai (a server).")
]
