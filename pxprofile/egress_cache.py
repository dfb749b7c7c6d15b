"""Profile lines the egress check already cleared, so an unchanged profile exports at once.

guard.egress_problems compiles about a hundred patterns and runs them over every line: most of
the time `pxprofile export` takes on a 200-line profile (issue 13). A line's verdict depends
only on its text, the rules (guard, poison, redact and their data), the Python that runs them
(NFKC tables) and `[redact]` in config.toml; so a clean line is remembered by a hash of its
text under a fingerprint of all of these, and checked again when any of them changes. A line
with a problem is never remembered: it is checked, and its reason reported, every time.

The cache is only a shortcut: a missing, corrupt or unwritable file means checking every line.

CONTRACT:
    egress_problems(texts: list[str], check=None) -> list[tuple[str, str]]
        guard.egress_problems(texts) (or ``check``), run only on the texts not already cleared.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable
from pathlib import Path

KEEP = 20_000  # cleared lines remembered (about 0.7 MB); the oldest are dropped first
# what a verdict depends on, as files beside this one: guard and redact with every module they
# import (tests/test_egress_cache.py checks this list against their imports) and the rules' data
RULE_FILES = (
    "guard.py",
    "redact.py",
    "poison.py",
    "secret_rules.py",
    "text.py",
    "config.py",
    "paths.py",
    "errors.py",
    "data/secret_rules.json",
)

Check = Callable[[list[str]], list[tuple[str, str]]]


def egress_problems(texts: list[str], check: Check | None = None) -> list[tuple[str, str]]:
    """(text, reason) for each text an export must refuse; cleared texts are not checked again."""
    rules = _fingerprint()
    cleared = _load(rules)
    todo = [t for t in texts if _key(t) not in cleared]
    if not todo:
        return []  # without importing guard: compiling its patterns is the cost saved
    if check is None:
        from .guard import egress_problems as check
    problems = check(todo)
    refused = {t for t, _ in problems}
    if len(refused) < len(todo):  # something new was cleared: remember it, with what is in use
        in_use = dict.fromkeys(_key(t) for t in texts if t not in refused)
        _save(rules, [*(k for k in cleared if k not in in_use), *in_use])
    return problems


def _key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _fingerprint() -> str:
    from . import __version__
    from .paths import config_path

    h = hashlib.sha256(f"{__version__}\0{sys.version}\0".encode())
    here = Path(__file__).parent
    for name in RULE_FILES:
        h.update(_read(here / name))
    h.update(_read(config_path()))
    return h.hexdigest()


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b"(none)"


def _path() -> Path:
    from .paths import user_dir

    return user_dir() / "cache" / "egress.json"


def _load(rules: str) -> dict[str, None]:
    """The cleared keys, oldest first, when the file was written under the same rules."""
    try:
        data = json.loads(_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("rules") != rules:
        return {}
    keys = data.get("cleared")
    if not isinstance(keys, list):
        return {}
    return dict.fromkeys(k for k in keys if isinstance(k, str))


def _save(rules: str, keys: list[str]) -> None:
    from .errors import PxprofileError
    from .fileio import atomic_write

    body = json.dumps({"rules": rules, "cleared": keys[-KEEP:]}, separators=(",", ":"))
    try:
        atomic_write(_path(), body.encode())
    except (PxprofileError, OSError):
        pass  # a read-only home only costs the next export its shortcut
