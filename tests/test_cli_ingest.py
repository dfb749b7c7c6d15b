"""`pxprofile ingest`: exit codes, the summary on stderr, --json on stdout, stdin, the update hook."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

from chat_samples import claude_export, write_json

from pxprofile.cli import app


def test_ingest_fixture_summary_and_rows(runner, env_setup, fixtures_dir):
    r = runner.invoke(
        app, ["ingest", f"{fixtures_dir}/chatgpt/export-2024-browsing.json", "--no-update"]
    )
    assert r.exit_code == 0, r.stderr
    assert r.stdout == ""
    # (the browsing pages hold invisible characters: the privacy step reports them after a ';')
    assert r.stderr.startswith(
        "Ingested export-2024-browsing.json (chatgpt): 2 conversations, 21 messages added, "
        "0 skipped, 0 pairs"
    )
    conn = sqlite3.connect(env_setup / "pxprofile.db")  # the default database under PXPROFILE_HOME
    assert conn.execute("SELECT count(*) FROM messages").fetchone() == (21,)
    assert conn.execute(
        "SELECT count(*) FROM messages WHERE role = 'user' AND hidden = 0"
    ).fetchone() == (5,)
    r = runner.invoke(
        app, ["ingest", f"{fixtures_dir}/chatgpt/export-2024-browsing.json", "--no-update"]
    )
    assert r.stderr.startswith(
        "Ingested export-2024-browsing.json (chatgpt): 2 conversations, 0 messages added, "
        "21 skipped, 0 pairs"
    )


def test_ingest_json_summary(runner, tmp_path, fixtures_dir):
    db = tmp_path / "x.db"
    r = runner.invoke(
        app,
        [
            "ingest",
            f"{fixtures_dir}/openwebui/export.json",
            "--json",
            "--no-update",
            "--db",
            str(db),
        ],
    )
    assert r.exit_code == 0
    assert r.stderr == ""
    out = json.loads(r.stdout)
    assert {
        k: out[k]
        for k in ("conversations", "messages", "added", "skipped", "pairs", "feedback", "errors")
    } == {
        "conversations": 3,
        "messages": 8,
        "added": 8,
        "skipped": 0,
        "pairs": 0,
        "feedback": 0,
        "errors": [],
    }
    (f,) = out["files"]
    assert (f["path"], f["format"], f["added"], f["source_id"]) == (
        f"{fixtures_dir}/openwebui/export.json",
        "openwebui",
        8,
        1,
    )


def test_ingest_several_files_prints_a_total(runner, tmp_path, fixtures_dir):
    claude = write_json(tmp_path / "conversations.json", claude_export())
    r = runner.invoke(
        app,
        [
            "ingest",
            str(claude),
            f"{fixtures_dir}/openwebui/export.json",
            "--no-update",
            "--db",
            str(tmp_path / "x.db"),
        ],
    )
    assert r.exit_code == 0
    assert r.stderr.splitlines() == [
        "Ingested conversations.json (claude): 2 conversations, 11 messages added, 0 skipped, 1 pair.",
        "Ingested export.json (openwebui): 3 conversations, 8 messages added, 0 skipped, 0 pairs.",
        "Total: 2 of 2 files, 5 conversations, 19 messages added, 0 skipped, 1 pair.",
    ]


def test_ingest_quiet(runner, tmp_path, fixtures_dir):
    r = runner.invoke(
        app,
        [
            "ingest",
            f"{fixtures_dir}/openwebui/export.json",
            "-q",
            "--no-update",
            "--db",
            str(tmp_path / "x.db"),
        ],
    )
    assert (r.exit_code, r.stdout, r.stderr) == (0, "", "")


def test_ingest_stdin_transcript(runner, tmp_path):
    db = tmp_path / "x.db"
    r = runner.invoke(
        app,
        ["ingest", "-", "--no-update", "--db", str(db)],
        input="User: I like terse answers.\nAssistant: Noted.\n",
    )
    assert r.exit_code == 0, r.stderr
    assert (
        r.stderr == "Ingested stdin (text): 1 conversation, 2 messages added, 0 skipped, 0 pairs.\n"
    )
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT role, text FROM messages ORDER BY seq").fetchall() == [
        ("user", "I like terse answers."),
        ("assistant", "Noted."),
    ]
    assert conn.execute("SELECT path, format FROM sources").fetchall() == [("<stdin>", "text")]


def test_ingest_stdin_json_without_dash(runner, tmp_path, fixtures_dir):
    data = open(f"{fixtures_dir}/chatgpt/branches-regenerate-edit.json").read()
    r = runner.invoke(app, ["ingest", "--no-update", "--db", str(tmp_path / "x.db")], input=data)
    assert r.exit_code == 0
    assert (
        r.stderr
        == "Ingested stdin (chatgpt): 1 conversation, 12 messages added, 0 skipped, 0 pairs.\n"
    )


def test_ingest_forced_format(runner, tmp_path):
    f = tmp_path / "chat.md"
    f.write_text("User: hi\nAssistant: hello\n")
    r = runner.invoke(
        app, ["ingest", str(f), "--format", "text", "--no-update", "--db", str(tmp_path / "x.db")]
    )
    assert r.exit_code == 0 and "(text): 1 conversation, 2 messages added" in r.stderr
    r = runner.invoke(
        app, ["ingest", str(f), "--format", "openai", "--no-update", "--db", str(tmp_path / "x.db")]
    )
    assert r.exit_code == 1
    assert r.stderr == (
        f"Error: {f}: invalid JSON at character 0 (Expecting value). Check that this is the "
        "export file as downloaded.\n"
    )


def test_after_ingest_hook_called_unless_no_update(runner, tmp_path, fixtures_dir, monkeypatch):
    import pxprofile.cli.update as update

    calls = []
    monkeypatch.setattr(
        update, "after_ingest", lambda db, quiet, model: calls.append((quiet, model))
    )
    args = ["ingest", f"{fixtures_dir}/openwebui/export.json", "--db", str(tmp_path / "x.db")]
    assert runner.invoke(app, [*args, "--model", "tiny"]).exit_code == 0
    assert calls == [(False, "tiny")]
    assert runner.invoke(app, [*args, "--no-update"]).exit_code == 0
    assert calls == [(False, "tiny")]


def test_after_ingest_failure_never_fails_the_ingest(runner, tmp_path, fixtures_dir, monkeypatch):
    import pxprofile.cli.update as update
    from pxprofile.errors import ModelError

    def boom(db, quiet, model):
        raise ModelError("model missing")

    monkeypatch.setattr(update, "after_ingest", boom)
    db = tmp_path / "x.db"
    r = runner.invoke(app, ["ingest", f"{fixtures_dir}/openwebui/export.json", "--db", str(db)])
    assert r.exit_code == 0
    assert r.stderr.splitlines()[-1] == (
        "Warning: the profile was not updated: model missing. Run `pxprofile update` again."
    )

    def bug(db, quiet, model):
        raise KeyError("a bug")

    monkeypatch.setattr(update, "after_ingest", bug)  # a bug is not turned into a warning
    r = runner.invoke(app, ["ingest", f"{fixtures_dir}/chatgpt/citations.json", "--db", str(db)])
    assert isinstance(r.exception, KeyError) and "Warning" not in r.stderr


def test_ingest_real_subprocess(tmp_path, fixtures_dir):
    """The installed entry point, stdin piped, as a user runs it."""
    env = {"PXPROFILE_HOME": str(tmp_path / "home"), "NO_COLOR": "1", "PATH": "/usr/bin:/bin"}
    data = open(f"{fixtures_dir}/chatgpt/gpt5-single-conversation-multimodal.json", "rb").read()
    p = subprocess.run(
        [sys.executable, "-m", "pxprofile", "ingest", "-", "--no-update", "--json"],
        input=data,
        capture_output=True,
        env=env,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["added"] == 24
    p = subprocess.run(
        [sys.executable, "-m", "pxprofile", "stats", "--json"],
        capture_output=True,
        env=env,
        timeout=120,
    )
    stats = json.loads(p.stdout)
    assert (stats["conversations"], stats["messages"], stats["user_messages"]) == (1, 24, 4)


def test_progress_bar_only_for_big_files_on_a_terminal(tmp_path, fixtures_dir, monkeypatch):
    import io
    import types

    from rich.console import Console

    import pxprofile.cli.ingest as cli_ingest

    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100)
    path = f"{fixtures_dir}/chatgpt/export-2024-browsing.json"
    # stderr not a terminal (as under CliRunner): no bar
    with cli_ingest._progress(path, False, lambda: console) as cb:
        assert cb is None
    monkeypatch.setattr(
        cli_ingest, "sys", types.SimpleNamespace(stderr=types.SimpleNamespace(isatty=lambda: True))
    )
    with cli_ingest._progress(path, False, lambda: console) as cb:
        assert cb is None  # a terminal, but a small file
    monkeypatch.setattr(cli_ingest, "BIG_INPUT", 1000)
    with cli_ingest._progress(path, True, lambda: console) as cb:
        assert cb is None  # --quiet / --json
    with cli_ingest._progress(path, False, lambda: console) as cb:
        cb(170_600, 170_600)
    assert "export-2024-browsing.json" in out.getvalue()
