"""Where coding agents keep their sessions and read their user-level instructions, and the
managed block pxprofile keeps in those instruction files (agent-formats.md section 5).

    session_roots(agent) -> list[Path]          where an agent writes its session logs
    session_files(agent, paths=None) -> list[Path]
        The session files of an agent: under its default folder, or under the folders and files
        given (aider: every ``.aider.chat.history.md`` below a folder).
    instruction_file(agent) -> Path             ~/.claude/CLAUDE.md, $CODEX_HOME/AGENTS.md, ...
    write_block(path, body) -> BlockWrite
        Put ``body`` between the markers in ``path``: the user's text outside the block is kept
        byte for byte, the write is atomic (fileio.atomic_write, under fileio.file_lock) with the
        previous file kept as ``<name>.pxprofile.bak``; the same body again changes nothing.
        Damaged or duplicated markers raise AgentFileError and change nothing.
    export_to_agent(lines, agent, ...) -> BlockWrite   export.export_prompt + write_block

HOME comes from ``Path.home()`` (tests set HOME), CODEX_HOME from the environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from . import fileio
from .errors import ExportError, InputError

AGENTS = ("claude-code", "codex", "gemini-cli", "aider")
WRITABLE = ("claude-code", "codex", "gemini-cli")  # aider has no user-level instruction file
START = "<!-- pxprofile:start -->"
END = "<!-- pxprofile:end -->"
NOTE = "<!-- Managed by pxprofile (`pxprofile export --write`); edits inside are replaced. -->"
AIDER_FILE = ".aider.chat.history.md"
BACKUP_SUFFIX = ".pxprofile.bak"


class AgentFileError(ExportError):
    """An agent's instruction file cannot be updated (damaged markers, not UTF-8, ...)."""


def codex_home() -> Path:
    return Path(os.environ.get("CODEX_HOME") or Path.home() / ".codex").expanduser()


def session_roots(agent: str) -> list[Path]:
    home = Path.home()
    if agent == "claude-code":
        return [home / ".claude" / "projects"]
    if agent == "codex":
        return [codex_home() / "sessions"]
    if agent == "gemini-cli":
        return [home / ".gemini" / "tmp"]
    if agent == "aider":
        return []  # aider writes into each repository: name the folders to search
    raise InputError(f"unknown agent {agent!r}. Use one of: {', '.join(AGENTS)}.")


def instruction_file(agent: str) -> Path:
    home = Path.home()
    if agent == "claude-code":
        return home / ".claude" / "CLAUDE.md"
    if agent == "codex":
        return codex_home() / "AGENTS.md"
    if agent == "gemini-cli":
        return home / ".gemini" / "GEMINI.md"
    raise InputError(
        f"{agent!r} has no user-level instruction file pxprofile can write. "
        f"Use one of: {', '.join(WRITABLE)}."
    )


def _is_session(agent: str, path: Path) -> bool:
    name = path.name
    if agent == "claude-code":
        # subagent transcripts (<session>/subagents/agent-*.jsonl, or agent-*.jsonl) are sidechains
        return (
            name.endswith(".jsonl")
            and not name.startswith("agent-")
            and "subagents" not in path.parts
        )
    if agent == "codex":
        return name.startswith("rollout-") and name.endswith(".jsonl")
    if agent == "gemini-cli":
        return (
            name.startswith("session-")
            and name.endswith((".json", ".jsonl"))
            and path.parent.name == "chats"
        )
    return name == AIDER_FILE


def session_files(agent: str, paths: list[str | Path] | None = None) -> list[Path]:
    """Session files of ``agent`` under ``paths`` (default: where the agent keeps them), sorted.

    A file given by name is taken as it is; folders are searched recursively."""
    if agent not in AGENTS:
        raise InputError(f"unknown agent {agent!r}. Use one of: {', '.join(AGENTS)}.")
    roots = [Path(p).expanduser() for p in paths] if paths else session_roots(agent)
    if not roots:
        raise InputError(
            "aider keeps its history in each repository: name the folders to search, e.g. "
            "`pxprofile ingest --from aider ~/code`."
        )
    found: list[Path] = []
    for root in roots:
        if root.is_file():
            found.append(root)
        elif root.is_dir():
            pattern = AIDER_FILE if agent == "aider" else "*.json*"
            found += sorted(p for p in root.rglob(pattern) if p.is_file() and _is_session(agent, p))
        elif paths:
            raise InputError(f"{root}: no such file or folder. Check the path.")
    return found


# -- the managed block ---------------------------------------------------------------------------


@dataclass
class BlockWrite:
    path: Path
    changed: bool
    created: bool = False
    backup: Path | None = None
    notes: list[str] = field(default_factory=list)


