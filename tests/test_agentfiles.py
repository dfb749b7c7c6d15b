"""The managed block in the agents' user-level instruction files, with real files in a temporary
HOME: the user's text kept byte for byte, idempotent, damaged markers refused, a crash mid-write
leaving the old file, the default budget with its drop report."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import agent_samples
import pytest

from pxprofile import agentfiles
from pxprofile.cli import app

home = agent_samples.home  # the shared temporary-HOME fixture

PROFILE = (
    "# My preferences\n\n## Communication style\n\n- Terse answers, no preamble.\n\n"
    "## Avoid\n\n- Docstrings on tests.\n"
)


@pytest.fixture
def profile(runner):
    """A profile written by the user (no model involved)."""
    path = runner.invoke(app, ["path", "profile"]).stdout.strip()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(PROFILE)
    return path


def write(runner, agent="claude-code", *extra):
    return runner.invoke(app, ["export", "--for", agent, "--write", *extra])


def block_of(text: str) -> str:
    start = text.index(agentfiles.START)
    return text[start : text.index(agentfiles.END) + len(agentfiles.END)]


USER_TEXTS = [
    b"# My rules\n\nAlways use uv.\n",
    b"# R\xc3\xa9gles\r\n\r\nNo trailing newline, CRLF, accents: caf\xc3\xa9",
    b"\xef\xbb\xbf# BOM first\n\n\n\ttabs and   spaces   \n",
]


@pytest.mark.parametrize("user_bytes", USER_TEXTS)
def test_user_text_outside_the_block_is_kept_byte_for_byte(runner, home, profile, user_bytes):
    path = home / ".claude" / "CLAUDE.md"
    path.parent.mkdir()
    path.write_bytes(user_bytes)
    r = write(runner)
    assert r.exit_code == 0, r.output
    assert r.stderr.startswith(f"Updated {path} (previous version kept in ")
    new = path.read_bytes()
    assert new.startswith(user_bytes)  # appended after the user's text
    assert (path.parent / "CLAUDE.md.pxprofile.bak").read_bytes() == user_bytes
    text = new.decode()
    assert "- Terse answers, no preamble." in block_of(text)
    # the user edits around the block; a changed profile replaces only the block
    edited = b"Top line\n" + new + b"\nBottom line\n"
    path.write_bytes(edited)
    with open(profile, "a", encoding="utf-8") as f:
        f.write("- Prefers pytest.\n")
    assert write(runner).exit_code == 0
    after = path.read_bytes()
    old_block = block_of(edited.decode()).encode()
    head, tail = edited.split(old_block)
    assert after.startswith(head) and after.endswith(tail)
    assert b"- Prefers pytest." in after[len(head) : len(after) - len(tail)]


def test_second_run_changes_nothing(runner, home, profile):
    r = write(runner)
    path = home / ".claude" / "CLAUDE.md"
    assert r.exit_code == 0 and r.stderr == f"Created {path}.\n"
    st = path.stat()
    r = write(runner)
    assert r.exit_code == 0 and r.stderr == f"{path} is up to date.\n"
    st2 = path.stat()
    assert (st2.st_ino, st2.st_mtime_ns) == (st.st_ino, st.st_mtime_ns)  # not rewritten
    assert not (path.parent / "CLAUDE.md.pxprofile.bak").exists()  # no backup of nothing
    assert sorted(p.name for p in path.parent.iterdir()) == ["CLAUDE.md"]  # no temp, no lock


def test_print_without_write_touches_nothing(runner, home, profile):
    r = runner.invoke(app, ["export", "--for", "codex"])
    assert r.exit_code == 0
    assert r.stdout.startswith("## My preferences (pxprofile)\n\nThese are my personal")
    assert "### Avoid\n- Docstrings on tests.\n" in r.stdout
    assert not (home / ".codex").exists()


def test_each_agent_file_and_codex_home(runner, home, profile, tmp_path, monkeypatch):
    assert write(runner, "gemini-cli").exit_code == 0
    assert "Terse" in (home / ".gemini" / "GEMINI.md").read_text()
    assert write(runner, "codex").exit_code == 0
    assert "Terse" in (home / ".codex" / "AGENTS.md").read_text()
    monkeypatch.setenv("CODEX_HOME", str(tmp_path / "elsewhere"))
    assert write(runner, "codex").exit_code == 0
    assert "Terse" in (tmp_path / "elsewhere" / "AGENTS.md").read_text()


def test_a_symlinked_file_is_written_through(runner, home, profile, tmp_path):
    real = tmp_path / "dotfiles" / "CLAUDE.md"
    real.parent.mkdir()
    real.write_text("mine\n")
    (home / ".claude").mkdir()
    (home / ".claude" / "CLAUDE.md").symlink_to(real)
    assert write(runner).exit_code == 0
    assert (home / ".claude" / "CLAUDE.md").is_symlink()
    assert real.read_text().startswith("mine\n\n<!-- pxprofile:start -->\n")


S, E = agentfiles.START, agentfiles.END


@pytest.mark.parametrize(
    "content, problem",
    [
        (f"a\n{S}\nx\n{E}\nb\n{S}\ny\n{E}\n", "has 2 '<!-- pxprofile:start -->' and 2"),
        (f"a\n{S}\nx\n", "has a damaged pxprofile block"),
        (f"a\n{E}\nx\n{S}\n", "has a damaged pxprofile block"),
        (f"a\n{E}\n", "has a damaged pxprofile block"),
        (f"a {S}\nx\n{E}\n", "a pxprofile marker shares line 1 with other text"),
    ],
)
def test_damaged_or_duplicated_markers_are_refused(runner, home, profile, content, problem):
    path = home / ".claude" / "CLAUDE.md"
    path.parent.mkdir()
    path.write_text(content)
    r = write(runner)
    assert r.exit_code == 1
    assert r.stderr.startswith(f"Error: {path} ") or r.stderr.startswith(f"Error: {path}: ")
    assert problem in r.stderr and r.stderr.rstrip().endswith("Nothing was changed.")
    assert len(r.stderr.splitlines()) == 1
    assert path.read_text() == content
    assert sorted(p.name for p in path.parent.iterdir()) == ["CLAUDE.md"]


def test_not_utf8_is_refused(runner, home, profile):
    path = home / ".claude" / "CLAUDE.md"
    path.parent.mkdir()
    path.write_bytes(b"caf\xe9\n")
    r = write(runner)
    assert r.exit_code == 1 and "is not UTF-8 text (byte 3)" in r.stderr
    assert path.read_bytes() == b"caf\xe9\n"


CRASH = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from pxprofile import agentfiles

    real_replace = os.replace

    def replace(src, dst):
        if str(dst).endswith("CLAUDE.md"):
            os.kill(os.getpid(), signal.SIGKILL)  # killed at the rename
        return real_replace(src, dst)

    os.replace = replace
    agentfiles.write_block(Path(sys.argv[1]), "- New line\\n")
    """
)


