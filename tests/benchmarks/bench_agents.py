"""Benchmark: ingesting coding-agent sessions, and re-reading a session that grew.

Run on demand (not collected by pytest):

    PYTHONPATH=. python tests/benchmarks/bench_agents.py [--turns 2000] [--sessions 20]

Writes --sessions Claude Code sessions of --turns turns each (a prompt, a thinking line, a text
line, a tool call and its result per turn: 5 lines) into a temporary ~/.claude/projects, then
times `ingest --from claude-code` (all new), `sync` with nothing changed (the mtime check skips
every file), and a re-read after one session grew by 10% (only its new lines are added).
Targets: new sessions >= 5,000 lines/s; an unchanged sync <= 0.5 s for 20 sessions.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def session_lines(sid: str, turns: int, start: int = 0) -> list[str]:
    out, parent = [], None
    for t in range(start, start + turns):
        ts = f"2025-11-02T10:{t // 3600 % 60:02d}:{t % 60:02d}.000Z"
        base = {"sessionId": sid, "cwd": "/home/u/p", "isSidechain": False, "timestamp": ts}
        rows = [
            ("user", {"role": "user", "content": f"turn {t}: use pytest, keep it short"}),
            (
                "assistant",
                {
                    "id": f"m{t}",
                    "role": "assistant",
                    "content": [{"type": "thinking", "thinking": "plan " * 20}],
                },
            ),
            (
                "assistant",
                {
                    "id": f"m{t}",
                    "role": "assistant",
                    "content": [{"type": "text", "text": "Done. " * 30}],
                },
            ),
            (
                "assistant",
                {
                    "id": f"m{t}",
                    "role": "assistant",
                    "content": [
                        {
                            "type": "tool_use",
                            "id": f"tu{t}",
                            "name": "Bash",
                            "input": {"command": "pytest -q"},
                        }
                    ],
                },
            ),
            (
                "user",
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": f"tu{t}", "content": "ok " * 40}
                    ],
                },
            ),
        ]
        for j, (kind, msg) in enumerate(rows):
            uuid = f"{sid}-{t}-{j}"
            out.append(
                json.dumps(
                    {**base, "type": kind, "uuid": uuid, "parentUuid": parent, "message": msg}
                )
            )
            parent = uuid
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--turns", type=int, default=2000)
    ap.add_argument("--sessions", type=int, default=20)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    os.environ["HOME"] = str(tmp / "home")
    os.environ["PXPROFILE_HOME"] = str(tmp / "px")
    from pxprofile.store import open_db
    from pxprofile.sync import ingest_agent, sync

    project = tmp / "home" / ".claude" / "projects" / "-home-u-p"
    project.mkdir(parents=True)
    for s in range(args.sessions):
        lines = session_lines(f"s{s}", args.turns)
        (project / f"s{s}.jsonl").write_text("\n".join(lines) + "\n")
    total = args.sessions * args.turns * 5
    size = sum(p.stat().st_size for p in project.iterdir())
    db = open_db(tmp / "px.db")

    t0 = time.perf_counter()
    done = ingest_agent(db, "claude-code")
    new_s = time.perf_counter() - t0
    assert not done.failures, done.failures
    print(
        f"new: {total:,} lines ({size / 1e6:.1f} MB) in {new_s:.2f} s "
        f"= {total / new_s:,.0f} lines/s"
    )

    time.sleep(1.1)  # the mtime check compares whole seconds
    t0 = time.perf_counter()
    result = sync(db, update=False)
    idle_s = time.perf_counter() - t0
    assert not result.lines(), result.lines()
    print(f"sync, nothing changed: {idle_s:.3f} s for {args.sessions} sessions")

    grown = project / "s0.jsonl"
    more = session_lines("s0", args.turns // 10, start=args.turns)
    with open(grown, "a") as f:
        f.write("\n".join(more) + "\n")
    t0 = time.perf_counter()
    result = sync(db, update=False)
    grow_s = time.perf_counter() - t0
    added = sum(s.added for a in result.ingested for s in a.summaries)
    print(
        f"sync after one session grew by {len(more):,} lines: {grow_s:.2f} s, "
        f"{added:,} messages added"
    )


if __name__ == "__main__":
    main()
