"""Durability: concurrent ingests, SIGKILL during ingest and update, disk full, read-only dirs.

Real processes and real SQLite files throughout. Kills use a pre-imported "zygote" that forks
one worker per kill (no connection is ever carried across fork), so many kills stay cheap.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from pxprofile import document, profile
from pxprofile.errors import StoreError
from pxprofile.ingest import ingest_path
from pxprofile.store import open_db

TESTS = Path(__file__).parent
PX = [sys.executable, "-m", "pxprofile"]
CONCURRENT = 8
INGEST_KILLS = 20
UPDATE_KILLS = 20


def chatgpt_export(conv_ids, messages_per_conversation=6, words=12, explicit=False) -> list[dict]:
    """A ChatGPT conversations.json with linear chats; ids are stable across exports."""
    out = []
    for c in conv_ids:
        mapping, parent = {}, None
        for n in range(messages_per_conversation):
            mid = f"{c}-m{n}"
            role = "user" if n % 2 == 0 else "assistant"
            text = f"{role} turn {n} of {c}: " + " ".join(
                f"w{(n * 7 + k) % 97}" for k in range(words)
            )
            if explicit and role == "user":
                text = f"I prefer examples about {c} number {n}, please."
            mapping[mid] = {
                "id": mid,
                "message": {
                    "id": mid,
                    "author": {"role": role},
                    "create_time": 1_700_000_000 + n,
                    "content": {"content_type": "text", "parts": [text]},
                },
                "parent": parent,
                "children": [],
            }
            if parent:
                mapping[parent]["children"].append(mid)
            parent = mid
        out.append(
            {
                "id": c,
                "title": f"chat {c}",
                "create_time": 1_700_000_000,
                "mapping": mapping,
                "current_node": parent,
            }
        )
    return out


def write_export(path: Path, conv_ids, **kw) -> Path:
    path.write_text(json.dumps(chatgpt_export(conv_ids, **kw)))
    return path


def integrity(db_path: Path) -> str:
    import sqlite3

    conn = sqlite3.connect(db_path)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


def counts(db) -> dict[str, int]:
    return {
        t: db.execute(f"select count(*) from {t}").fetchone()[0]
        for t in ("conversations", "messages", "sources")
    }


# --- concurrency -----------------------------------------------------------------------------


def test_eight_concurrent_ingests_of_overlapping_exports(tmp_path):
    db_path = tmp_path / "px.db"
    open_db(db_path).conn.close()  # migrations applied once, like a user who ran pxprofile before
    files = [
        write_export(tmp_path / f"export{i}.json", [f"c{j}" for j in range(i * 5, i * 5 + 15)])
        for i in range(CONCURRENT)
    ]
    union = {f"c{j}" for i in range(CONCURRENT) for j in range(i * 5, i * 5 + 15)}
    procs = [
        subprocess.Popen(
            [*PX, "ingest", str(f), "--no-update", "--db", str(db_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for f in files
    ]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    print(f"\nconcurrent ingests held: {sum(rc == 0 for rc, _ in results)}/{CONCURRENT}")
    assert [rc for rc, _ in results] == [0] * CONCURRENT, results
    assert not any("locked" in err or "busy" in err or "Traceback" in err for _, err in results)
    db = open_db(db_path)
    assert counts(db) == {
        "conversations": len(union),
        "messages": len(union) * 6,
        "sources": CONCURRENT,
    }
    assert {r["native_id"] for r in db.query("select native_id from conversations")} == union
    dupes = db.execute(
        "select count(*) - count(distinct conversation_id || native_id) from messages"
    )
    assert dupes.fetchone()[0] == 0
    assert integrity(db_path) == "ok"


# --- SIGKILL during ingest -------------------------------------------------------------------

ZYGOTE = r"""
import os, sys
sys.path.insert(0, sys.argv[1])
from pxprofile.ingest import ingest_path
from pxprofile.store import open_db

