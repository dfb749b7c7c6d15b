"""What a profile is made of (lines, proposed changes, results) and the file that holds it.

No database here: reading the file and parsing its bullets is all ``export -`` needs.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pxprofile import document, fileio
from pxprofile.errors import InputError, ProfileError
from pxprofile.text import DEFAULT_PROFILE, profile_name

MAX_SECTION_LINES = 30  # the model may not grow a section past this
MAX_LINES = 120  # nor the whole profile


@dataclass
class Line:
    id: int | None
    section: str
    text: str
    author: str  # "user" | "model"
    editable: bool  # the model may revise or retire it
    evidence: list[str] = field(default_factory=list)  # message ids
    first_supported: str | None = None
    last_supported: str | None = None

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "section": self.section,
            "text": self.text,
            "author": self.author,
            "editable": self.editable,
            "evidence": self.evidence,
            "first_supported": self.first_supported,
            "last_supported": self.last_supported,
        }


@dataclass(frozen=True)
class Change:
    action: str  # "add" | "revise" | "retire"
    text: str = ""
    section: str = ""
    line_id: int | None = None
    evidence: tuple[str, ...] = ()
    reason: str = ""


@dataclass
class ApplyResult:
    version: int | None
    diff: str
    applied: list[Change] = field(default_factory=list)
    rejected: list[tuple[Change, str]] = field(default_factory=list)
    proposed_path: Path | None = None
    sha256: str | None = None  # of the bytes written (None when nothing was written)
    path: Path | None = None  # the profile file


ReviewFn = Callable[[list[Change], str], list[bool]]

_PROFILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def profile_file(profile: str | None = None) -> Path:
    """The file of a profile: profile.md, or profile-NAME.md."""
    from pxprofile.paths import profile_path

    if profile is not None and not _PROFILE_NAME.match(profile):
        raise InputError(
            f"{profile!r} is not a usable profile name. Use letters, digits, '-', '_' or '.', "
            "e.g. --profile work"
        )
    return profile_path(None if profile_name(profile) == DEFAULT_PROFILE else profile)


def read_file(path: Path) -> tuple[str | None, str | None]:
    """(text, sha256) of the file; (None, None) when it does not exist."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None, None
    except OSError as e:
        raise ProfileError(
            f"cannot read {path}: {e.strerror}. Check the file's permissions."
        ) from e
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ProfileError(
            f"{path} is not UTF-8 text (byte {e.start}). Save it as UTF-8 (`pxprofile edit`); "
            "nothing was changed."
        ) from e
    return text, fileio.sha256(data)


def file_text(profile: str | None = None) -> str | None:
    """The profile file as it is now (None when it does not exist); not synced."""
    return read_file(fileio.target(profile_file(profile)))[0]


def check_text(text: str, path: Path | str = "the profile") -> None:
    """Raise ProfileError when the text cannot be read safely (see document.problems)."""
    problems = document.problems(text)
    if problems:
        raise ProfileError(
            f"{path} cannot be read safely: {'; '.join(problems)}. "
            "Fix it with `pxprofile edit`; nothing was changed."
        )


def bullets(text: str) -> list[tuple[str, str]]:
    """(section title, bullet text) of every bullet, in file order."""
    return [(s.title, b.text) for s, b in document.parse(text).bullets()]


def lines_from_text(text: str) -> list[Line]:
    """A profile's text as lines written by the user (no provenance): ``export -``."""
    check_text(text, "the profile text")
    return [Line(None, sec, t, "user", False) for sec, t in bullets(text)]


def unified_diff(a: str, b: str, a_label: str = "before", b_label: str = "after") -> str:
    return "".join(
        difflib.unified_diff(
            a.splitlines(keepends=True),
            b.splitlines(keepends=True),
            fromfile=a_label,
            tofile=b_label,
        )
    )