def test_sigkill_at_the_rename_leaves_the_old_file(home, tmp_path):
    path = home / ".claude" / "CLAUDE.md"
    path.parent.mkdir()
    old = f"mine\n\n{S}\n- Old line\n{E}\n".encode()
    path.write_bytes(old)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    p = subprocess.run([sys.executable, "-c", CRASH, str(path)], env=env, capture_output=True)
    assert p.returncode == -signal.SIGKILL, p.stderr
    assert path.read_bytes() == old  # never half-written
    # the backup was written before the rename; the temp file is swept by the next writer
    assert (path.parent / "CLAUDE.md.pxprofile.bak").read_bytes() == old
    agentfiles.write_block(path, "- New line\n")
    assert "- New line" in path.read_text() and path.read_text().startswith("mine\n\n")
    names = sorted(p.name for p in path.parent.iterdir())
    assert names == ["CLAUDE.md", "CLAUDE.md.pxprofile.bak"]


def test_a_failing_write_is_a_clean_error_and_leaves_the_old_file(
    runner, home, profile, monkeypatch
):
    import errno

    path = home / ".claude" / "CLAUDE.md"
    path.parent.mkdir()
    path.write_text("mine\n")
    real_write = os.write

    def full_disk(fd, data):
        if len(data) > 200:  # the new CLAUDE.md, not the lock's pid or the small backup
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", full_disk)
    r = write(runner)
    assert r.exit_code == 1
    assert r.stderr == (
        f"Error: cannot write {path}: the disk is full; the file was left as it was. Free space "
        "or fix permissions and retry.\n"
    )
    assert path.read_text() == "mine\n"
    assert not [p for p in path.parent.iterdir() if p.name.endswith((".tmp", ".lock"))]


def test_default_budget_drops_lines_with_a_report(runner, home, profile):
    with open(profile, "a", encoding="utf-8") as f:
        f.write("\n## Expertise\n\n")
        for i in range(80):
            f.write(f"- Knows library number {i} well, with many details about it.\n")
    r = write(runner)
    assert r.exit_code == 0
    text = (home / ".claude" / "CLAUDE.md").read_text()
    body = block_of(text)
    assert len(body) < agentfiles_chars() + 200  # budget + markers and the managed-by note
    assert "- Terse answers, no preamble." in body  # user lines first
    assert "Dropped " in r.stderr and "to fit 4000 characters" in r.stderr
    r = write(runner, "claude-code", "--max-chars", "20000")
    assert r.exit_code == 0 and "Dropped" not in r.stderr
    assert "number 79" in (home / ".claude" / "CLAUDE.md").read_text()


def agentfiles_chars() -> int:
    from pxprofile.export import AGENT_FILE_CHARS

    return AGENT_FILE_CHARS


def test_a_marker_inside_a_profile_line_cannot_break_the_block(home):
    path = home / "CLAUDE.md"
    agentfiles.write_block(path, f"- evil {E} line\n- <!-- comment -->\n")
    text = path.read_text()
    assert text.count(E) == 1 and text.count(S) == 1
    agentfiles.write_block(path, "- fine\n")  # still one valid block
    assert text != path.read_text() and path.read_text().count(E) == 1


def test_write_needs_an_agent_target_and_an_empty_profile_is_an_error(runner, home):
    r = runner.invoke(app, ["export", "--for", "claude", "--write"])
    assert r.exit_code == 2
    r = write(runner)
    assert r.exit_code == 1 and r.stderr.startswith("Error: the profile is empty")
    assert not (home / ".claude").exists()


def test_codex_override_file_is_pointed_out(runner, home, profile):
    override = home / ".codex" / "AGENTS.override.md"
    override.parent.mkdir()
    override.write_text("temporary rules\n")
    r = write(runner, "codex")
    assert r.exit_code == 0
    assert f"Note: Codex reads {override} instead of AGENTS.md while it is not empty" in r.stderr
    assert "Terse" in (home / ".codex" / "AGENTS.md").read_text()
    assert override.read_text() == "temporary rules\n"
