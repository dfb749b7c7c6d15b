import json
import sqlite3

import pytest
from fake_engine import FakeEngine, add_conversation

from pxprofile import profile
from pxprofile.cli import app
from pxprofile.cli.update import NO_MODEL_HINT, after_ingest
from pxprofile.errors import ModelError
from pxprofile.store import open_db


@pytest.fixture
def fake(monkeypatch):
    """load_engine returns one FakeEngine; the test enqueues its outputs."""
    from pxprofile import engine as engine_mod

    eng = FakeEngine()
    loads = []

    def load(name=None, **options):
        loads.append((name, options))
        return eng

    monkeypatch.setattr(engine_mod, "load_engine", load)
    eng.loads = loads
    return eng


@pytest.fixture
def dbpath(tmp_path):
    path = tmp_path / "px.db"
    db = open_db(path)
    add_conversation(db, "c1", [("user", "I prefer tables over prose."), ("assistant", "Noted.")])
    db.conn.close()
    return path


ADD = {
    "operations": [
        {
            "op": "add",
            "section": "Communication style",
            "line": 0,
            "text": "Prefers tables over prose",
            "evidence": ["E1"],
        }
    ]
}


def test_update_applies_changes_and_reports_on_stderr(runner, fake, dbpath):
    fake.enqueue(ADD)
    result = runner.invoke(app, ["update", "--db", str(dbpath), "--ctx", "2048", "--threads", "2"])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert result.stderr == (
        "Loading model...\nBatch 1: 1 piece of evidence...\n"
        "Read 2 of 2 new messages (1 piece of evidence in 1 batch). Changed the profile: 1 added, "
        "0 revised, 0 retired.\n"
    )
    assert fake.loads == [(None, {"n_ctx": 2048, "n_threads": 2, "verbose": False})]
    assert "- Prefers tables over prose\n" in profile.profile_file().read_text()
    conn = sqlite3.connect(dbpath)
    assert conn.execute("select status, applied, messages_read from updates").fetchall() == [
        ("ok", 1, 2)
    ]
    assert conn.execute("select count(*) from digested").fetchone()[0] == 2


def test_nothing_new_exits_quickly_without_a_model(runner, monkeypatch, tmp_path):
    from pxprofile import engine as engine_mod

    monkeypatch.setattr(engine_mod, "load_engine", lambda *a, **k: pytest.fail("model loaded"))
    result = runner.invoke(app, ["update", "--db", str(tmp_path / "empty.db")])
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr == "Nothing new to learn from: the profile is up to date.\n"


