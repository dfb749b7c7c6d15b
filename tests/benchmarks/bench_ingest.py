"""Benchmark: `pxprofile ingest` on generated ChatGPT exports vs plain json.load on the same file.

Run on demand (not collected by pytest):

    python tests/benchmarks/bench_ingest.py            # 100 MB
    python tests/benchmarks/bench_ingest.py 100 1000   # 100 MB and 1 GB
    python tests/benchmarks/bench_ingest.py --breakdown 60   # where the time goes (in-process)

Exports are generated under /tmp (reused when present). Each measurement is a fresh subprocess;
its wall time, CPU time (user + system) and peak RSS (os.wait4) are reported. On a shared machine
compare the CPU ratio too: wall time there depends on what else runs. Targets (issue 2, issue 14): ingest
time at most 3x json.load's, peak RSS at most 150 MB for 60 MB and 300 MB for the 1 GB file.

--breakdown runs the stages one by one in this process and prints CPU seconds for each: json.load,
reading and normalizing (the importer), redaction alone, and a full ingest with the time of each SQL
statement; it also reports how much CPU the full-text indexing thread took off the main thread
(ingest._Writer indexes a batch while the next one is parsed).
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORDS = (
    "the of and to in is you that it he was for on are as with his they at be this have from or one had by "
    "word but not what all were we when your can said there use an each which she do how their if will up "
    "other about out many then them these so some her would make like him into time has look two more write "
    "go see number no way could people my than first water been call who oil its now find long down day did "
    "get come made may part sql python function database latency cache index query profile terse answer"
).split()


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def node(nid, parent, role, text, t, *, ctype="text", children=(), **extra):
    content = (
        {"content_type": ctype, "parts": [text]}
        if ctype == "text"
        else {"content_type": ctype, **extra}
    )
    return {
        "id": nid,
        "message": {
            "id": nid,
            "author": {"role": role, "name": None, "metadata": {}},
            "create_time": t,
            "update_time": None,
            "content": content,
            "status": "finished_successfully",
            "end_turn": role == "assistant",
            "weight": 1.0,
            "metadata": {
                "model_slug": "gpt-4o",
                "request_id": "8b1f0c2e9a7d4e11",
                "timestamp_": "absolute",
            },
            "recipient": "all",
            "channel": None,
        },
        "parent": parent,
        "children": list(children),
    }


def conversation(rng: random.Random, i: int) -> dict:
    cid = f"{i:08x}-3574-832e-a61f-d5e80e2ffa97"
    t = 1_700_000_000 + i * 3600.123456
    mapping = {"root": {"id": "root", "message": None, "parent": None, "children": []}}
    parent = "root"
    leaf = "root"
    turns = rng.randint(3, 25)
    for k in range(turns):
        u = f"{cid[:8]}-u{k}"
        mapping[u] = node(
            u,
            parent,
            "user",
            " ".join(sentence(rng, rng.randint(5, 30)) for _ in range(rng.randint(1, 3))),
            t,
        )
        mapping[parent]["children"].append(u)
        replies = 2 if rng.random() < 0.08 else 1  # some regenerations
        for r in range(replies):
            a = f"{cid[:8]}-a{k}-{r}"
            first = a
            if rng.random() < 0.2:  # a reasoning chain ahead of the answer
                th = a + "-t"
                mapping[th] = node(
                    th,
                    u,
                    "assistant",
                    "",
                    t + 1,
                    ctype="thoughts",
                    thoughts=[{"summary": "Plan", "content": sentence(rng, 40), "finished": True}],
                )
                mapping[u]["children"].append(th)
                mapping[a] = node(a, th, "assistant", "", t + 2)
                mapping[th]["children"].append(a)
                first = th
            else:
                mapping[a] = node(a, u, "assistant", "", t + 2)
                mapping[u]["children"].append(a)
            paras = [sentence(rng, rng.randint(15, 60)) for _ in range(rng.randint(2, 8))]
            mapping[a]["message"]["content"]["parts"] = ["\n\n".join(paras)]
            del first
        parent = a
        leaf = a
        t += 60
    return {
        "title": sentence(rng, 4)[:40],
        "create_time": 1_700_000_000 + i * 3600.123456,
        "update_time": t,
        "mapping": mapping,
        "moderation_results": [],
        "current_node": leaf,
        "plugin_ids": None,
        "conversation_id": cid,
        "conversation_template_id": None,
        "gizmo_id": None,
        "is_archived": False,
        "safe_urls": [],
        "default_model_slug": "gpt-4o",
        "id": cid,
    }


def generate(path: Path, target_mb: int) -> Path:
    if path.exists() and path.stat().st_size >= target_mb * 1024**2 * 0.95:
        return path
    rng = random.Random(42)
    tmp = path.with_suffix(".part")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("[")  # minified, one line, \\uXXXX escapes: like the real export
        size, i = 1, 0
        while size < target_mb * 1024**2:
            chunk = ("," if i else "") + json.dumps(conversation(rng, i), separators=(",", ":"))
            f.write(chunk)
            size += len(chunk)
            i += 1
        f.write("]")
    tmp.rename(path)
    return path


def measure(cmd: list[str], env: dict | None = None) -> tuple[float, float, float, int]:
    """(wall seconds, CPU seconds, peak RSS MB, exit status) of one child process."""
    start = time.perf_counter()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - start
    err = p.stderr.read().decode()
    code = os.waitstatus_to_exitcode(status)
    if code:
        print(err, file=sys.stderr)
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, code


def main(sizes: list[int]) -> None:
    rows = []
    for mb in sizes:
        path = generate(Path(f"/tmp/pxprofile-bench-chatgpt-{mb}mb.json"), mb)
        size_mb = path.stat().st_size / 1024**2
        load = measure([sys.executable, "-c", f"import json; json.load(open({str(path)!r}, 'rb'))"])
        with tempfile.TemporaryDirectory(dir="/tmp") as home:
            env = {**os.environ, "PXPROFILE_HOME": home, "NO_COLOR": "1"}
            db = Path(home) / "bench.db"
            cmd = [sys.executable, "-m", "pxprofile", "ingest", str(path), "--no-update", "--quiet"]
            ingest = measure([*cmd, "--db", str(db)], env)
            messages = sqlite3.connect(db).execute("select count(*) from messages").fetchone()[0]
            again = measure([*cmd, "--db", str(db)], env)
        rows.append((size_mb, messages, load, ingest, again))
    print(
        "          json.load            pxprofile ingest                          re-ingest\n"
        f"{'MB':>5} {'wall s':>7} {'cpu s':>6} {'RSS MB':>6} | {'messages':>8} {'wall s':>7} {'cpu s':>6} "
        f"{'RSS MB':>6} {'x wall':>6} {'x cpu':>6} {'msg/s':>6} | {'wall s':>7} {'RSS MB':>6}"
    )
    for size_mb, messages, load, ingest, again in rows:
        print(
            f"{size_mb:5.0f} {load[0]:7.1f} {load[1]:6.1f} {load[2]:6.0f} | {messages:8d} {ingest[0]:7.1f} "
            f"{ingest[1]:6.1f} {ingest[2]:6.0f} {ingest[0] / load[0]:6.2f} {ingest[1] / load[1]:6.2f} "
            f"{messages / ingest[0]:6.0f} | {again[0]:7.1f} {again[2]:6.0f}"
        )
        assert ingest[3] == 0 and again[3] == 0, "ingest failed"


def breakdown(mb: int) -> None:
    """CPU seconds per stage, in this process (PXPROFILE_HOME is a temporary directory)."""
    import collections
    import threading

    path = generate(Path(f"/tmp/pxprofile-bench-chatgpt-{mb}mb.json"), mb)
    with tempfile.TemporaryDirectory(dir="/tmp") as home:
        os.environ["PXPROFILE_HOME"] = home
        from pxprofile import ingest
        from pxprofile.importers.common import Conversation, clean
        from pxprofile.importers.detect import open_input
        from pxprofile.redact import configured_pii, redact
        from pxprofile.store import open_db

        rows = []

        def stage(name, fn):
            t = time.process_time()
            w = time.perf_counter()
            out = fn()
            rows.append((name, time.process_time() - t, time.perf_counter() - w))
            return out

        stage("json.load", lambda: json.load(open(path, "rb")))
        recs = stage("read + normalize", lambda: list(open_input(path, name=str(path)).records))
        texts = [clean(m.text) for r in recs if isinstance(r, Conversation) for m in r.messages]
        del recs
        pii = configured_pii()
        stage(f"redact ({len(texts)} texts)", lambda: [redact(t, pii=pii) for t in texts])
        texts.clear()

        spent: collections.Counter = collections.Counter()
        indexer_cpu = [0.0]
        real_index = getattr(ingest._Writer, "_index", None)  # absent before issue 14

        def timed_index(self, after, upto):
            t = time.thread_time()
            real_index(self, after, upto)
            indexer_cpu[0] += time.thread_time() - t

        class Conn(sqlite3.Connection):
            def execute(self, sql, *a):
                t = time.perf_counter()
                try:
                    return super().execute(sql, *a)
                finally:
                    spent[" ".join(sql.split())[:60]] += time.perf_counter() - t

            def executemany(self, sql, *a):
                t = time.perf_counter()
                try:
                    return super().executemany(sql, *a)
                finally:
                    spent["many: " + " ".join(sql.split())[:54]] += time.perf_counter() - t

        real_connect = sqlite3.connect
        sqlite3.connect = lambda *a, **k: real_connect(*a, factory=Conn, **k)
        if real_index is not None:
            ingest._Writer._index = timed_index
        db = open_db(Path(home) / "bench.db")
        main_cpu = time.thread_time()
        summary = stage("full ingest", lambda: ingest.ingest_path(db, path))
        main_cpu = time.thread_time() - main_cpu
        sqlite3.connect = real_connect
        if real_index is not None:
            ingest._Writer._index = real_index
    print(
        f"{path.stat().st_size / 1024**2:.0f} MB, {summary.added} messages; threading: "
        f"{threading.active_count()} thread(s) left"
    )
    print(f"{'stage':<40} {'cpu s':>7} {'wall s':>7}")
    for name, cpu, wall in rows:
        print(f"{name:<40} {cpu:7.2f} {wall:7.2f}")
    print(f"  main thread cpu {main_cpu:.2f} s; FTS indexing thread cpu {indexer_cpu[0]:.2f} s")
    print("  wall seconds per SQL statement (main thread; the indexing thread's own statements):")
    for sql, sec in spent.most_common(8):
        print(f"  {sec:7.2f}  {sql}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--breakdown"]:
        breakdown(int(sys.argv[2]) if len(sys.argv) > 2 else 60)
    else:
        main([int(a) for a in sys.argv[1:]] or [100])