for line in sys.stdin:
    job, db_path, *args = line.split()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            db = open_db(db_path)  # a fresh connection in the child, never one carried across fork
            if job == "ingest":
                ingest_path(db, args[0])
            else:
                import update_worker
                update_worker.run(db, int(args[0]))
        except BaseException as e:
            print("child error:", repr(e), file=sys.stderr, flush=True)
            code = 1
        finally:
            os._exit(code)
    print(pid, flush=True)
    _, status = os.waitpid(pid, 0)
    print("reaped", status, flush=True)
"""


class Zygote:
    def __init__(self, env=None):
        self.proc = subprocess.Popen(
            [sys.executable, "-c", ZYGOTE, str(TESTS)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env or dict(os.environ),
        )

    def start(self, *args) -> int:
        self.proc.stdin.write(" ".join(map(str, args)) + "\n")
        self.proc.stdin.flush()
        return int(self.proc.stdout.readline())

    def reaped(self) -> int:
        word, status = self.proc.stdout.readline().split()
        assert word == "reaped"
        return int(status)

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=10)
        self.proc.stdout.close()


def test_sigkill_during_ingest_then_rerun_completes(tmp_path):
    big = write_export(
        tmp_path / "big.json", [f"k{j}" for j in range(400)], messages_per_conversation=10
    )
    clean_path = tmp_path / "clean.db"
    clean = open_db(clean_path)
    t0 = time.perf_counter()
    ingest_path(clean, big)
    took = time.perf_counter() - t0
    expected = counts(clean)

    db_path = tmp_path / "killed.db"
    open_db(db_path).conn.close()
    rnd = random.Random(7)
    zygote = Zygote()
    survived = landed = 0
    try:
        for _ in range(INGEST_KILLS):
            pid = zygote.start("ingest", db_path, big)
            time.sleep(rnd.uniform(0.01, max(0.02, took * 0.9)))
            with contextlib.suppress(ProcessLookupError):  # it may have finished first
                os.kill(pid, signal.SIGKILL)
            status = zygote.reaped()
            landed += os.WIFSIGNALED(status)
            assert integrity(db_path) == "ok"
            db = open_db(db_path)
            n = counts(db)
            # all or nothing: the source is one transaction
            assert n in ({"conversations": 0, "messages": 0, "sources": 0}, expected)
            db.conn.close()
            survived += 1
    finally:
        zygote.close()
    db = open_db(db_path)
    ingest_path(db, big)  # the re-run completes
    ingest_path(db, big)  # and again adds nothing
    assert counts(db) == expected
    assert integrity(db_path) == "ok"
    print(
        f"\nSIGKILL during ingest: {survived}/{INGEST_KILLS} runs survived ({landed} killed "
        f"mid-run)"
    )
    assert landed >= INGEST_KILLS // 2  # the kills really landed while ingest was running


# --- SIGKILL during update -------------------------------------------------------------------


def test_sigkill_during_update_then_rerun_completes(env_setup, tmp_path):
    db_path = tmp_path / "px.db"
    db = open_db(db_path)
    ingest_path(
        db,
        write_export(
            tmp_path / "e.json",
            [f"u{j}" for j in range(60)],
            messages_per_conversation=4,
            explicit=True,
        ),
    )
    path = profile.profile_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# Preference profile\n\n## Communication style\n\n- Uses British spelling\n")
    original = path.read_bytes()
    db.conn.close()
    rnd = random.Random(11)
    zygote = Zygote()
    landed = 0
    try:
        for i in range(UPDATE_KILLS):
            pid = zygote.start("update", db_path, i)
            time.sleep(rnd.uniform(0.05, 0.6))
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:  # pragma: no cover - the worker loops until killed
                pass
            landed += os.WIFSIGNALED(zygote.reaped())
            assert integrity(db_path) == "ok"
            db = open_db(db_path)
            data = path.read_bytes()
            shas = {r["sha256"] for r in db.query("select sha256 from profile_versions")}
            # never torn: a recorded version, or (killed before the first read recorded the
            # user's file) the file exactly as the user wrote it
            assert hashlib.sha256(data).hexdigest() in shas or data == original
            assert document.problems(data.decode()) == []
            assert "- Uses British spelling\n" in data.decode()
            dupes = db.execute(
                "select count(*) from (select profile, message_id from digested "
                "group by 1, 2 having count(*) > 1)"
            ).fetchone()[0]
            assert dupes == 0
            db.conn.close()
    finally:
        zygote.close()
    sys.path.insert(0, str(TESTS))
    import update_worker

    db = open_db(db_path)
    for _ in range(20):  # re-runs finish the work the killed runs left
        if update_worker.run(db, 99, once=True) == "nothing-new":
            break
    digested = db.execute("select count(distinct message_id) from digested").fetchone()[0]
    total = db.execute("select count(*) from messages").fetchone()[0]
    assert digested == total and total > 240  # every message, including the killed runs' chats
    assert integrity(db_path) == "ok"
    print(
        f"\nSIGKILL during update: {UPDATE_KILLS}/{UPDATE_KILLS} runs survived ({landed} killed "
        f"mid-run)"
    )
    assert landed >= UPDATE_KILLS // 2


# --- disk full -------------------------------------------------------------------------------


def test_database_full_is_a_clear_error_and_prior_data_is_intact(tmp_path):
    db_path = tmp_path / "px.db"
    db = open_db(db_path)
    ingest_path(db, write_export(tmp_path / "small.json", ["s1", "s2"]))
    before = counts(db)
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages + 2}")
    big = write_export(tmp_path / "big.json", [f"b{j}" for j in range(200)], words=60)
    with pytest.raises(
        StoreError, match=r"^the disk \(or database size limit\) is full; nothing was saved"
    ):
        ingest_path(db, big)
    assert counts(db) == before
    db.conn.close()
    assert integrity(db_path) == "ok"


RLIMIT_CHILD = r"""
import os, resource, signal, sys
from pxprofile import profile
from pxprofile.errors import PxprofileError
from pxprofile.fileio import atomic_write
from pxprofile.profile import Change
from pxprofile.store import open_db

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
db = open_db(sys.argv[1])
path = profile.profile_file()
limit = int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
try:
    if sys.argv[3] == "write":
        atomic_write(path, b"- x\n" * limit)
    else:
        text = "Prefers tables over prose" + " and lists" * 12
        r = profile.apply_changes(db, [Change("add", text,
                                              "Communication style")])
        print("applied", r.applied, r.rejected, file=sys.stderr)
