"""`pxprofile sync`: new sessions in from every agent found, one profile update when something
new came in, the existing managed blocks rewritten, and silence when nothing changed."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import agent_samples
import pytest
from agent_samples import (
    aider_repo,
    claude_code_lines,
    claude_home,
    codex_home,
    gemini_home,
    write_jsonl,
)

from pxprofile import sync as sync_mod
from pxprofile.cli import app

home = agent_samples.home  # the shared temporary-HOME fixture

PROFILE = "# My preferences\n\n## Communication style\n\n- Terse answers, no preamble.\n"


@pytest.fixture
def updates(monkeypatch):
    """Record the calls to the profile update (the model run itself is tested in test_infer)."""
    calls = []

    def fake_update(db, model):
        calls.append(model)
        return "Read 5 of 5 new messages. No change to the profile."

    monkeypatch.setattr(sync_mod, "_update_profile", fake_update)
    return calls


def count(db, table):
    conn = sqlite3.connect(db)
    try:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    finally:
        conn.close()


def test_sync_ingests_updates_once_then_stays_quiet(runner, home, tmp_path, updates):
    claude_home(home)
    codex_home(home / ".codex")
    gemini_home(home)
    db = tmp_path / "px.db"
    r = runner.invoke(app, ["sync", "--db", str(db)])
    assert r.exit_code == 0, r.output
    assert r.stdout == ""
    assert r.stderr.splitlines() == [
        "claude-code: 1 session file(s) read, 24 new message(s).",
        "codex: 1 session file(s) read, 12 new message(s).",
        "gemini-cli: 1 session file(s) read, 12 new message(s).",
        "Read 5 of 5 new messages. No change to the profile.",
    ]
    assert updates == [None]
    assert count(db, "messages") == 48 and count(db, "feedback") == 6
    r = runner.invoke(app, ["sync", "--db", str(db)])
    assert r.exit_code == 0 and r.output == ""  # nothing changed: nothing said
    assert updates == [None]  # and no update run
    assert count(db, "sources") == 3


def test_sync_reads_a_growing_session_again(runner, home, tmp_path, updates):
    lines = claude_code_lines()
    path = claude_home(home, lines[:12])
    db = tmp_path / "px.db"
    assert runner.invoke(app, ["sync", "--db", str(db)]).exit_code == 0
    write_jsonl(path, lines)
    st = path.stat()
    os.utime(path, (st.st_atime, st.st_mtime + 5))  # written after the last sync
    r = runner.invoke(app, ["sync", "--db", str(db), "--model", "m"])
    assert r.exit_code == 0
    assert "claude-code: 1 session file(s) read, 14 new message(s)." in r.stderr
    assert updates == [None, "m"]


def test_sync_rereads_aider_histories_ingested_before(runner, home, tmp_path, updates):
    repo = home / "code" / "app"
    half = "# aider chat started at 2024-06-01 14:02:11\n\n#### hello  \n\nHi.\n"
    path = aider_repo(repo, half)
    db = tmp_path / "px.db"
    args = ["ingest", "--from", "aider", str(repo), "--no-update", "--db", str(db)]
    assert runner.invoke(app, args).exit_code == 0
    with open(path, "a", encoding="utf-8") as f:
        f.write("\n#### use tabs, not spaces  \n\nOK.\n")
    st = path.stat()
    os.utime(path, (st.st_atime, st.st_mtime + 5))
    r = runner.invoke(app, ["sync", "--no-update", "--db", str(db)])
    assert r.exit_code == 0
    assert r.stderr == "aider: 1 session file(s) read, 2 new message(s).\n"
    assert updates == []  # --no-update


def test_sync_rewrites_only_blocks_that_exist(runner, home, tmp_path, updates):
    profile = runner.invoke(app, ["path", "profile"]).stdout.strip()
    os.makedirs(os.path.dirname(profile), exist_ok=True)
    with open(profile, "w", encoding="utf-8") as f:
        f.write(PROFILE)
    assert runner.invoke(app, ["export", "--for", "claude-code", "--write"]).exit_code == 0
    gemini = home / ".gemini" / "GEMINI.md"
    gemini.parent.mkdir()
    gemini.write_text("my own gemini notes\n")  # no block: sync never adds one
    r = runner.invoke(app, ["sync"])
    assert r.exit_code == 0 and r.output == ""  # blocks already current
    with open(profile, "a", encoding="utf-8") as f:
        f.write("- Prefers pytest.\n")
    r = runner.invoke(app, ["sync"])
    claude_md = home / ".claude" / "CLAUDE.md"
    assert r.exit_code == 0 and r.stderr == f"Updated {claude_md}.\n"
    assert "- Prefers pytest." in claude_md.read_text()
    assert gemini.read_text() == "my own gemini notes\n"
    assert not (home / ".codex").exists()
    assert updates == []  # no session was new: no update


def test_sync_reports_a_bad_session_and_keeps_the_others(runner, home, tmp_path, updates):
    path = claude_home(home)
    path.write_text(path.read_text()[:-30])
    gemini_home(home)
    db = tmp_path / "px.db"
    r = runner.invoke(app, ["sync", "--db", str(db)])
    assert r.exit_code == 1
    lines = r.stderr.splitlines()
    assert lines[0].startswith(f"Error: {path}: invalid JSON, unexpected end of file")
    assert "gemini-cli: 1 session file(s) read, 12 new message(s)." in lines
    assert count(db, "conversations") == 1


def test_sync_without_a_local_model_says_what_to_do(home, tmp_path):
    claude_home(home)
    env = {**os.environ, "HOME": str(home), "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("PXPROFILE_MODEL", None)
    db = tmp_path / "px.db"
    cmd = [sys.executable, "-m", "pxprofile", "sync", "--db", str(db)]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert p.stderr.splitlines()[-1] == (
        "New sessions were recorded, but no local model is set up: run "
        "`pxprofile model use NAME`, then `pxprofile update`."
    )
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert (p.returncode, p.stdout, p.stderr) == (0, "", "")


@pytest.mark.model
def test_sync_runs_the_real_update_with_the_test_model(home, tmp_path):
    """The whole loop with the real GGUF (gemma3-270m via llama.cpp): sessions in, one update
    recorded, the existing block in CLAUDE.md rewritten from the profile, in a subprocess."""
    claude_home(home)
    claude_md = home / ".claude" / "CLAUDE.md"
    claude_md.parent.mkdir(exist_ok=True)
    claude_md.write_text("mine\n\n<!-- pxprofile:start -->\n<!-- pxprofile:end -->\n")
    env = {**os.environ, "HOME": str(home), "PYTHONPATH": os.pathsep.join(sys.path)}
    db = tmp_path / "px.db"
    cmd = [sys.executable, "-m", "pxprofile", "sync", "--model", "gemma3-270m", "--db", str(db)]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr
    assert "claude-code: 1 session file(s) read, 24 new message(s)." in p.stderr
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT model FROM updates").fetchall()
    finally:
        conn.close()
    assert rows and {r[0] for r in rows} == {"gemma3-270m"}
    text = claude_md.read_text()
    assert text.startswith("mine\n\n<!-- pxprofile:start -->\n")
    assert text.count("<!-- pxprofile:end -->") == 1
