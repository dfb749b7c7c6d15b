"""Options shared by several commands, declared once (sqlite-utils' ``output_options`` idea).

Each is an ``Annotated`` type: a command takes ``profile: ProfileOption = None``. Short flags are
the same everywhere they exist: -p --profile, -m --model, -q --quiet, -v --verbose.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

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
QuietOption = Annotated[
    bool, typer.Option("--quiet", "-q", help="No progress or summary on stderr.")
]
VerboseOption = Annotated[bool, typer.Option("--verbose", "-v", help="Say more.")]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


class Place(StrEnum):
    """What `pxprofile path` locates."""

    home = "home"
    db = "db"
    config = "config"
    profile = "profile"
    models = "models"
