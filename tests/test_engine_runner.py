"""llama.cpp in a child process: native crashes are contained, and the AMX work-around.

Real parts: the Gemma 3 270M GGUF, real child processes, real signals, a real `pxprofile update`
in a subprocess, real SQLite files.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from pxprofile.engine import Segment, load_engine
from pxprofile.errors import ModelCrashedError, ModelError
from pxprofile.llamacpp import cpu_flags, extra_bufts_choice
from pxprofile.runner import PIDFILE_ENV, crash_error

pytestmark = pytest.mark.model

PX = [sys.executable, "-m", "pxprofile"]

# /proc/cpuinfo of a Sapphire Rapids Xeon (flags shortened) and of an AMD EPYC with AVX2 only
XEON = textwrap.dedent(
    """\
    processor\t: 0
    vendor_id\t: GenuineIntel
    model name\t: Intel(R) Xeon(R) Platinum 8480+
    flags\t\t: fpu vme sse sse2 avx avx2 avx512f avx512bw avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8
    """
)
EPYC = "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse sse2 avx avx2 fma bmi2\n"
ARM = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32\n"


# --- the AMX work-around -----------------------------------------------------------------------


def test_cpu_flags_are_read_from_cpuinfo_text():
    assert {"amx_tile", "amx_int8", "avx512f"} <= cpu_flags(XEON)
    assert "amx_tile" not in cpu_flags(EPYC) and "avx2" in cpu_flags(EPYC)
    assert "asimd" in cpu_flags(ARM)
    assert cpu_flags("") == set()


@pytest.mark.parametrize(
    "text, env, expected",
    [
        (XEON, None, False),  # AMX: llama.cpp's AMX kernels crash, so extra buffer types are off
        (EPYC, None, True),  # no AMX: keep llama.cpp's weight repacking
        (ARM, None, True),
        ("", None, True),  # unknown CPU: llama.cpp's default
        (XEON, "1", True),  # the user's override wins either way
        (EPYC, "0", False),
        (XEON, "maybe", False),  # not 0/1: ignored
    ],
)
def test_extra_buffer_types_are_off_only_where_the_cpu_has_amx(text, env, expected):
    use, why = extra_bufts_choice(cpu_flags(text), env=env)
    assert use is expected
    if text is XEON and env is None:
        assert "AMX (amx_bf16, amx_int8, amx_tile)" in why and "#20824" in why


def test_installed_llama_cpp_python_has_the_field():
    import llama_cpp

    from pxprofile.llamacpp import extra_bufts_settable

    assert extra_bufts_settable()
    assert llama_cpp.llama_model_default_params().use_extra_bufts is True  # llama.cpp's default


LOAD = """
from pxprofile.engine import load_engine
e = load_engine("gemma3-270m", n_ctx=256, n_threads=1, gpu_layers=0, verbose=True)
print(e.info["extra_bufts"])
"""


@pytest.mark.parametrize("setting", ["0", "1"])
def test_the_setting_reaches_llama_cpp_on_a_real_load(setting):
    # With extra buffer types on, llama.cpp repacks Q4_K weights for AVX2 and logs a CPU_REPACK
    # buffer (an AMX CPU would log an AMX buffer); with them off, it logs neither.
    r = subprocess.run(
        [sys.executable, "-c", LOAD],
        capture_output=True,
        text=True,
        env={**os.environ, "PXPROFILE_EXTRA_BUFTS": setting},
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout == ("True\n" if setting == "1" else "False\n")
    assert "load_tensors:" in r.stderr  # the log came through from the child
    repacked = "CPU_REPACK model buffer" in r.stderr or "AMX model buffer" in r.stderr
    assert repacked is (setting == "1")
    assert f"extra buffer types: PXPROFILE_EXTRA_BUFTS={setting}" in r.stderr


def test_model_info_says_which_cpu_features_are_used(runner):
    from pxprofile.cli import app

    result = runner.invoke(app, ["model", "info", "gemma3-270m"])
    assert result.exit_code == 0, result.output
    lines = dict(ln.split(":", 1) for ln in result.stdout.splitlines() if ":" in ln)
    assert "AVX2" in lines["CPU features"] or "AVX" in lines["CPU features"]
    assert lines["extra buffers"].strip().startswith(("on", "off"))
    result = runner.invoke(app, ["model", "info", "gemma3-270m", "--json"])
    data = json.loads(result.stdout)
    assert data["cpu"]["extra_buffer_types"] in (True, False)
    assert "AVX2" in data["cpu"]["llama_cpp_features"]


# --- crashes in the model's process -----------------------------------------------------------


def test_crash_message_is_one_line_with_signal_model_log_and_advice():
    log = ["llama_context: n_ctx = 512\n", "\n", "ggml.c:1234: GGML_ASSERT(x) failed\n"]
    e = crash_error("qwen3-4b", -signal.SIGSEGV, log)
    msg = str(e)
    assert isinstance(e, ModelError) and "\n" not in msg
    assert msg.startswith("llama.cpp crashed while running qwen3-4b (SIGSEGV); its log ended: ")
    assert "llama_context: n_ctx = 512 | ggml.c:1234: GGML_ASSERT(x) failed" in msg
    assert "`--gpu-layers 0`" in msg and "smaller `--ctx`" in msg
    assert "out-of-memory killer" in str(crash_error("m", -signal.SIGKILL, []))
    assert "(exit status 3)." in str(crash_error("m", 3, []))


@pytest.mark.parametrize("sig", [signal.SIGSEGV, signal.SIGABRT, signal.SIGKILL])
def test_a_crash_during_a_completion_is_a_model_crashed_error(sig):
    engine = load_engine("gemma3-270m", n_ctx=384, n_threads=1, gpu_layers=0)
    assert engine.alive and engine.pid != os.getpid()
    timer = threading.Timer(0.3, os.kill, (engine.pid, sig))  # mid-generation
    timer.start()
    with pytest.raises(ModelCrashedError) as err:
        engine.complete("Write a long story.", [Segment("Once upon a time")], max_tokens=2000)
    timer.join()
    msg = str(err.value)
    assert msg.startswith(f"llama.cpp crashed while running gemma3-270m ({sig.name}")
    assert "\n" not in msg and "its log ended: " in msg  # llama.cpp's log, sent by the child
    assert not engine.alive
    with pytest.raises(ModelCrashedError):  # a dead engine says so again, at once
        engine.complete("s", [Segment("u")], max_tokens=1)
    fresh = load_engine("gemma3-270m", n_ctx=384, n_threads=1, gpu_layers=0)
    assert fresh is not engine and fresh.alive  # the next load starts a new child
    assert fresh.complete("s", [Segment("Fruits: apple,")], max_tokens=2).completion_tokens == 2


def _tables(db_path: Path) -> dict[str, list]:
    conn = sqlite3.connect(db_path)
    try:
        names = [
            r[0]
            for r in conn.execute("select name from sqlite_master where type = 'table'")
            if not r[0].startswith(("sqlite_", "messages_fts"))
        ]
        return {n: conn.execute(f"select * from [{n}] order by rowid").fetchall() for n in names}
    finally:
        conn.close()


def _export(path: Path, ids) -> Path:
    from test_durability import write_export

    return write_export(path, ids, messages_per_conversation=4, explicit=True)


def _update_ok(update, run) -> None:
    r = subprocess.run(update, **run)
    assert r.returncode == 0, r.stderr
    assert "Error" not in r.stderr


def test_sigsegv_in_the_model_process_during_update_changes_nothing(env_setup, tmp_path):
    env = {**os.environ, "PXPROFILE_HOME": str(env_setup), PIDFILE_ENV: str(tmp_path / "pid")}
    run = {"capture_output": True, "text": True, "env": env, "timeout": 600}
    update = [*PX, "update", "--model", "gemma3-270m", "--ctx", "2048", "--threads", "1"]
    ingest = [*PX, "ingest", "--no-update"]
    profile = env_setup / "profile.md"
    profile.parent.mkdir(parents=True, exist_ok=True)
    profile.write_text(
        "# Preference profile\n\n## Communication style\n\n- Uses British spelling\n"
    )
    # a profile pxprofile already knows (`show` records it), and new chats for the update
    assert subprocess.run([*PX, "show"], **run).returncode == 0
    new = _export(tmp_path / "b.json", ["b1", "b2"])
    assert subprocess.run([*ingest, str(new)], **run).returncode == 0
    before, tables = profile.read_bytes(), _tables(env_setup / "pxprofile.db")
    assert tables["profile_versions"] and tables["messages"]

    proc = subprocess.Popen(update, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    pidfile = tmp_path / "pid"
    deadline = time.monotonic() + 300
    while not pidfile.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    child = int(pidfile.read_text())  # written as the first completion request goes out
    assert child != proc.pid
    os.kill(child, signal.SIGSEGV)
    out, err = proc.communicate(timeout=300)
    stderr = err.decode()
    print(f"\nSIGSEGV during update: {stderr.strip()}")
    assert proc.returncode == 1, stderr
    [line] = [ln for ln in stderr.splitlines() if ln.startswith("Error:")]
    assert stderr.endswith(line + "\n") and "Traceback" not in stderr
    assert line.startswith("Error: llama.cpp crashed while running gemma3-270m (SIGSEGV)")
    assert "its log ended: " in line and "`--gpu-layers 0`" in line
    assert profile.read_bytes() == before
    after = _tables(env_setup / "pxprofile.db")
    # the failed attempt may be recorded as such; everything else is exactly as it was
    old_updates, new_updates = after["updates"][: len(tables["updates"])], after.pop("updates")
    assert old_updates == tables.pop("updates")
    db = sqlite3.connect(env_setup / "pxprofile.db")
    for status, error in db.execute("select status, error from updates where id > 1"):
        assert status == "failed" and "crashed" in error
    assert len(new_updates) <= len(old_updates) + 1
    assert after == tables
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    _update_ok(update, {**run, "env": {k: v for k, v in env.items() if k != PIDFILE_ENV}})
    assert "- Uses British spelling\n" in profile.read_text()
    # the next update ran the model to the end: it read (stored readings) and finished; whether
    # the tiny model's proposals pass the checks (and so what counts as read) is not at stake
    [last] = db.execute("select status from updates order by id desc limit 1").fetchall()
    assert last[0] in ("ok", "noop", "rejected")
    assert db.execute("select count(*) from readings").fetchone()[0] > 0


def test_an_interrupted_request_leaves_no_stale_reply_behind():
    engine = load_engine("gemma3-270m", n_ctx=320, n_threads=1, gpu_layers=0)
    timer = threading.Timer(0.3, lambda: signal.raise_signal(signal.SIGINT))  # Ctrl-C
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        engine.complete("Write a long story.", [Segment("Once upon a time")], max_tokens=2000)
    timer.join()
    assert not engine.alive and engine.proc.wait(timeout=10) == -signal.SIGKILL
    fresh = load_engine("gemma3-270m", n_ctx=320, n_threads=1, gpu_layers=0)
    assert fresh is not engine
    assert fresh.complete("s", [Segment("Fruits: apple,")], max_tokens=2).completion_tokens == 2


def test_closing_an_engine_ends_its_process():
    engine = load_engine("gemma3-270m", n_ctx=288, n_threads=1, gpu_layers=0)
    proc = engine.proc
    engine.close()
    assert proc.poll() is not None
