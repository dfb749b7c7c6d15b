"""Where pxprofile keeps its files. PXPROFILE_HOME overrides everything (tests set it)."""

from __future__ import annotations

import os
from pathlib import Path

from .text import DEFAULT_PROFILE

APP_NAME = "pxprofile"


def user_dir() -> Path:
    """The data directory: $PXPROFILE_HOME, else the platform's user data dir. Created on demand."""
    env = os.environ.get("PXPROFILE_HOME")
    if env:
        path = Path(env).expanduser()
    else:
        import platformdirs

        path = Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def db_path() -> Path:
    return user_dir() / "pxprofile.db"


def config_path() -> Path:
    return user_dir() / "config.toml"


def models_dir() -> Path:
    """Where assembled/added GGUF files live (pulled models stay in the Hugging Face cache)."""
    path = user_dir() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def profile_path(name: str | None = None) -> Path:
    """The profile file: profile.md, or profile-NAME.md for --profile NAME."""
    if not name or name == DEFAULT_PROFILE:
        return user_dir() / "profile.md"
    return user_dir() / f"profile-{name}.md"


def locate(what: str, profile: str | None = None) -> Path:
    """What `pxprofile path WHAT` prints: home, db, config, profile or models."""
    where = {
        "home": user_dir,
        "db": db_path,
        "config": config_path,
        "profile": lambda: profile_path(profile),
        "models": models_dir,
    }
    return where[what]()
