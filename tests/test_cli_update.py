import json
import sqlite3

import pytest
from fake_engine import FakeEngine, add_conversation
from standin import Perfect, Planted

from pxprofile import profile
from pxprofile.cli import app
from pxprofile.cli.update import NO_MODEL_HINT, after_ingest
from pxprofile.errors import ModelError
from pxprofile.store import open_db


@pytest.fixture
def fake(monkeypatch):
    """load_engine returns one FakeEngine; the test enqueues its outputs."""
    from pxprofile import engine as engine_mod

    eng = FakeEngine(default=Perfect([TABLES]))
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


TABLES = Planted("tables over prose", "Prefers tables over prose")


def test_update_applies_changes_and_reports_on_stderr(runner, fake, dbpath):
    result = runner.invoke(app, ["update", "--db", str(dbpath), "--ctx", "2048", "--threads", "2"])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert result.stderr == (  # stderr is not a terminal here: no progress bar
        "Loading model...\nRead 1 of 1 new message you wrote (100%), 1 observation. Changed the "
        "profile: 1 added, 0 revised, 0 retired.\n"
    )
    assert fake.loads == [(None, {"n_ctx": 2048, "n_threads": 2, "verbose": False})]
    assert "- Prefers tables over prose\n" in profile.profile_file().read_text()
    conn = sqlite3.connect(dbpath)
    assert conn.execute("select status, applied, messages_read from updates").fetchall() == [
        ("ok", 1, 2)
    ]
    assert conn.execute("select count(*) from digested").fetchone()[0] == 2


def test_a_repeated_preference_moves_last_supported_forward(runner, fake, dbpath):
    assert runner.invoke(app, ["update", "--db", str(dbpath)]).exit_code == 0
    db = open_db(dbpath)
    [line] = profile.current_lines(db)
    first = line.last_supported
    add_conversation(
        db, "c2", [("user", "Again: tables over prose, please.")], start="2025-09-01T00:00:00Z"
    )
    result = runner.invoke(app, ["update", "--db", str(dbpath)])
    assert result.exit_code == 0, result.output
    [line] = profile.current_lines(db)  # the same line, now supported later: not a duplicate
    assert line.text == "Prefers tables over prose"
    assert line.last_supported > first and line.last_supported.startswith("2025-09-01")
    assert set(line.evidence) == {"c1:0", "c2:0"}


def test_nothing_new_exits_quickly_without_a_model(runner, monkeypatch, tmp_path):
    from pxprofile import engine as engine_mod

    monkeypatch.setattr(engine_mod, "load_engine", lambda *a, **k: pytest.fail("model loaded"))
    result = runner.invoke(app, ["update", "--db", str(tmp_path / "empty.db")])
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr == "Nothing new to learn from: the profile is up to date.\n"


