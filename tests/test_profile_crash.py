"""Crash safety: SIGKILL a process looping apply_changes() at random points, many times.

After every kill the profile file must be exactly one of the versions pxprofile recorded (never
torn), and the next run must clean the stale lock and temp files, resolve the interrupted write
and succeed. A pre-imported "zygote" process forks one writer per kill, so 40 kills take a few
seconds instead of 40 interpreter start-ups.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time

from pxprofile import document
from pxprofile import profile as P
from pxprofile.profile import Change, apply_changes, current_lines
from pxprofile.store import open_db

KILLS = 40

ZYGOTE = r"""
import os, random, sys
from pxprofile.profile import Change, apply_changes, current_lines
from pxprofile.store import open_db

SECTIONS = ["Communication style", "Expertise", "Interests", "Values and constraints", "Avoid"]

for line in sys.stdin:
    seed = int(line)
    pid = os.fork()
    if pid == 0:
        try:
            rnd = random.Random(seed)
            db = open_db()  # a fresh connection in the child, never one carried across fork
            while True:
                lines = current_lines(db)
                editable = [ln for ln in lines if ln.editable]
                changes = []
                if editable and (len(lines) > 10 or rnd.random() < 0.3):
                    changes.append(Change("retire", line_id=rnd.choice(editable).id))
                words = " ".join("%06x" % rnd.getrandbits(24) for _ in range(rnd.randint(1, 25)))
                changes.append(
                    Change("add", "Likes topic " + words, rnd.choice(SECTIONS), evidence=("m1",))
                )
                apply_changes(db, changes)
        finally:
            os._exit(0)
    print(pid, flush=True)
    os.waitpid(pid, 0)
    print("reaped", flush=True)
"""


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_sigkill_never_tears_the_profile_and_the_next_run_recovers(env_setup, capfd):
    db = open_db()
    db["messages"].insert(
        {
            "id": "m1",
            "conversation_id": "c1",
            "role": "user",
            "text": "x",
            "created_at": "2024-01-01",
        },
        pk="id",
    )
    path = P.profile_file()
    path.write_text("# Preference profile\n\n## Communication style\n\n- Prefers short answers\n")
    assert [ln.author for ln in current_lines(db)] == ["user"]  # the user's line: must survive
    home = path.parent
    rnd = random.Random(1234)
    zygote = subprocess.Popen(
        [sys.executable, "-c", ZYGOTE],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    leftovers = {"lock": 0, "tmp": 0, "pending": 0}
    try:
        for i in range(KILLS):
            zygote.stdin.write(f"{i}\n")
            zygote.stdin.flush()
            pid = int(zygote.stdout.readline())
            time.sleep(rnd.uniform(0.02, 0.15))
            os.kill(pid, signal.SIGKILL)
            assert zygote.stdout.readline().strip() == "reaped"

            # 1. the file is exactly one recorded version (pending or confirmed), never torn
            data = path.read_bytes()
            shas = {r["sha256"] for r in db.query("select sha256 from profile_versions")}
            assert _sha(data) in shas, f"kill {i}: the profile is not any recorded version"
            assert document.problems(data.decode("utf-8")) == []
            leftovers["lock"] += (home / "profile.md.lock").exists()
            leftovers["tmp"] += any(p.name.endswith(".tmp") for p in home.iterdir())
            leftovers["pending"] += db.execute(
                "select count(*) from profile_versions where pending = 1"
            ).fetchone()[0]

            # 2. the next run cleans up and sees a consistent state
            lines = current_lines(db)
            assert not (home / "profile.md.lock").exists()
            assert not any(p.name.endswith(".tmp") for p in home.iterdir())
            assert (
                db.execute("select count(*) from profile_versions where pending = 1").fetchone()[0]
                == 0
            )
            latest = P.latest_version(db)
            data = path.read_bytes()
            assert latest["sha256"] == _sha(data)
            assert [ln.text for ln in lines] == [t for _s, t in P.bullets(data.decode())]
            active = {
                r[0] for r in db.execute("select id from profile_lines where status = 'active'")
            }
            assert active == set(json.loads(latest["line_ids"]))
            assert "Prefers short answers" in data.decode()
    finally:
        zygote.stdin.close()
        zygote.wait(timeout=10)
    # the kills really landed inside writes (the loop holds the lock nearly all the time)
    assert leftovers["lock"] > 0
    err = capfd.readouterr().err
    assert err.count("removed a stale lock left by") == leftovers["lock"]
    # and an update after all that still works
    result = apply_changes(db, [Change("add", "Wants sources", "Values and constraints")])
    assert result.version is not None and "- Wants sources\n" in path.read_text()


WRITER = r"""
import hashlib, sys
from pxprofile.profile import Change, apply_changes
from pxprofile.store import open_db

db = open_db()
me = sys.argv[1]
for i in range(10):
    tag = hashlib.sha256(f"{me}{i}".encode()).hexdigest()[:16]
    section = ["Communication style", "Expertise", "Interests", "Avoid"][i % 4]
    r = apply_changes(db, [Change("add", f"Likes topic {tag}", section)])
    assert r.version is not None, r.rejected
"""


def test_concurrent_updates_never_interleave(env_setup):
    open_db().conn.close()  # migrations applied once
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, name], env=dict(os.environ))
        for name in ("a", "b", "c", "d")
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    db = open_db()
    text = P.profile_file().read_text()
    bullets = [t for _s, t in P.bullets(text)]
    assert len(bullets) == 40  # no update lost another's lines
    tags = [
        hashlib.sha256(f"{me}{i}".encode()).hexdigest()[:16] for me in "abcd" for i in range(10)
    ]
    assert sorted(bullets) == sorted(f"Likes topic {tag}" for tag in tags)
    rows = list(db.query("select kind, pending from profile_versions"))
    assert len(rows) == 40 and {(r["kind"], r["pending"]) for r in rows} == {("update", 0)}
    assert P.latest_version(db)["sha256"] == _sha(text.encode())
    assert [ln.text for ln in current_lines(db)] == bullets
