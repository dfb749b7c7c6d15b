"""`pxprofile eval`: end to end through the CLI, with the judge engine of test_evaluate.py (the
profile-helps case) and with the real test model in a subprocess (JSON, progress bar, re-run)."""

from __future__ import annotations

import http.server
import json
import os
import pty
import subprocess
import sys
import threading

import pytest
from test_evaluate import JudgeEngine, make_history, seed_profile

from pxprofile.cli import app

KEYS = {"pairs", "accuracy_with_profile", "accuracy_without_profile", "margin_gain", "left_out"}


@pytest.fixture
def judge(monkeypatch):
    from pxprofile import engine as engine_mod

    eng = JudgeEngine()
    eng.loads = []

    def load(name=None, **options):
        eng.loads.append((name, options))
        return eng

    monkeypatch.setattr(engine_mod, "load_engine", load)
    return eng


@pytest.fixture
def dbpath(tmp_path):
    path = tmp_path / "px.db"
    db = make_history(path, n=4)
    seed_profile(db, cite=0)
    db.conn.close()
    return path


def test_profile_helps_end_to_end(runner, judge, dbpath):
    result = runner.invoke(app, ["eval", "--db", str(dbpath), "--json", "-m", "judge"])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""  # not a terminal: no progress bar
    d = json.loads(result.stdout)
    assert KEYS <= d.keys()
    assert (d["pairs"], d["left_out"], d["available"]) == (3, 1, 4)
    assert d["accuracy_with_profile"] == 1.0 and d["accuracy_without_profile"] == 0.5
    assert d["margin_gain"] > 0
    assert judge.loads == [("judge", {"verbose": False})]


def test_human_report_with_per_line(runner, judge, dbpath):
    result = runner.invoke(
        app, ["eval", "--db", str(dbpath), "--per-line", "--backend", "openai",
              "--base-url", "http://127.0.0.1:9/v1", "--limit", "2"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    out = result.stdout.splitlines()
    assert out[0] == "Scored 2 of 4 recorded choices with judge (profile 'default', 2 lines)."
    assert out[1] == (
        "Left out: 1 (evidence for profile lines: 1; untraceable comparisons already read: 0)."
    )
    assert out[2] == "Accuracy with profile:    100.0%   (confidence 90.0%)"
    assert out[3] == "Accuracy without profile: 50.0%   (confidence 50.0%)"
    assert out[4].startswith("Mean margin gain: +")
    assert out[5] == (
        "Profile lines, most helpful first (the margin lost when the line is left out):"
    )
    assert "[Communication style] Prefers concise answers" in out[6]
    assert "accuracy +50.0 pts" in out[6]
    assert out[-1].startswith("Cost: 32 model calls in ")
    assert judge.loads[0][1] == {
        "verbose": False,
        "backend": "openai",
        "base_url": "http://127.0.0.1:9/v1",
    }


def test_errors_are_one_line(runner, judge, tmp_path):
    path = tmp_path / "px.db"
    make_history(path, n=1).conn.close()
    result = runner.invoke(app, ["eval", "--db", str(path)])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: The profile 'default' has no lines yet")
    assert result.stderr.count("\n") == 1
    result = runner.invoke(app, ["eval", "--db", str(path), "--limit", "0"])
    assert result.exit_code == 2


# -- the real model, in a subprocess -----------------------------------------------------------

MODEL_ARGS = ["--model", "gemma3-270m", "--ctx", "2048", "--threads", "1", "--gpu-layers", "0"]


def _stable(d: dict) -> dict:
    return {k: v for k, v in d.items() if k not in ("seconds", "seconds_per_choice")}


def _run(args):
    return subprocess.run(
        [sys.executable, "-m", "pxprofile", "eval", *args], capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip


@pytest.mark.model
def test_real_model_json_and_rerun(dbpath):
    args = ["--db", str(dbpath), "--json", "--limit", "1", *MODEL_ARGS]
    first = _run(args)
    assert first.returncode == 0, first.stderr
    assert first.stderr == ""
    d = json.loads(first.stdout)
    assert KEYS <= d.keys()
    assert (d["pairs"], d["left_out"], d["calls"], d["model"]) == (1, 1, 8, "gemma3-270m")
    assert _stable(json.loads(_run(args).stdout)) == _stable(d)


@pytest.mark.model
def test_real_model_progress_bar_on_a_terminal(dbpath):
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pxprofile", "eval", "--db", str(dbpath), "--limit", "1",
         *MODEL_ARGS], stdout=subprocess.PIPE, stderr=slave, text=True,
    )  # fmt: skip
    os.close(slave)
    seen = []
    reader = threading.Thread(target=_drain, args=(master, seen))
    reader.start()
    out, _ = proc.communicate(timeout=600)
    reader.join(timeout=60)
    os.close(master)
    assert proc.returncode == 0
    assert b"Scoring choices" in b"".join(seen)
    assert out.startswith("Scored 1 of 4 recorded choices with gemma3-270m")
    quiet = _run(["--db", str(dbpath), "--limit", "1", "--quiet", *MODEL_ARGS])
    assert quiet.stderr == "" and quiet.stdout.startswith("Scored 1 of 4")


def _drain(fd: int, into: list[bytes]) -> None:
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO once the child has closed the terminal
            return
        if not chunk:
            return
        into.append(chunk)


# -- a real llama.cpp server (python -m llama_cpp.server) on 127.0.0.1 -------------------------
# conftest's module-scoped llama_server fixture starts it (gemma3-270m, n_ctx 1024, one thread)


@pytest.mark.model
def test_llama_cpp_server_scores_selection_only(llama_server, dbpath):
    ok = _run(["--db", str(dbpath), "--json", "--limit", "1", "--backend", "openai",
               "-m", "gemma3-270m", "--base-url", llama_server])  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    d = json.loads(ok.stdout)
    assert (d["pairs"], d["left_out"], d["calls"]) == (1, 1, 5)  # 4 selections + 1 refused reply
    assert d["accuracy_with_profile"] in (0.0, 0.5, 1.0)
    assert 0 < d["confidence_with_profile"] < 1
    assert d["margin_gain"] is None and "cannot score a given reply" in d["margin_note"]


class _NoLogprobs(http.server.BaseHTTPRequestHandler):
    """An OpenAI-compatible chat server that answers but never returns log-probabilities."""

    def do_POST(self):  # noqa: N802 - http.server's naming
        self.rfile.read(int(self.headers["Content-Length"]))
        body = json.dumps({"choices": [{"message": {"content": "A"}, "finish_reason": "stop"}]})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args):
        pass


def test_server_without_logprobs_is_one_clear_error(dbpath):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NoLogprobs)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
        bad = _run(["--db", str(dbpath), "--backend", "openai", "-m", "some-model",
                    "--base-url", url])  # fmt: skip
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert bad.returncode == 1 and bad.stdout == ""
    assert bad.stderr.startswith(f"Error: The model server at {url} returned no log-probabilities")
    assert bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr
