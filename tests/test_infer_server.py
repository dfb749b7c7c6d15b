"""Updates over `--backend openai` against a scripted server on 127.0.0.1 (tests/standin.py):
concurrent reading steps, and Ctrl-C on a real `pxprofile update` process. The same against a
real `python -m llama_cpp.server` is in test_infer_models.py."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from fake_engine import add_conversation
from standin import Perfect, Planted, StandIn

from pxprofile import infer, profile, signals
from pxprofile.store import open_db

HOBBIES = ["chess", "sourdough baking", "jazz records", "birdwatching", "rock climbing", "origami"]
PLANTED = [Planted(f"weekends on {h}", f"Enjoys {h}", "Interests") for h in HOBBIES]


def history(db, n=24):
    for i in range(n):
        said = (
            f"I spend my weekends on {HOBBIES[i]}, by the way."
            if i < 6
            else f"What is {i} squared?"
        )
        add_conversation(
            db, f"c{i:02d}", [("user", said), ("assistant", str(i * i))],
            start=f"2025-01-{i + 1:02d}T00:00:00Z",
        )  # fmt: skip


@pytest.fixture
def server():
    s = StandIn(Perfect(PLANTED, delay=0.05)).start()
    yield s
    s.stop()


def test_parallel_reading_steps_run_concurrently(tmp_path, server):
    from pxprofile.engine import load_engine

    db = open_db(tmp_path / "px.db")
    history(db)
    engine = load_engine("standin", backend="openai", base_url=server.url, n_ctx=1200)
    result = infer.update(db, engine=engine, parallel=4, read_all=True)
    assert result.readings > 4 and server.max_concurrent >= 2
    assert result.user_messages_read == 24 and signals.pending(db) == 0
    lines = {ln.text for ln in profile.current_lines(db)}
    assert lines == {p.line for p in PLANTED}


def test_ctrl_c_keeps_what_was_read_and_the_next_update_continues(tmp_path):
    # slow enough that the update is still reading when Ctrl-C comes, even on a loaded machine
    slow = StandIn(Perfect(PLANTED, delay=4.0)).start()
    try:
        path = tmp_path / "px.db"
        db = open_db(path)
        history(db)
        db.conn.close()
        cmd = [sys.executable, "-m", "pxprofile", "update", "--db", str(path), "--all",
               "--backend", "openai", "--base-url", slow.url, "--model", "standin",
               "--ctx", "1200", "--parallel", "2"]  # fmt: skip
        proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
        deadline = time.monotonic() + 60
        while slow.calls < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=30)
        assert proc.returncode == 130, err
        assert "Traceback" not in err
        db = open_db(path)
        kept = db["readings"].count
        assert kept >= 2  # the readings that completed before Ctrl-C are stored
        [row] = db["updates"].rows
        assert row["status"] == "interrupted"
        assert not profile.profile_file().exists()  # nothing half-done was written
        slow.model.delay = 0.0
        seen = len(slow.prompts)
        result = infer.update(
            db, model="standin", engine_options={"backend": "openai", "base_url": slow.url,
                                                 "n_ctx": 1200},
            read_all=True, parallel=2,
        )  # fmt: skip
        assert result.user_messages_read == 24 and signals.pending(db) == 0
        later = "".join(slow.prompts[seen:])
        for r in db["readings"].rows_where("update_id = ?", [row["id"]]):
            for mid in json.loads(r["voice_ids"]):  # what was read is never read again
                assert db["messages"].get(mid)["text"] not in later
        assert {ln.text for ln in profile.current_lines(db)} == {p.line for p in PLANTED}
    finally:
        slow.stop()


def _on_a_terminal(args: list[str]) -> str:
    """Run `pxprofile update ARGS` with stderr on a pseudo-terminal; what the terminal showed."""
    import pty
    import select

    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pxprofile", "update", *args],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave,
        env={**os.environ, "COLUMNS": "120", "TERM": "xterm"},
    )  # fmt: skip
    os.close(slave)
    out = b""
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    proc.wait(timeout=60)
    os.close(master)
    assert proc.returncode == 0, out
    return out.decode(errors="replace")


def test_progress_bar_on_a_terminal_and_silent_with_quiet(tmp_path):
    slow = StandIn(Perfect(PLANTED, delay=0.3)).start()
    try:
        common = ["--all", "--backend", "openai", "--base-url", slow.url, "--model", "standin",
                  "--ctx", "1200"]  # fmt: skip
        for name, quiet in (("a", False), ("b", True)):
            path = tmp_path / f"{name}.db"
            history(open_db(path))
            shown = _on_a_terminal(["--db", str(path), *common] + (["--quiet"] if quiet else []))
            if quiet:
                assert shown == ""
            else:
                assert "Reading conversations" in shown and "/24" in shown  # M of N, ETA
                assert "Read 24 of 24 new messages you wrote" in shown
    finally:
        slow.stop()