def test_dry_run_prints_the_diff_and_writes_nothing(runner, fake, dbpath):
    result = runner.invoke(app, ["update", "--db", str(dbpath), "--dry-run", "-q"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("--- profile.md\n+++ profile.md\n")
    assert "+- Prefers tables over prose\n" in result.stdout
    assert result.stderr == ""
    assert not profile.profile_file().exists()
    conn = sqlite3.connect(dbpath)
    for table in ("updates", "digested", "readings"):
        assert conn.execute(f"select count(*) from {table}").fetchone()[0] == 0


def test_verbose_says_what_was_read_without_the_model_and_what_was_rejected(runner, fake, dbpath):
    fake.enqueue(
        {"observations": [{"kind": "preference", "text": "Prefers tables", "messages": ["M1"]}]},
        {"operations": [
            {"op": "retire", "section": "Avoid", "line": 3, "text": "", "evidence": ["O1"]},
            {"op": "add", "section": "Avoid", "line": 0, "text": "Hates ads", "evidence": ["O4"]},
            {"op": "add", "section": "Avoid", "line": 0, "text": "Prefers tables over prose",
             "evidence": ["O1"]},
        ]},
    )  # fmt: skip
    result = runner.invoke(app, ["update", "--db", str(dbpath), "--verbose"])
    assert result.exit_code == 0, result.output
    assert (
        "Not the user's own voice, counted as read with their conversation: assistant replies "
        "(read as the user's context): 1. Only what the user wrote, chose or rated is evidence.\n"
    ) in result.stderr
    assert "Rejected retire line 3: line 3 does not exist\n" in result.stderr
    assert "Rejected add to Avoid: 'Hates ads': cites evidence that does not exist: O4\n" in (
        result.stderr
    )
    assert "Changed the profile: 1 added, 0 revised, 0 retired; 2 proposed changes rejected." in (
        result.stderr
    )


def test_json_output(runner, fake, dbpath):
    result = runner.invoke(app, ["update", "--db", str(dbpath), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["status"] == "ok" and doc["messages_read"] == 2 and doc["user_messages_left"] == 0
    assert (doc["user_messages_read"], doc["readings"], doc["observations"]) == (1, 1, 1)
    assert doc["applied"] == [
        {"op": "add", "section": "Communication style", "line_id": None,
         "text": "Prefers tables over prose", "evidence": ["c1:0"]}
    ]  # fmt: skip
    assert result.stderr == ""


def test_unusable_output_is_an_error_that_reads_nothing(runner, fake, dbpath):
    fake.enqueue("definitely not json")
    result = runner.invoke(app, ["update", "--db", str(dbpath)])
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == (
        "Error: the model's output could not be used, so nothing was changed. "
        "Run `pxprofile update` again, or use a larger model (`pxprofile model use qwen3-4b`)"
    )
    assert not profile.profile_file().exists()
    conn = sqlite3.connect(dbpath)
    assert conn.execute("select status from updates").fetchall() == [("failed",)]
    assert conn.execute("select count(*) from digested").fetchone()[0] == 0


def test_model_errors_are_one_line_and_nothing_is_read(runner, monkeypatch, dbpath):
    from pxprofile import engine as engine_mod

    def load(*a, **k):
        raise ModelError("Model qwen3-4b is not downloaded. Run `pxprofile model pull qwen3-4b`.")

    monkeypatch.setattr(engine_mod, "load_engine", load)
    result = runner.invoke(app, ["update", "--db", str(dbpath), "-q"])
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: Model qwen3-4b is not downloaded. Run `pxprofile model pull qwen3-4b`.\n"
    )
    assert open_db(dbpath)["digested"].count == 0


def test_review_needs_a_terminal(runner, fake, dbpath):
    result = runner.invoke(app, ["update", "--db", str(dbpath), "--review"])
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: --review needs a terminal to ask on. Use --dry-run to see the changes instead.\n"
    )


@pytest.mark.parametrize("flags", [["--dry-run", "--review"], ["--review", "--dry-run"]])
def test_dry_run_and_review_exclude_each_other(runner, fake, dbpath, flags):
    result = runner.invoke(app, ["update", "--db", str(dbpath), *flags])
    assert result.exit_code == 2
    assert result.stderr.endswith(
        "Error: Invalid value for --review: give --dry-run or --review, not both\n"
    )
    assert fake.loads == [] and open_db(dbpath)["updates"].count == 0


def test_budget_continue_and_all(runner, fake, tmp_path):
    path = tmp_path / "big.db"
    db = open_db(path)
    for i in range(40):
        add_conversation(db, f"c{i}", [("user", f"I like hobby number {i} {'q' * 30}")])
    result = runner.invoke(app, ["update", "--db", str(path), "--budget", "100"])
    assert result.exit_code == 0, result.output
    assert "not read yet" in result.stderr
    assert "`pxprofile update` continues; `--all` reads the rest." in result.stderr
    first = db.execute("select count(*) from digested").fetchone()[0]
    assert 0 < first < 40
    result = runner.invoke(app, ["update", "--db", str(path), "--all"])
    assert result.exit_code == 0, result.output
    assert "not read yet" not in result.stderr
    assert db.execute("select count(*) from digested").fetchone()[0] == 40


def test_after_ingest_without_a_model_reads_nothing_and_prints_one_hint(
    capsys, monkeypatch, dbpath
):
    from pxprofile import engine as engine_mod

    monkeypatch.setattr(engine_mod, "load_engine", lambda *a, **k: pytest.fail("model loaded"))
    db = open_db(dbpath)
    after_ingest(db)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == NO_MODEL_HINT + "\n"
    assert db["updates"].count == 0 and db["digested"].count == 0


def test_after_ingest_runs_the_update_when_a_model_is_there(capsys, monkeypatch, fake, dbpath):
    monkeypatch.setenv("PXPROFILE_MODEL", "gemma3-270m")  # ships in an installed package
    db = open_db(dbpath)
    after_ingest(db)
    err = capsys.readouterr().err
    assert fake.loads[0][0] == "gemma3-270m"
    assert "Changed the profile: 1 added" in err
    assert "- Prefers tables over prose\n" in profile.profile_file().read_text()
    after_ingest(db, quiet=True)  # nothing new: silent, no model
    assert capsys.readouterr().err == "" and len(fake.loads) == 1


def test_a_model_problem_after_ingest_is_a_warning_and_a_bug_is_not(
    runner, monkeypatch, tmp_path, fixtures_dir
):
    from pxprofile import engine as engine_mod

    monkeypatch.setenv("PXPROFILE_MODEL", "gemma3-270m")
    monkeypatch.setattr(
        engine_mod,
        "load_engine",
        lambda *a, **k: (_ for _ in ()).throw(ModelError("Too little memory.")),
    )
    export = f"{fixtures_dir}/chatgpt/branches-regenerate-edit.json"
    result = runner.invoke(app, ["ingest", export, "--db", str(tmp_path / "a.db")])
    assert result.exit_code == 0, result.output
    assert (
        "Warning: the profile was not updated: Too little memory. Run `pxprofile update` again."
        in (result.stderr)
    )
    monkeypatch.setattr(engine_mod, "load_engine", lambda *a, **k: 1 / 0)
    result = runner.invoke(app, ["ingest", export, "--db", str(tmp_path / "b.db")])
    assert isinstance(result.exception, ZeroDivisionError)  # a bug is never a warning


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


def test_why_leads_from_a_learned_line_to_the_users_own_message(runner, fake, dbpath):
    assert runner.invoke(app, ["update", "--db", str(dbpath)]).exit_code == 0
    result = runner.invoke(app, ["why", "tables", "--db", str(dbpath)])
    assert result.exit_code == 0, result.output
    assert '"Prefers tables over prose" (Communication style)' in result.stdout
    assert 'you wrote:\n    "I prefer tables over prose."' in result.stdout