except PxprofileError as e:
    print(type(e).__name__, e, file=sys.stderr)
    sys.exit(1)
print("no error", file=sys.stderr)
"""


@pytest.mark.parametrize("mode", ["write", "apply"])
def test_file_size_limit_leaves_the_profile_intact(env_setup, tmp_path, mode):
    db_path = tmp_path / "px.db"
    db = open_db(db_path)
    path = profile.profile_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    original = "# Preference profile\n\n## Communication style\n\n- Uses British spelling\n" * 3
    path.write_text(original)
    profile.current_lines(db)
    snapshot = [dict(r) for r in db.query("select * from profile_lines order by id")]
    db.conn.close()
    limit = max(len(original) + 20, 4096) if mode == "write" else len(original) + 20
    proc = subprocess.run(
        [sys.executable, "-c", RLIMIT_CHILD, str(db_path), str(limit), mode],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    if mode == "write":
        assert proc.stderr.startswith("ProfileError cannot write")
        assert "the disk is full; the file was left as it was" in proc.stderr
    else:
        assert (
            "the disk may be full); nothing was saved" in proc.stderr
            or "disk is full" in proc.stderr
        )
    assert path.read_text() == original
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    assert integrity(db_path) == "ok"
    db = open_db(db_path)
    assert [dict(r) for r in db.query("select * from profile_lines order by id")] == snapshot


def test_export_to_dev_full_fails_loudly(env_setup):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    path = profile.profile_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# Preference profile\n\n## Communication style\n\n- Prefers short answers\n")
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [*PX, "export", "--for", "markdown"],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 1
    assert proc.stderr.startswith(
        "Error: cannot write the export to stdout: No space left on device."
    )


# --- read-only directory, as an unprivileged user --------------------------------------------


# The interpreter lives under /root (mode 700), so nobody cannot exec it: the child starts as
# root, imports everything the command needs, then drops to nobody before running the command.
AS_NOBODY = r"""
import os, pwd, sys
import pxprofile.cli, pxprofile.ingest, pxprofile.store, pxprofile.errors
import pxprofile.importers.detect
import pxprofile.importers.chatgpt, pxprofile.redact, pxprofile.config, pxprofile.paths
import pxprofile.cli.ingest, pxprofile.cli.update, rich.console, sqlite3, json, uuid, zipfile
import importlib, pkgutil
for m in pkgutil.iter_modules(pxprofile.importers.__path__):
    importlib.import_module("pxprofile.importers." + m.name)