def test_dry_run_prints_the_diff_and_writes_nothing(runner, fake, dbpath):
    fake.enqueue(ADD)
    result = runner.invoke(app, ["update", "--db", str(dbpath), "--dry-run", "-q"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("--- profile.md\n+++ profile.md\n")
    assert "+- Prefers tables over prose\n" in result.stdout
    assert result.stderr == ""
    assert not profile.profile_file().exists()
    conn = sqlite3.connect(dbpath)
    assert conn.execute("select count(*) from updates").fetchone()[0] == 0
    assert conn.execute("select count(*) from digested").fetchone()[0] == 0


def test_verbose_logs_rejected_operations(runner, fake, dbpath):
    fake.enqueue(
        {
            "operations": [
                {"op": "retire", "section": "Avoid", "line": 3, "text": "", "evidence": ["E1"]},
                {
                    "op": "add",
                    "section": "Avoid",
                    "line": 0,
                    "text": "Hates ads",
                    "evidence": ["E4"],
                },
            ]
        }
    )
    result = runner.invoke(app, ["update", "--db", str(dbpath), "--verbose"])
    assert result.exit_code == 0, result.output
    assert "Rejected retire line 3: line 3 does not exist\n" in result.stderr
    assert (
        "Rejected add to Avoid: 'Hates ads': cites evidence that does not exist: E4\n"
        in result.stderr
    )
    assert "No change to the profile; 2 proposed changes rejected." in result.stderr


def test_json_output(runner, fake, dbpath):
    fake.enqueue(ADD)
    result = runner.invoke(app, ["update", "--db", str(dbpath), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["status"] == "ok" and doc["messages_read"] == 2 and doc["messages_left"] == 0
    assert doc["applied"] == [
        {
            "op": "add",
            "section": "Communication style",
            "line_id": None,
            "text": "Prefers tables over prose",
            "evidence": ["c1:0"],
        }
    ]
    assert result.stderr == ""


def test_unusable_output_is_an_error_that_changes_nothing(runner, fake, dbpath):
    fake.enqueue("definitely not json")
    result = runner.invoke(app, ["update", "--db", str(dbpath)])
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == (
        "Error: the model's output could not be used, so nothing was changed. "
        "Run `pxprofile update` "
        "again, or use a larger model (`pxprofile model use qwen3-4b`)"
    )
    assert not profile.profile_file().exists()
    conn = sqlite3.connect(dbpath)
    assert conn.execute("select status from updates").fetchall() == [("failed",)]
    assert (
        conn.execute("select count(*) from digested").fetchone()[0] == 1
    )  # the reply, not the evidence


def test_model_errors_are_one_line(runner, monkeypatch, dbpath):
    from pxprofile import engine as engine_mod

    def load(*a, **k):
        raise ModelError("Model qwen3-4b is not downloaded. Run `pxprofile model pull qwen3-4b`.")

    monkeypatch.setattr(engine_mod, "load_engine", load)
    result = runner.invoke(app, ["update", "--db", str(dbpath), "-q"])
    assert result.exit_code == 1
    assert (
        result.stderr
        == "Error: Model qwen3-4b is not downloaded. Run `pxprofile model pull qwen3-4b`.\n"
    )


def test_review_needs_a_terminal(runner, fake, dbpath):
    result = runner.invoke(app, ["update", "--db", str(dbpath), "--review"])
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: --review needs a terminal to ask on. Use --dry-run to see the changes instead.\n"
    )


def test_budget_and_all(runner, fake, tmp_path):
    path = tmp_path / "big.db"
    db = open_db(path)
    for i in range(40):
        add_conversation(db, f"c{i}", [("user", f"I like hobby number {i} {'q' * 30}")])
    result = runner.invoke(app, ["update", "--db", str(path), "--budget", "100"])
    assert result.exit_code == 0, result.output
    assert (
        "messages not read yet: run `pxprofile update --all` to read everything." in result.stderr
    )
    result = runner.invoke(app, ["update", "--db", str(path), "--all"])
    assert result.exit_code == 0, result.output
    assert "not read yet" not in result.stderr
    assert db.execute("select count(*) from digested").fetchone()[0] == 40


def test_after_ingest_without_a_model_prints_one_hint(capsys, monkeypatch, dbpath):
    from pxprofile import engine as engine_mod

    monkeypatch.setattr(engine_mod, "load_engine", lambda *a, **k: pytest.fail("model loaded"))
    db = open_db(dbpath)
    after_ingest(db)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == NO_MODEL_HINT + "\n"
    assert db["updates"].count == 0


def test_after_ingest_runs_the_update_when_a_model_is_there(capsys, monkeypatch, fake, dbpath):
    monkeypatch.setenv("PXPROFILE_MODEL", "gemma3-270m")  # ships in an installed package
    fake.enqueue(ADD)
    db = open_db(dbpath)
    after_ingest(db)
    err = capsys.readouterr().err
    assert fake.loads[0][0] == "gemma3-270m"
    assert "Changed the profile: 1 added" in err
    assert "- Prefers tables over prose\n" in profile.profile_file().read_text()
    after_ingest(db, quiet=True)  # nothing new: silent, no model
    assert capsys.readouterr().err == "" and len(fake.loads) == 1


def test_after_ingest_never_fails_the_ingest(capsys, monkeypatch, dbpath):
    from pxprofile import engine as engine_mod

    def load(*a, **k):
        raise ModelError("Too little memory to load gemma3-270m.")

    monkeypatch.setenv("PXPROFILE_MODEL", "gemma3-270m")
    monkeypatch.setattr(engine_mod, "load_engine", load)
    after_ingest(open_db(dbpath), quiet=True)
    err = capsys.readouterr().err
    assert (
        "Warning: the update after ingest did not run: Too little memory to load gemma3-270m.."
        not in err
    )
    assert (
        "Warning: the update after ingest did not run: Too little memory to load gemma3-270m."
        in err
    )
    assert "Run `pxprofile update` to retry." in err


def test_ingest_update_ingest_more_update_digests_each_message_once(
    runner, fake, monkeypatch, tmp_path, fixtures_dir
):
    monkeypatch.setenv("PXPROFILE_MODEL", "gemma3-270m")
    path = tmp_path / "px.db"
    first = f"{fixtures_dir}/chatgpt/branches-regenerate-edit.json"
    more = f"{fixtures_dir}/openwebui/export.json"
    result = runner.invoke(app, ["ingest", first, "--db", str(path)])
    assert result.exit_code == 0, result.output
    conn = sqlite3.connect(path)
    first_ids = {r[0] for r in conn.execute("select id from messages")}
    assert first_ids
    [(u1,)] = conn.execute("select id from updates").fetchall()
    assert {
        r[0] for r in conn.execute("select message_id from digested where update_id = ?", [u1])
    } == first_ids

    result = runner.invoke(app, ["ingest", more, "--db", str(path)])
    assert result.exit_code == 0, result.output
    all_ids = {r[0] for r in conn.execute("select id from messages")}
    assert len(all_ids) > len(first_ids)
    u1_again, u2 = [r[0] for r in conn.execute("select id from updates order by id")]
    assert u1_again == u1
    second = {
        r[0] for r in conn.execute("select message_id from digested where update_id = ?", [u2])
    }
    assert second == all_ids - first_ids
    rows = conn.execute("select message_id, count(*) from digested group by message_id").fetchall()
    assert len(rows) == len(all_ids) and {n for _, n in rows} == {1}

    result = runner.invoke(app, ["update", "--db", str(path)])
    assert result.exit_code == 0
    assert result.stderr == "Nothing new to learn from: the profile is up to date.\n"
    assert conn.execute("select count(*) from updates").fetchone()[0] == 2


def test_nothing_new_never_imports_llama_cpp(dbpath, tmp_path):
    """A real process: an update with nothing new (after a first one) stays clear of llama.cpp."""
    import subprocess
    import sys

    db = open_db(dbpath)
    from pxprofile import signals

    ids = [r["id"] for r in db.query("select id from messages")]
    signals.mark_digested(db, ids, [], None, None)
    db.conn.close()
    code = (
        "import sys\n"
        "from pxprofile.cli import main\n"
        f"sys.argv = ['pxprofile', 'update', '--db', {str(dbpath)!r}]\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "assert 'llama_cpp' not in sys.modules\n"
        "print('ok')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "ok\n"
    assert proc.stderr == "Nothing new to learn from: the profile is up to date.\n"