def _span(text: str, path: Path) -> tuple[int, int] | None:
    """(start, end) offsets of the managed block, from the start of the START marker's line to
    the end of the END marker (its line break excluded), or None when there is no block."""
    lines = text.splitlines(keepends=True)
    starts = [i for i, ln in enumerate(lines) if START in ln]
    ends = [i for i, ln in enumerate(lines) if END in ln]
    where = f"{path}"
    if not starts and not ends:
        return None
    if len(starts) > 1 or len(ends) > 1:
        raise AgentFileError(
            f"{where} has {len(starts)} '{START}' and {len(ends)} '{END}' markers; pxprofile "
            "keeps exactly one block. Delete the extra markers (and the text between them that "
            "you do not want), then run again. Nothing was changed."
        )
    if len(starts) != len(ends) or starts[0] >= ends[0]:
        raise AgentFileError(
            f"{where} has a damaged pxprofile block (a '{START}' without a matching '{END}' "
            "after it). Fix or delete the marker lines, then run again. Nothing was changed."
        )
    s, e = starts[0], ends[0]
    for i in (s, e):
        if lines[i].strip() not in (START, END):
            raise AgentFileError(
                f"{where}: a pxprofile marker shares line {i + 1} with other text. Put the marker "
                "on a line of its own, then run again. Nothing was changed."
            )
    offset = sum(len(ln) for ln in lines[:s])
    end_line = sum(len(ln) for ln in lines[:e])
    # the block ends with the END marker's text: the line break after it is the user's
    return offset, end_line + len(lines[e].rstrip("\r\n"))


def render_block(body: str, newline: str = "\n") -> str:
    safe = body.replace(START, "").replace(END, "").strip("\n")
    text = "\n".join([START, NOTE, safe, END]) + "\n"
    return text.replace("\n", newline) if newline != "\n" else text


def _read(path: Path) -> tuple[bytes | None, str]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None, ""
    except OSError as e:
        raise AgentFileError(f"cannot read {path}: {e.strerror}. Check its permissions.") from e
    try:
        return raw, raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise AgentFileError(
            f"{path} is not UTF-8 text (byte {e.start}); pxprofile will not rewrite it. "
            "Save it as UTF-8, then run again."
        ) from None


def updated_text(old: str, body: str, path: Path) -> str:
    """``old`` with the managed block set to ``body``; text outside the block is untouched."""
    span = _span(old, path)
    newline = "\r\n" if "\r\n" in old and "\n" not in old.replace("\r\n", "") else "\n"
    block = render_block(body, newline)
    if span is None:
        if not old:
            return block
        sep = (
            ""
            if old.endswith(("\n\n", "\r\n\r\n"))
            else newline
            if old.endswith("\n")
            else newline * 2
        )
        return old + sep + block
    start, end = span
    return old[:start] + block[: -len(newline)] + old[end:]


def write_block(path: Path, body: str, *, only_existing: bool = False) -> BlockWrite:
    """Set the managed block in ``path`` to ``body`` (see the module docstring).

    ``only_existing``: change the file only where it already has a block (pxprofile sync)."""
    path = Path(path)
    with fileio.file_lock(path):
        raw, old = _read(path)
        if only_existing and (raw is None or _span(old, path) is None):
            return BlockWrite(path, changed=False)
        new = updated_text(old, body, path)
        if raw is not None and new == old:
            return BlockWrite(path, changed=False)
        backup = None
        if raw is not None:
            backup = fileio.target(path).with_name(fileio.target(path).name + BACKUP_SUFFIX)
            fileio.atomic_write(backup, raw)
        fileio.atomic_write(
            path, new.encode("utf-8"), expect_sha256=fileio.sha256(raw) if raw is not None else None
        )
    return BlockWrite(path, changed=True, created=raw is None, backup=backup)


def has_block(agent: str) -> bool:
    """The agent's instruction file exists and holds a pxprofile block (cheap: no lock)."""
    try:
        text = instruction_file(agent).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return START in text or END in text


def export_to_agent(
    lines,
    agent: str,
    *,
    max_chars: int | None = None,
    max_tokens: int | None = None,
    count_tokens=None,
    force: bool = False,
    only_existing: bool = False,
) -> BlockWrite:
    """The profile exported for ``agent`` (within its budget) and written into its file."""
    from .export import export_prompt

    path = instruction_file(agent)
    result = export_prompt(
        lines,
        agent,
        max_chars=max_chars,
        max_tokens=max_tokens,
        count_tokens=count_tokens,
        force=force,
    )
    if not result.text:
        if only_existing:
            return BlockWrite(path, changed=False, notes=result.notes)
        raise ExportError(
            "the profile is empty, so there is nothing to write into "
            f"{path}. Run `pxprofile update` first (or write lines into your profile)."
        )
    done = write_block(path, result.text, only_existing=only_existing)
    done.notes = result.notes + done.notes + _shadowed(agent, path)
    return done


def _shadowed(agent: str, path: Path) -> list[str]:
    """Codex reads AGENTS.override.md instead of AGENTS.md when it is there and not empty."""
    override = path.with_name("AGENTS.override.md")
    try:
        used = agent == "codex" and bool(override.read_text(encoding="utf-8").strip())
    except (OSError, UnicodeDecodeError):
        used = False
    if not used:
        return []
    return [
        f"Note: Codex reads {override} instead of {path.name} while it is not empty; "
        "move your text there into AGENTS.md (or delete it) for the profile to be read."
    ]