import contextlib, io, fractions, pydantic, typer.rich_utils
from pxprofile.cli import app, main
with contextlib.redirect_stdout(io.StringIO()):  # warm up typer's lazy imports as root
    try:
        app(["ingest", "--help"], prog_name="pxprofile")
    except SystemExit:
        pass
nobody = pwd.getpwnam("nobody")
os.setgroups([])
os.setgid(nobody.pw_gid)
os.setuid(nobody.pw_uid)
assert os.geteuid() != 0
sys.argv = ["pxprofile", *sys.argv[1:]]
main()
"""


def _as_nobody():
    import pwd

    nobody = pwd.getpwnam("nobody")
    os.setgroups([])
    os.setgid(nobody.pw_gid)
    os.setuid(nobody.pw_uid)


def _can_drop_privileges() -> bool:
    try:
        import pwd

        pwd.getpwnam("nobody")
    except KeyError:
        return False
    return os.geteuid() == 0


@pytest.mark.skipif(not _can_drop_privileges(), reason="needs root to run the child as nobody")
def test_read_only_home_as_unprivileged_user(tmp_path):
    home = Path(tempfile.mkdtemp(prefix="px-ro-", dir="/tmp"))
    try:
        os.chmod(home, 0o755)  # readable and searchable by nobody, not writable
        db_path = home / "pxprofile.db"
        db = open_db(db_path)
        ingest_path(db, write_export(tmp_path / "a.json", ["r1"]))
        db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.conn.close()
        (home / "profile.md").write_text(
            "# Preference profile\n\n## Communication style\n\n- Terse\n"
        )
        for p in home.iterdir():
            os.chmod(p, 0o644)
        export = tmp_path / "b.json"
        write_export(export, ["r2"])
        public = Path(tempfile.mkdtemp(prefix="px-in-", dir="/tmp"))
        os.chmod(public, 0o755)
        shutil.copy(export, public / "b.json")
        os.chmod(public / "b.json", 0o644)
        before = {p.name: p.read_bytes() for p in home.iterdir()}
        env = {**os.environ, "PXPROFILE_HOME": str(home), "HOME": str(home)}
        probe = subprocess.run(
            ["touch", str(home / "probe")], preexec_fn=_as_nobody, capture_output=True, env=env
        )
        assert probe.returncode != 0  # the privilege drop is real: nobody cannot write here
        proc = subprocess.run(
            [sys.executable, "-c", AS_NOBODY, "ingest", str(public / "b.json"), "--no-update"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert proc.returncode == 1
        print(f"\nread-only home, as nobody: {proc.stderr.strip()}")
        assert proc.stderr.startswith("Error: ") and proc.stderr.count("\n") == 1, proc.stderr
        assert "Traceback" not in proc.stderr
        assert {p.name: p.read_bytes() for p in home.iterdir()} == before  # nothing written
        assert integrity(db_path) == "ok"
        shutil.rmtree(public)
    finally:
        shutil.rmtree(home)
